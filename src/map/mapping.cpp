#include "map/mapping.h"

#include <algorithm>

#include "map/cast.h"
#include "map/kinds.h"
#include "util/error.h"

namespace weightcast {

ElementCast Mapping::element_cast(std::string_view, DType dtype, bool, DType target) const {
  return cast_function(dtype, target);
}

BlockGrid Mapping::block_grid(const std::string&, const Shape& shape, std::int64_t b0,
                              std::int64_t b1) const {
  Shape grid = shape;
  const auto n = grid.size();
  grid[n - 2] = map::ceil_div(grid[n - 2], b0);
  grid[n - 1] = map::ceil_div(grid[n - 1], b1);
  return {grid, shared_from_this()};
}

const Mapping& mapping_or_identity(const MappingPtr& mapping) {
  return mapping ? *mapping : *map::identity();
}

std::span<const std::byte> flat_source_bytes(std::span<const SourcePart> parts, std::size_t first,
                                             std::size_t last) {
  for (const auto& part : parts) {
    if (first < part.count) {
      const std::size_t offset = first * part.elem_size;
      if (offset >= part.data.size()) return {};
      const std::size_t n = (std::min(last, part.count) - std::min(first, last)) * part.elem_size;
      return part.data.subspan(offset, std::min(n, part.data.size() - offset));
    }
    first -= part.count;
    last -= std::min(last, part.count);
  }
  return {};
}

}  // namespace weightcast
