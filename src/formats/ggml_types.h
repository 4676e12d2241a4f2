// ggml's tensor types, numbered as GGUF files number them (ggml_type): one row per type with its
// block geometry, the dtype it is read as when stored plainly, and its block decoder when it is
// quantized in a layout weightcast decodes (docs/source-formats.md#ggml-types).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "util/dtype.h"

namespace weightcast {

struct GgmlType {
  std::uint32_t id;
  const char* name;
  std::uint32_t block;                                 // elements per block (1 for plain types)
  std::uint32_t bytes;                                 // bytes per block
  std::optional<DType> plain;                          // stored as this dtype: read in place
  void (*decode)(const std::byte* block, float* out);  // quantized: one block to float32
};

// The row of a ggml type id, or null for ids ggml never assigned or has removed.
const GgmlType* find_ggml_type(std::uint32_t id);
// Its name, or "unknown".
const char* ggml_type_name(std::uint32_t id);
// Decodes `n` elements (a whole number of blocks) of a quantized ggml type to float32.
void dequantize_ggml(std::uint32_t type, const std::byte* in, float* out, std::size_t n);

}  // namespace weightcast
