// GGUF (llama.cpp's format), versions 2 and 3, little-endian: metadata, tensor infos and the
// aligned data section, memory-mapped and bounds-checked. Quantized tensors are dequantized to
// float32 (formats/ggml_types.h). For the llama architecture the tensors are
// presented under their HuggingFace names, with llama.cpp's Q/K row permutation undone, and a
// config.json equivalent is synthesised from the metadata.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/ggml_types.h"

namespace weightcast {

struct GgufValue {
  std::uint32_t type = 0;  // gguf_type
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::uint32_t array_type = 0;
  std::vector<GgufValue> array;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> ne;  // ggml order: ne[0] is the contiguous dimension
  std::uint32_t type = 0;         // ggml_type
  std::uint64_t offset = 0;       // from the data section
  std::uint64_t nbytes = 0;
};

// One parsed GGUF file (no name mapping).
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

 private:
  std::span<const std::byte> bytes_;
  std::string label_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32, data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

const char* gguf_value_type_name(std::uint32_t type);

bool is_gguf_path(const std::filesystem::path& path);
// All parts of a split GGUF (name-00001-of-0000N.gguf), or just the file.
std::vector<std::filesystem::path> gguf_parts(const std::filesystem::path& first);
// config.json fields derived from the metadata (llama family).
nlohmann::json gguf_config(const std::filesystem::path& path);
std::unique_ptr<Checkpoint> open_gguf_checkpoint(const std::filesystem::path& path);

// For the fuzzer: parse and decode every tensor of in-memory bytes.
void check_gguf_bytes(std::span<const std::byte> bytes);

}  // namespace weightcast
