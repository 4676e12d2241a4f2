#include "formats/detect.h"

#include <fmt/ranges.h>

#include "util/error.h"

namespace fs = std::filesystem;

namespace weightcast {

const std::vector<std::string>& supported_weight_formats() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& f : source_format_table()) v.emplace_back(f.name);
    return v;
  }();
  return names;
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
    const auto* f = find_source_format(format);
    if (!f)
      fail("Available weight format list: ['{}'], but got {}",
           fmt::join(supported_weight_formats(), "', '"), format);
    if (fs::is_directory(path)) {
      auto hit = f->find(path);
      if (!hit) fail("The weight is not in {} format.", format);
      return {*hit, std::string(format)};
    }
    if (!f->recognises(path)) fail("The weight is not in {} format.", format);
    return {path, std::string(format)};
  }

  if (!fs::is_directory(path)) {
    // The first format whose file names match (awq's never come first: it is only asked for).
    for (const auto& f : source_format_table())
      if (f.recognises(path)) return detect_weight(path.string(), config_json, f.name);
    fail(
        "Fail to detect source weight format. Use `--source-format` to explicitly specify the "
        "format. ({} is not a .safetensors, .bin or index file)",
        path.string());
  }
  // MLC takes the first hit in table order (.bin before .safetensors).
  for (const auto& f : source_format_table())
    if (auto hit = f.find(path)) return {*hit, std::string(f.name)};
  fail(
      "Fail to detect source weight format. Use `--source-format` to explicitly specify the "
      "format. (no model.safetensors, model.safetensors.index.json or pytorch_model.bin in {})",
      path.string());
}

std::unique_ptr<Checkpoint> open_checkpoint(const WeightSource& source, GgufOpener open_gguf) {
  const auto* f = find_source_format(source.format);
  if (!f) fail("unknown source format {}", source.format);
  return f->open(source.path, open_gguf);
}

}  // namespace weightcast
