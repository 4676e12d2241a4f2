#include "convert/source_rows.h"

namespace weightcast {

SourceRows::SourceRows(const PlannedParam& p, const Checkpoint& ckpt, DType dtype)
    : ParamRows(dtype, p.shape),
      mapping_(mapping_or_identity(p.def->mapping)),
      out_size_(dtype_size(dtype)) {
  for (const auto& loc : p.sources) {
    const auto& info = ckpt.info(loc);
    const auto& file = *ckpt.files()[loc.file];
    parts_.push_back({file.data(loc.index), dtype_size(info.dtype),
                      static_cast<std::size_t>(numel(info.shape)),
                      info.shape.empty() ? 1 : static_cast<std::size_t>(info.shape.back()),
                      mapping_.element_cast(info.name, info.dtype, file.widens_bf16(), dtype)});
    file.prefetch(loc.index);
  }
}

void SourceRows::fill(std::size_t begin, std::size_t end, std::byte* out) const {
  mapping_.fill({parts_, shape(), row_size(), out_size_}, begin, end, out);
}

}  // namespace weightcast
