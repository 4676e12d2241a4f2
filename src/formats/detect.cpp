#include "formats/detect.h"

#include <fmt/ranges.h>

#include <optional>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

// Formats MLC knows, in its CHECK_FORMAT_METHODS order, and whether this build reads them.
struct FormatEntry {
  std::string name;
  bool supported;
  std::optional<fs::path> (*check)(const fs::path& dir);
};

std::optional<fs::path> check_pytorch(const fs::path& dir) {
  for (const char* f : {"pytorch_model.bin.index.json", "pytorch_model.bin"})
    if (fs::is_regular_file(dir / f)) return dir / f;
  return std::nullopt;
}

std::optional<fs::path> check_safetensor(const fs::path& dir) {
  // MLC writes model.safetensors.index.json next to a lone model.safetensors; we never write
  // into the source and read the single file directly instead.
  for (const char* f : {"model.safetensors.index.json", "model.safetensors"})
    if (fs::is_regular_file(dir / f)) return dir / f;
  return std::nullopt;
}

// A directory holding one GGUF model (a single file, or the first part of a split one).
std::optional<fs::path> check_gguf(const fs::path& dir) {
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

// AutoAWQ exports are ordinary safetensors or .bin files holding qweight/qzeros/scales.
std::optional<fs::path> check_awq(const fs::path& dir) {
  if (auto st = check_safetensor(dir)) return st;
  return check_pytorch(dir);
}

const std::vector<FormatEntry>& format_table() {
  static const std::vector<FormatEntry> table = {
      {"huggingface-torch", true, check_pytorch},
      {"huggingface-safetensor", true, check_safetensor},
      {"awq", true, check_awq},
      {"gguf", true, check_gguf},
  };
  return table;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file named directly by --source: recognise it by its name.
std::optional<std::string> format_of_file(const fs::path& file) {
  const auto name = file.filename().string();
  if (ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json"))
    return "huggingface-safetensor";
  if (ends_with(name, ".bin") || ends_with(name, ".pt") || ends_with(name, ".bin.index.json"))
    return "huggingface-torch";
  if (ends_with(name, ".gguf")) return "gguf";
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& available_weight_formats() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& f : format_table()) v.push_back(f.name);
    return v;
  }();
  return names;
}

std::vector<std::string> supported_weight_formats() {
  std::vector<std::string> v;
  for (const auto& f : format_table())
    if (f.supported) v.push_back(f.name);
  return v;
}

fs::path detect_config(const fs::path& config) {
  if (!fs::exists(config)) fail("{} does not exist.", config.string());
  if (fs::is_directory(config)) {
    if (!fs::is_regular_file(config / "config.json"))
      fail("Fail to find config.json under {}.", config.string());
    return config / "config.json";
  }
  return config;
}

WeightSource detect_weight(const std::string& source, const fs::path& config_json,
                           std::string_view format) {
  const fs::path path = source == "auto" ? config_json.parent_path() : fs::path(source);
  if (!fs::exists(path)) fail("Model source does not exist: {}", path.string());

  if (format != "auto") {
    const auto& table = format_table();
    auto it = std::find_if(table.begin(), table.end(), [&](auto& f) { return f.name == format; });
    if (it == table.end())
      fail("Available weight format list: ['{}'], but got {}",
           fmt::join(available_weight_formats(), "', '"), format);
    if (!it->supported)
      fail<NotImplementedError>("source format {} is not supported by this build yet", format);
    if (fs::is_directory(path)) {
      auto hit = it->check(path);
      if (!hit) fail("The weight is not in {} format.", format);
      return {*hit, std::string(format)};
    }
    const auto file_format = format_of_file(path);
    const bool awq_file = it->name == "awq" && (file_format == "huggingface-safetensor" ||
                                                file_format == "huggingface-torch");
    if (file_format != it->name && !awq_file) fail("The weight is not in {} format.", format);
    return {path, std::string(format)};
  }

  if (!fs::is_directory(path)) {
    const auto fmt_name = format_of_file(path);
    if (!fmt_name)
      fail(
          "Fail to detect source weight format. Use `--source-format` to explicitly specify the "
          "format. ({} is not a .safetensors, .bin or index file)",
          path.string());
    return detect_weight(path.string(), config_json, *fmt_name);
  }
  // MLC takes the first hit in table order (.bin before .safetensors). A format this build
  // cannot read yet is skipped when a readable one is present.
  std::optional<std::string> unsupported_hit;
  for (const auto& f : format_table()) {
    if (!f.check) continue;
    if (auto hit = f.check(path)) {
      if (f.supported) return {*hit, f.name};
      if (!unsupported_hit) unsupported_hit = f.name;
    }
  }
  if (unsupported_hit)
    fail<NotImplementedError>("{} holds {} weights, which this build cannot read yet",
                              path.string(), *unsupported_hit);
  fail(
      "Fail to detect source weight format. Use `--source-format` to explicitly specify the "
      "format. (no model.safetensors, model.safetensors.index.json or pytorch_model.bin in {})",
      path.string());
}

std::unique_ptr<Checkpoint> open_checkpoint(const WeightSource& source, GgufOpener open_gguf) {
  if (source.format == "huggingface-safetensor") return open_safetensors_checkpoint(source.path);
  if (source.format == "huggingface-torch") return open_torch_checkpoint(source.path);
  if (source.format == "gguf") return open_gguf(source.path);
  if (source.format == "awq") {
    const auto name = source.path.filename().string();
    if (name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json"))
      return open_safetensors_checkpoint(source.path);
    return open_torch_checkpoint(source.path);
  }
  fail<NotImplementedError>("source format {} is not supported by this build yet", source.format);
}

}  // namespace weightcast
