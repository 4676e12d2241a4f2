#include "convert/source_rows.h"

namespace weightcast {

SourceRows::SourceRows(const PlannedParam& p, const Checkpoint& ckpt, DType dtype)
    : ParamRows(dtype, p.shape),
      mapping_(mapping_or_identity(p.def->mapping)),
      out_size_(dtype_size(dtype)) {
  for (const auto& loc : p.sources) {
    const auto& info = ckpt.info(loc);
    const auto& file = *ckpt.files()[loc.file];
    auto cast = mapping_.element_cast(info.name, info.dtype, file.widens_bf16(), dtype);
    counters_.push_back(std::make_shared<Counter>());
    if (may_be_nonfinite(info.dtype))  // counted on the block the cast just read
      cast = [cast = std::move(cast), counter = counters_.back(), from = info.dtype](
                 const std::byte* in, std::byte* out, std::size_t n) {
        cast(in, out, n);
        NonFiniteCount c;
        count_nonfinite(from, in, n, c);
        if (c.nan) counter->nan += c.nan;
        if (c.inf) counter->inf += c.inf;
      };
    parts_.push_back(
        {file.data(loc.index), dtype_size(info.dtype), static_cast<std::size_t>(numel(info.shape)),
         info.shape.empty() ? 1 : static_cast<std::size_t>(info.shape.back()), std::move(cast)});
    file.prefetch(loc.index);
  }
}

std::vector<NonFiniteCount> SourceRows::nonfinite() const {
  std::vector<NonFiniteCount> out;
  for (const auto& c : counters_) out.push_back({c->nan.load(), c->inf.load()});
  return out;
}

void SourceRows::fill(std::size_t begin, std::size_t end, std::byte* out) const {
  mapping_.fill({parts_, shape(), row_size(), out_size_}, begin, end, out);
}

}  // namespace weightcast
