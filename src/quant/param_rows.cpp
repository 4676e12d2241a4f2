#include <algorithm>

#include "quant/scheme.h"

namespace weightcast {

ParamRows::ParamRows(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  row_size_ = shape_.empty() ? 1 : static_cast<std::size_t>(shape_.back());
  rows_ = row_size_ == 0 ? 0 : static_cast<std::size_t>(numel(shape_)) / row_size_;
}

Tensor materialize(const std::string& name, const ParamRows& rows, ThreadPool& pool) {
  Tensor out = Tensor::allocate(name, rows.dtype(), rows.shape());
  const std::size_t row_bytes = rows.row_size() * dtype_size(rows.dtype());
  const std::size_t grain =
      std::max<std::size_t>(1, (256u << 10) / std::max<std::size_t>(1, row_bytes));
  pool.parallel_for(rows.rows(), grain, [&](std::size_t b, std::size_t e) {
    rows.fill(b, e, out.buffer.get() + b * row_bytes);
  });
  return out;
}

std::vector<Tensor> StoreAsIs::compute(const ParamDef& param, const ParamRows& input,
                                       ThreadPool& pool, const KernelOptions&) const {
  std::vector<Tensor> out;
  out.push_back(materialize(param.name, input, pool));
  return out;
}

}  // namespace weightcast
