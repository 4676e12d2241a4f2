// `weightcast inspect FILE`: what a checkpoint file holds, before converting it.
#include "formats/inspect.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "arch/gguf/view.h"
#include "cache/pack_reader.h"
#include "formats/format_table.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "weightcast/weightcast.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

std::string value_text(const GgufValue& v) {
  using V = GgufValueType;
  switch (v.type) {
    case V::kU8:
    case V::kU16:
    case V::kU32:
    case V::kU64:
      return std::to_string(v.u);
    case V::kI8:
    case V::kI16:
    case V::kI32:
    case V::kI64:
      return std::to_string(v.i);
    case V::kF32:
    case V::kF64:
      return fmt::format("{}", v.f);
    case V::kBool:
      return v.u ? "true" : "false";
    case V::kString: {
      std::string s = v.s.size() > 60 ? v.s.substr(0, 57) + "..." : v.s;
      for (auto& c : s)
        if (c == '\n') c = ' ';
      return "\"" + s + "\"";
    }
    case V::kArray: {
      std::vector<std::string> first;
      for (std::size_t i = 0; i < std::min<std::size_t>(4, v.array.size()); ++i)
        first.push_back(value_text(v.array[i]));
      return fmt::format("[{}{}]", fmt::join(first, ", "), v.array.size() > 4 ? ", ..." : "");
    }
    default:
      return "?";
  }
}

std::string type_text(const GgufValue& v) {
  if (v.type != GgufValueType::kArray) return gguf_value_type_name(v.type);
  return fmt::format("array[{} x {}]", gguf_value_type_name(v.array_type), v.array.size());
}

std::string table(const std::string& title, const SourceFile& file) {
  std::string out =
      fmt::format("{}: {}, {} tensors\n  {:<48} {:<10} {:<20} {:>12}\n", file.path().string(),
                  title, file.tensors().size(), "name", "dtype", "shape", "bytes");
  for (const auto& t : file.tensors())
    out += fmt::format("  {:<48} {:<10} {:<20} {:>12}\n", t.name, tvm_name(t.dtype),
                       shape_str(t.shape),
                       static_cast<std::uint64_t>(numel(t.shape)) * dtype_size(t.dtype));
  return out;
}

// The architecture, the MLC model type its view maps it to, and how many tensors of each type.
std::string gguf_summary(const fs::path& path, const GgufFile& f) {
  std::string out;
  if (const auto* arch = f.find("general.architecture");
      arch && arch->type == GgufValueType::kString) {
    std::string mlc;
    try {
      mlc = gguf_config(GgufModel(path)).value("model_type", "?");
    } catch (const Error& e) {
      mlc = fmt::format("none ({})", e.what());
    }
    out += fmt::format("architecture: {}, MLC model type: {}\n", arch->s, mlc);
  }
  std::map<std::string, std::size_t> types;
  for (const auto& t : f.tensors()) ++types[ggml_type_name(t.type)];
  std::vector<std::string> counts;
  for (const auto& [name, n] : types) counts.push_back(fmt::format("{} x {}", name, n));
  if (!counts.empty()) out += fmt::format("tensor types: {}\n", fmt::join(counts, ", "));
  return out;
}

}  // namespace

std::string inspect_gguf(const fs::path& path) {
  const MappedFile map(path);
  const GgufFile f(map.bytes(), path.string());
  std::string out =
      fmt::format("{}: GGUF v{}, {} metadata entries, {} tensors, alignment {}\n", path.string(),
                  f.version(), f.metadata().size(), f.tensors().size(), f.alignment());
  out += gguf_summary(path, f);
  out += "metadata:\n";
  for (const auto& [k, v] : f.metadata())
    out += fmt::format("  {} ({}) = {}\n", k, type_text(v), value_text(v));
  out += fmt::format("tensors:\n  {:<40} {:<8} {:<24} {:>12} {:>12}\n", "name", "type",
                     "shape (ggml ne)", "offset", "bytes");
  for (const auto& t : f.tensors())
    out += fmt::format("  {:<40} {:<8} {:<24} {:>12} {:>12}\n", t.name, ggml_type_name(t.type),
                       fmt::format("[{}]", fmt::join(t.ne, ", ")), t.offset, t.nbytes);
  return out;
}

std::string inspect_safetensors(const fs::path& file) {
  return table("safetensors", *open_safetensors_file(file));
}

std::string inspect_torch(const fs::path& file) {
  std::vector<std::string> warnings;
  auto f = open_torch_file(file, warnings);
  std::string out = table("PyTorch checkpoint", *f);
  for (const auto& w : warnings) out += "  note: " + w + "\n";
  return out;
}

std::string inspect(const fs::path& file) {
  if (auto pack = inspect_mlc_pack(file)) return *pack;
  if (!fs::is_regular_file(file)) fail("{}: no such file", file.string());
  for (const auto& format : source_format_table())
    if (format.inspect && SourceFormat::ends_with_any(file, format.inspect_suffixes))
      return format.inspect(file);
  fail("{}: not a .gguf, .safetensors, .bin or .pt file", file.string());
}

}  // namespace weightcast
