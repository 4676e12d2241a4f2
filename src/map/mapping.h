// The mapping room: how the source tensors of one MLC parameter become that parameter (MLC's
// ExternMapping functions), before the cast to the model dtype. This is the interface the planner,
// the row source and the schemes use; the kinds themselves, each with its shape rule and row
// filler side by side, and their factories are in map/kinds.h (a new kind is one class there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/dtype.h"

namespace weightcast {

class Mapping;
using MappingPtr = std::shared_ptr<const Mapping>;

// A source tensor as the shape rules see it (header only, before any data is read).
struct SourceShape {
  std::string_view name;
  const Shape& shape;
};

// Converts `n` source elements into the parameter's dtype.
using ElementCast = std::function<void(const std::byte* in, std::byte* out, std::size_t n)>;

// A source tensor as the row fillers read it.
struct SourcePart {
  std::span<const std::byte> data;
  std::size_t elem_size = 0;  // bytes per element handed to `cast`
  std::size_t count = 0;      // elements
  std::size_t row = 0;        // elements per row (the last dimension)
  ElementCast cast;
};

// The mapped parameter being filled: its sources and its shape.
struct MappedView {
  std::span<const SourcePart> parts;
  const Shape& shape;
  std::size_t row_size;  // elements per output row
  std::size_t out_size;  // bytes per output element
};

// The scales of an FP8 block-quantized parameter: their expected shape and mapping.
struct BlockGrid {
  Shape shape;
  MappingPtr mapping;
};

class Mapping : public std::enable_shared_from_this<Mapping> {
 public:
  virtual ~Mapping() = default;
  // The mapped shape of parameter `param` from its sources, or an error naming both.
  virtual Shape shape(const std::string& param, std::span<const SourceShape> sources) const = 0;
  // How a source's elements of `dtype` become `target` (a plain cast unless the kind changes
  // values); `widened_bf16`: the reader hands bfloat16 over as float32, as torch does in MLC.
  virtual ElementCast element_cast(std::string_view source, DType dtype, bool widened_bf16,
                                   DType target) const;
  // Writes rows [begin, end) of the mapped parameter to `out`; safe from several threads.
  virtual void fill(const MappedView& in, std::size_t begin, std::size_t end,
                    std::byte* out) const = 0;
  // FP8 block checkpoints: the scale grid accompanying this parameter (of expected `shape`) under
  // blocks of b0 x b1 over its last two axes. By default the same mapping over the sources'
  // "_scale_inv" twins, each axis rounded up.
  virtual BlockGrid block_grid(const std::string& param, const Shape& shape, std::int64_t b0,
                               std::int64_t b1) const;
  // Whether the parameter is a per-head slice of one source (DeepSeek's w_uk / w_uv), which an
  // FP8 block checkpoint keeps in FP8 whatever its role.
  virtual bool slices_heads() const { return false; }
  // Whether the parameter is its `sources` sources' elements end to end, in order, each cast by
  // the plain element_cast: then a parameter whose cast keeps the bytes is its sources' bytes.
  virtual bool concatenates_flat(std::size_t /*sources*/) const { return false; }
};

// The identity (map::identity()) when `mapping` is null: one source, taken as is.
const Mapping& mapping_or_identity(const MappingPtr& mapping);

// Of a parameter that is its sources' elements end to end (concatenates_flat): the bytes of
// elements [first, last) that lie in the part holding `first` (what a fill from `first` reads
// first, for prefetching); empty when `first` is past the end.
std::span<const std::byte> flat_source_bytes(std::span<const SourcePart> parts, std::size_t first,
                                             std::size_t last);

}  // namespace weightcast
