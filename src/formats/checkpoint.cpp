#include "formats/checkpoint.h"

#include <map>

#include "util/error.h"
#include "util/json_file.h"

namespace weightcast {

void Checkpoint::add_file(std::unique_ptr<SourceFile> file) {
  files_.push_back(std::move(file));
}

void Checkpoint::map_tensor(const std::string& name, std::size_t file,
                            std::string_view index_path) {
  if (by_name_.size() < files_.size()) by_name_.resize(files_.size());
  auto& names = by_name_[file];
  const auto& tensors = files_.at(file)->tensors();
  if (names.empty())
    for (std::size_t i = 0; i < tensors.size(); ++i) names.emplace(tensors[i].name, i);
  if (auto it = names.find(name); it != names.end()) {
    if (where_.emplace(name, TensorLocation{file, it->second}).second) order_.push_back(name);
    return;
  }
  fail("{}: tensor \"{}\" is mapped to {}, which does not contain it", index_path, name,
       files_[file]->path().string());
}

void Checkpoint::map_all() {
  for (std::size_t f = 0; f < files_.size(); ++f) {
    const auto& tensors = files_[f]->tensors();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (!where_.emplace(tensors[i].name, TensorLocation{f, i}).second)
        fail("{}: tensor \"{}\" appears in more than one file", files_[f]->path().string(),
             tensors[i].name);
      order_.push_back(tensors[i].name);
    }
  }
}

const TensorLocation* Checkpoint::find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, std::string>> read_weight_map(
    const std::filesystem::path& path) {
  const auto index = read_json_file(path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail("{}: no \"weight_map\" object", path.string());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) fail("{}: weight_map[\"{}\"] is not a file name", path.string(), name);
    out.emplace_back(name, file.get<std::string>());
  }
  return out;
}

std::unique_ptr<Checkpoint> open_file_or_index(
    const std::filesystem::path& path,
    const std::function<std::unique_ptr<SourceFile>(const std::filesystem::path&, Checkpoint&)>&
        open_file) {
  auto ckpt = std::make_unique<Checkpoint>();
  if (path.extension() != ".json") {
    ckpt->add_file(open_file(path, *ckpt));
    ckpt->map_all();
    return ckpt;
  }
  // Files are numbered by their first appearance in the weight map, as MLC orders them.
  std::map<std::string, std::size_t> file_ids;
  for (const auto& [name, file] : read_weight_map(path)) {
    auto [it, fresh] = file_ids.emplace(file, file_ids.size());
    if (fresh) {
      const auto shard = path.parent_path() / file;
      if (!std::filesystem::is_regular_file(shard))
        fail("{}: names shard file {}, which does not exist", path.string(), shard.string());
      ckpt->add_file(open_file(shard, *ckpt));
    }
    ckpt->map_tensor(name, it->second, path.string());
  }
  return ckpt;
}

}  // namespace weightcast
