// A quantization scheme decides what each MLC parameter becomes on disk (names, shapes,
// dtypes) and computes it from the parameter in the model dtype.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "util/tensor.h"
#include "util/thread_pool.h"
#include "weightcast/weightcast.h"

namespace weightcast {

struct OutputDef {
  std::string name;
  ExpectedShape shape;
  DType dtype;
};

struct KernelOptions {
  RoundMode round_mode = RoundMode::kTiesEven;
};

// A parameter after the source mapping, in the model dtype, produced on demand one block of rows
// (along the last axis) at a time, so that casting and quantizing stream through small buffers.
class ParamRows {
 public:
  virtual ~ParamRows() = default;
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::size_t row_size() const { return row_size_; }  // elements per row: the last dimension
  std::size_t rows() const { return rows_; }
  // Writes rows [begin, end) to `out`; safe to call from several threads at once.
  virtual void fill(std::size_t begin, std::size_t end, std::byte* out) const = 0;

 protected:
  ParamRows(DType dtype, Shape shape);

 private:
  DType dtype_;
  Shape shape_;
  std::size_t row_size_, rows_;
};

// Materialises the whole parameter (for schemes that keep it as is).
Tensor materialize(const std::string& name, const ParamRows& rows, ThreadPool& pool);

class Scheme {
 public:
  virtual ~Scheme() = default;
  virtual std::string_view name() const = 0;
  virtual QuantKind kind() const = 0;
  virtual DType model_dtype() const = 0;
  // The records `param` becomes, for a parameter of shape `shape` (expected or actual).
  virtual std::vector<OutputDef> outputs(const ParamDef& param,
                                         const ExpectedShape& shape) const = 0;
  // Schemes that change the model itself (AWQ's packed tensors) rewrite its definition.
  virtual ModelDef adapt(ModelDef model) const { return model; }
  // Checks a parameter's shape after the source mapping, before the generic shape check.
  virtual void check_mapped(const ParamDef&, const Shape&) const {}
  // Refuses pre-sharding `param` into `shards` pieces where MLC's own rules would break
  // (`shape` is the per-shard expected shape).
  virtual void check_sharding(const ParamDef&, const ExpectedShape&, int) const {}
  // Whether `param` becomes exactly its mapped input (one record, same name, no kernel), so the
  // pipeline may stream it from the source instead of materialising it.
  virtual bool stores_as_is(const ParamDef&) const { return false; }
  // Row-block computation, for records too large to hold: when computes_rows(param), the first
  // output record has one row per input row. start_rows allocates the other outputs;
  // compute_rows writes rows [begin, end) of the first output to `first` and their part of the
  // others into `rest`. The bytes equal compute()'s.
  virtual bool computes_rows(const ParamDef&) const { return false; }
  virtual std::vector<Tensor> start_rows(const ParamDef&, const ParamRows&) const { return {}; }
  virtual void compute_rows(const ParamDef&, const ParamRows&, std::size_t /*begin*/,
                            std::size_t /*end*/, std::byte* /*first*/,
                            std::vector<Tensor>& /*rest*/, ThreadPool&,
                            const KernelOptions&) const {}
  // Under pre-sharding, whether output `index` of a sharded parameter is split (true) or stored
  // once for all shards (per-tensor scales).
  virtual bool splits_output(std::size_t) const { return true; }
  // Computes those records, in that order.
  virtual std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input,
                                      ThreadPool& pool, const KernelOptions& options) const = 0;
};

// Schemes with no kernel: every parameter is stored as the source mapping produced it, in the
// model dtype or its own (no-quant, and the pre-quantized AWQ and block-scale checkpoints).
class StoreAsIs : public Scheme {
 public:
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override {
    return {{param.name, shape, param.dtype.value_or(model_dtype())}};
  }
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions&) const override;
  bool stores_as_is(const ParamDef&) const override { return true; }
};

const std::vector<const Scheme*>& schemes();
const Scheme* find_scheme(std::string_view name);

}  // namespace weightcast
