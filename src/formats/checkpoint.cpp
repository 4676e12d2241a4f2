#include "formats/checkpoint.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

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

namespace {

constexpr std::size_t kMaxShardFiles = 100'000;  // far beyond any real checkpoint

// Streams {"weight_map": {tensor: file, ...}, ...}, keeping the names and a number per distinct
// file; everything else in the index is skipped without being stored.
class WeightMapReader final : public JsonSax {
 public:
  explicit WeightMapReader(const std::string& label)
      : JsonSax(label + ": invalid JSON"), label_(label) {}

  WeightMap map;
  bool found = false;
  std::string error;

  bool null() override { return value(false); }
  bool boolean(bool) override { return value(false); }
  bool number_integer(number_integer_t) override { return value(false); }
  bool number_unsigned(number_unsigned_t) override { return value(false); }
  bool number_float(number_float_t, const string_t&) override { return value(false); }
  bool string(string_t& s) override { return value(false, &s); }
  bool start_object(std::size_t) override { return value(true, nullptr, true); }
  bool start_array(std::size_t) override { return value(true); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return end(); }
  bool end_array() override { return end(); }

 private:
  enum Role { kTop, kMap, kIgnored };

  bool value(bool container, std::string* s = nullptr, bool object = false) {
    Role role = kIgnored;
    if (roles_.empty()) {
      if (object) role = kTop;
    } else if (roles_.back() == kTop && key_ == "weight_map") {  // the last one wins
      map = WeightMap{};
      ids_.clear();
      error.clear();
      found = object;
      if (object) role = kMap;
    } else if (roles_.back() == kMap) {
      if (s)
        add(*s);
      else if (error.empty())
        error = fmt::format("{}: weight_map[\"{}\"] is not a file name", label_, key_);
    }
    if (container) {
      enter();
      roles_.push_back(role);
    }
    return true;
  }
  bool end() {
    leave();
    roles_.pop_back();
    return true;
  }
  void add(std::string& file) {
    if (!error.empty()) return;
    auto [it, fresh] = ids_.emplace(std::move(file), static_cast<std::uint32_t>(map.files.size()));
    if (fresh) {
      if (map.files.size() == kMaxShardFiles) {
        error = fmt::format("{}: weight_map names more than {} files", label_, kMaxShardFiles);
        return;
      }
      map.files.push_back(it->first);
    }
    map.add(key_, it->second);
  }

  std::string label_, key_;
  std::vector<Role> roles_;
  std::unordered_map<std::string, std::uint32_t> ids_;
};

// A tensor named twice keeps its first place and its last file, as a JSON object does.
void merge_duplicates(WeightMap& map) {
  std::vector<std::uint32_t> order(map.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return map.name(a) < map.name(b); });
  std::vector<bool> gone(order.size());
  bool any = false;
  for (std::size_t i = 1, head = 0; i < order.size(); ++i) {
    if (map.name(order[i]) != map.name(order[head])) {
      head = i;
      continue;
    }
    map.file_of[order[head]] = map.file_of[order[i]];
    gone[order[i]] = any = true;
  }
  if (!any) return;
  WeightMap kept;
  kept.files = std::move(map.files);
  for (std::size_t i = 0; i < order.size(); ++i)
    if (!gone[i]) kept.add(map.name(i), map.file_of[i]);
  map = std::move(kept);
}

// An index may name only files inside its own directory (docs/source-formats.md#checkpoint-layout:
// names are relative to the index): an uploaded checkpoint must not reach the rest of the machine.
void check_shard_name(const std::string& name, const std::filesystem::path& index) {
  const std::filesystem::path p(name);
  bool outside = p.empty() || p.has_root_name() || p.has_root_directory();
  for (const auto& part : p) outside = outside || part == "..";
  if (outside)
    fail(
        "{}: shard name \"{}\" is not a file inside the checkpoint directory (absolute paths "
        "and \"..\" are refused)",
        index.string(), name);
}

}  // namespace

WeightMap parse_weight_map(std::string_view text, const std::string& label) {
  WeightMapReader reader(label);
  reader.parse(text);
  if (!reader.found) fail("{}: no \"weight_map\" object", label);
  if (!reader.error.empty()) fail("{}", reader.error);
  merge_duplicates(reader.map);
  return std::move(reader.map);
}

WeightMap read_weight_map(const std::filesystem::path& path) {
  return parse_weight_map(read_text_file(path), path.string());
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
  const auto map = read_weight_map(path);
  constexpr auto kUnopened = static_cast<std::size_t>(-1);
  std::vector<std::size_t> file_ids(map.files.size(), kUnopened);
  std::size_t opened = 0;
  for (std::size_t i = 0; i < map.size(); ++i) {
    auto& id = file_ids[map.file_of[i]];
    if (id == kUnopened) {
      const auto& file = map.files[map.file_of[i]];
      check_shard_name(file, path);
      const auto shard = path.parent_path() / file;
      if (!std::filesystem::is_regular_file(shard))
        fail("{}: names shard file {}, which does not exist", path.string(), shard.string());
      ckpt->add_file(open_file(shard, *ckpt));
      id = opened++;
    }
    ckpt->map_tensor(std::string(map.name(i)), id, path.string());
  }
  return ckpt;
}

}  // namespace weightcast
