#include "formats/format_table.h"

#include "formats/gguf.h"
#include "formats/inspect.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

std::optional<fs::path> find_pytorch(const fs::path& dir) {
  for (const char* f : {"pytorch_model.bin.index.json", "pytorch_model.bin"})
    if (fs::is_regular_file(dir / f)) return dir / f;
  return std::nullopt;
}

std::optional<fs::path> find_safetensors(const fs::path& dir) {
  // MLC writes model.safetensors.index.json next to a lone model.safetensors; we never write
  // into the source and read the single file directly instead.
  for (const char* f : {"model.safetensors.index.json", "model.safetensors"})
    if (fs::is_regular_file(dir / f)) return dir / f;
  return std::nullopt;
}

// AutoAWQ exports are ordinary safetensors or .bin files holding qweight/qzeros/scales.
std::optional<fs::path> find_awq(const fs::path& dir) {
  if (auto st = find_safetensors(dir)) return st;
  return find_pytorch(dir);
}

// A directory holding one GGUF model (a single file, or the first part of a split one).
std::optional<fs::path> find_gguf(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_gguf_path(e.path())) {
      const auto name = e.path().filename().string();
      const auto split = name.find("-of-");
      if (split == std::string::npos || name.find("-00001-of-") != std::string::npos)
        found.push_back(e.path());
    }
  if (found.size() != 1) return std::nullopt;
  return found.front();
}

const std::vector<std::string_view> kTorchNames = {".bin", ".pt", ".bin.index.json"};
const std::vector<std::string_view> kSafetensorsNames = {".safetensors", ".safetensors.index.json"};

std::unique_ptr<Checkpoint> open_torch(const fs::path& path, GgufOpener) {
  return open_torch_checkpoint(path);
}
std::unique_ptr<Checkpoint> open_safetensors(const fs::path& path, GgufOpener) {
  return open_safetensors_checkpoint(path);
}
std::unique_ptr<Checkpoint> open_awq(const fs::path& path, GgufOpener) {
  if (SourceFormat::ends_with_any(path, kSafetensorsNames))
    return open_safetensors_checkpoint(path);
  return open_torch_checkpoint(path);
}
std::unique_ptr<Checkpoint> open_gguf(const fs::path& path, GgufOpener open_gguf) {
  return open_gguf(path);
}

std::vector<std::string_view> concat(std::vector<std::string_view> a,
                                     const std::vector<std::string_view>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

bool SourceFormat::ends_with_any(const fs::path& file,
                                 const std::vector<std::string_view>& suffixes) {
  const auto name = file.filename().string();
  for (const auto s : suffixes)
    if (name.ends_with(s)) return true;
  return false;
}

const std::vector<SourceFormat>& source_format_table() {
  static const std::vector<SourceFormat> table = {
      {"huggingface-torch",
       kTorchNames,
       find_pytorch,
       open_torch,
       {".bin", ".pt", ".pth"},
       inspect_torch},
      {"huggingface-safetensor",
       kSafetensorsNames,
       find_safetensors,
       open_safetensors,
       {".safetensors"},
       inspect_safetensors},
      // Never recognised by name alone (its files look like the two above): only when asked for.
      {"awq", concat(kTorchNames, kSafetensorsNames), find_awq, open_awq, {}, nullptr},
      {"gguf", {".gguf"}, find_gguf, open_gguf, {".gguf"}, inspect_gguf},
  };
  return table;
}

const SourceFormat* find_source_format(std::string_view name) {
  for (const auto& f : source_format_table())
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace weightcast
