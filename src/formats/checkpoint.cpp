#include "formats/checkpoint.h"

#include "util/error.h"

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

}  // namespace weightcast
