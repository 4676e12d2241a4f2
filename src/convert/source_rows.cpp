#include "convert/source_rows.h"

#include "map/cast.h"

namespace weightcast {

SourceRows::SourceRows(const PlannedParam& p, const Checkpoint& ckpt, DType dtype, bool prefetch)
    : ParamRows(dtype, p.shape),
      mapping_(mapping_or_identity(p.def->mapping)),
      out_size_(dtype_size(dtype)) {
  for (const auto& loc : p.sources) {
    const auto& info = ckpt.info(loc);
    const auto& file = *ckpt.files()[loc.file];
    auto cast = mapping_.element_cast(info.name, info.dtype, file.widens_bf16(), dtype);
    // A plain dtype cast with a counting variant counts as it casts: no second pass.
    const CastFn* plain = cast.target<CastFn>();
    const CountingCastFn counting =
        plain && can_cast(info.dtype, dtype) && *plain == cast_function(info.dtype, dtype)
            ? counting_cast_function(info.dtype, dtype)
            : nullptr;
    counters_.push_back(std::make_shared<Counter>());
    const auto data = file.data(loc.index);
    // Non-finite values counted on the block the cast just read, and the bytes read noted.
    cast = [cast = std::move(cast), counting, counter = counters_.back(), from = info.dtype, data,
            count = may_be_nonfinite(info.dtype),
            elem = dtype_size(info.dtype)](const std::byte* in, std::byte* out, std::size_t n) {
      NonFiniteCount c;
      if (counting) {
        counting(in, out, n, c);
      } else {
        cast(in, out, n);
        if (count) count_nonfinite(from, in, n, c);
      }
      if (c.nan) counter->nan += c.nan;
      if (c.inf) counter->inf += c.inf;
      if (in >= data.data() && in < data.data() + data.size())
        counter->note_read(static_cast<std::size_t>(in - data.data()), n * elem);
    };
    parts_.push_back({data, dtype_size(info.dtype), static_cast<std::size_t>(numel(info.shape)),
                      info.shape.empty() ? 1 : static_cast<std::size_t>(info.shape.back()),
                      std::move(cast)});
    sources_.push_back({&file, loc.index});
  }
  if (prefetch) this->prefetch();
}

void SourceRows::prefetch() const {
  for (const auto& source : sources_) source.file->prefetch(source.index);
}

std::vector<NonFiniteCount> SourceRows::nonfinite() const {
  std::vector<NonFiniteCount> out;
  for (const auto& c : counters_) out.push_back({c->nan.load(), c->inf.load()});
  return out;
}

void SourceRows::Counter::note_read(std::size_t offset, std::size_t bytes) {
  std::size_t lo = read_lo.load(std::memory_order_relaxed);
  while (offset < lo && !read_lo.compare_exchange_weak(lo, offset, std::memory_order_relaxed)) {
  }
  std::size_t hi = read_hi.load(std::memory_order_relaxed);
  while (offset + bytes > hi &&
         !read_hi.compare_exchange_weak(hi, offset + bytes, std::memory_order_relaxed)) {
  }
}

void SourceRows::release_read() const {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    auto& c = *counters_[i];
    const std::size_t lo = c.read_lo.load(), hi = c.read_hi.load();
    if (hi <= lo) continue;
    const std::size_t dropped_to = sources_[i].file->release_range(sources_[i].index, lo, hi - lo);
    if (dropped_to >= hi) {
      c.read_lo.store(SIZE_MAX), c.read_hi.store(0);
    } else if (dropped_to > lo) {
      c.read_lo.store(dropped_to);  // the rest is offered again with the next blocks read
    }
  }
}

std::span<const std::byte> SourceRows::source_bytes(std::size_t begin, std::size_t end) const {
  if (!mapping_.concatenates_flat(parts_.size())) return {};
  return flat_source_bytes(parts_, begin * row_size(), end * row_size());
}

void SourceRows::fill(std::size_t begin, std::size_t end, std::byte* out) const {
  mapping_.fill({parts_, shape(), row_size(), out_size_}, begin, end, out);
}

}  // namespace weightcast
