// GGUF (llama.cpp's format), versions 2 and 3, little-endian: metadata, tensor infos and the
// aligned data section, memory-mapped and bounds-checked (docs/source-formats.md#gguf). Tensors
// keep their GGUF names here; how a model family's names and rows read as its HuggingFace
// checkpoint is the family's GGUF view (src/arch/gguf/). Tensor types and their decoders:
// formats/ggml_types.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/ggml_types.h"
#include "util/mapped_file.h"

namespace weightcast {

// gguf_type: the type of a metadata value.
enum class GgufValueType : std::uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64,
};
const char* gguf_value_type_name(GgufValueType type);

struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  std::uint64_t u = 0;  // unsigned integers and bool
  std::int64_t i = 0;   // every integer
  double f = 0;
  std::string s;
  GgufValueType array_type = GgufValueType::kU8;  // unchecked when the array is empty
  std::vector<GgufValue> array;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> ne;  // ggml order: ne[0] is the contiguous dimension
  std::uint32_t type = 0;         // ggml_type
  std::uint64_t offset = 0;       // from the data section
  std::uint64_t nbytes = 0;
};

// One parsed GGUF file.
class GgufFile {
 public:
  GgufFile(std::span<const std::byte> bytes, std::string label);
  std::uint32_t version() const { return version_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  std::span<const std::byte> data(const GgufTensorInfo& t) const;
  std::uint64_t alignment() const { return alignment_; }
  const std::string& label() const { return label_; }

  // Typed metadata: a required key that is missing, or a value of another type, is an error.
  std::int64_t get_int(std::string_view key) const;
  std::optional<std::int64_t> find_int(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  std::string architecture() const;  // general.architecture

 private:
  std::span<const std::byte> bytes_;
  std::string label_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32, data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

bool is_gguf_path(const std::filesystem::path& path);
// All parts of a split GGUF (name-00001-of-0000N.gguf), or just the file.
std::vector<std::filesystem::path> gguf_parts(const std::filesystem::path& first);

// A GGUF model: the file, or every part of a split one, each mapped and parsed once.
class GgufModel {
 public:
  explicit GgufModel(const std::filesystem::path& path);
  const std::filesystem::path& path() const { return path_; }  // as named by the user
  std::size_t size() const { return parts_.size(); }
  const GgufFile& part(std::size_t i) const { return parts_[i]->file; }
  const MappedFile& mapping(std::size_t i) const { return parts_[i]->map; }
  // The metadata that describes the model: split files carry it in their first part.
  const GgufFile& first() const { return part(0); }

 private:
  struct Part {
    explicit Part(const std::filesystem::path& p) : map(p), file(map.bytes(), p.string()) {}
    MappedFile map;
    GgufFile file;
  };
  std::filesystem::path path_;
  std::vector<std::unique_ptr<Part>> parts_;
};

// Part `i` of a model as a source file under its GGUF tensor names: shapes in C order (ggml's
// reversed), plain types in place, quantized ones decoded to float32. Refuses (NotImplemented)
// a type it cannot decode.
std::unique_ptr<SourceFile> open_gguf_part(std::shared_ptr<const GgufModel> model, std::size_t i);

// For the fuzzer: parse and decode every tensor of in-memory bytes.
void check_gguf_bytes(std::span<const std::byte> bytes);

}  // namespace weightcast
