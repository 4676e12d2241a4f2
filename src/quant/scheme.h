// A quantization scheme decides what each MLC parameter becomes on disk (names, shapes,
// dtypes) and computes it from the parameter in the model dtype.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "util/float_bits.h"
#include "util/tensor.h"
#include "util/thread_pool.h"
#include "weightcast/weightcast.h"

namespace weightcast {

struct OutputDef {
  std::string name;
  ExpectedShape shape;
  DType dtype;
  // Under pre-sharding: split along the parameter's shard axis like the parameter (true), or
  // stored once for all shards (per-tensor scales).
  bool split = true;
};

struct KernelOptions {
  RoundMode round_mode = RoundMode::kTiesEven;
  Fp8Cast fp8_cast = Fp8Cast::kTvmCpu;
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
  // The source bytes that fill(begin, end) reads first, where they are one plain range (else
  // empty): a kernel may pull them into the cache while it works on the rows before.
  virtual std::span<const std::byte> source_bytes(std::size_t /*begin*/,
                                                  std::size_t /*end*/) const {
    return {};
  }

 protected:
  ParamRows(DType dtype, Shape shape);

 private:
  DType dtype_;
  Shape shape_;
  std::size_t row_size_, rows_;
};

// Materialises the whole parameter (for schemes that keep it as is).
Tensor materialize(const std::string& name, const ParamRows& rows, ThreadPool& pool);

// How the pipeline may produce a parameter's records; the plan records it.
enum class Production {
  kWhole,  // compute() on the whole mapped parameter
  // One record, the mapped parameter itself (same name, no kernel): may be cast from the sources
  // and written block by block instead of held whole.
  kAsIs,
  // The first record has one row per input row and may be computed row block by row block
  // (start_rows, then compute_rows), the other records following whole.
  kRowBlocks,
};

// A quantization scheme. A new family is its file (a subclass) plus its registry lines.
class Scheme {
 public:
  Scheme(std::string name, QuantKind kind, DType model_dtype)
      : name_(std::move(name)), kind_(kind), model_dtype_(model_dtype) {}
  virtual ~Scheme() = default;
  std::string_view name() const { return name_; }
  QuantKind kind() const { return kind_; }
  DType model_dtype() const { return model_dtype_; }

  // The records `param` becomes, for a parameter of shape `shape` (expected or actual).
  virtual std::vector<OutputDef> outputs(const ParamDef& param,
                                         const ExpectedShape& shape) const = 0;
  // Schemes that change the model itself (AWQ's packed tensors, FP8 scales) rewrite it.
  virtual ModelDef adapt(ModelDef model) const { return model; }
  // Plan-time checks of a parameter whose mapped shape is `mapped`, pre-sharded into `shards`
  // pieces (param.shape is then per shard), where MLC's own rules would break.
  virtual void check(const ParamDef&, const Shape& /*mapped*/, int /*shards*/) const {}
  virtual Production production(const ParamDef&) const { return Production::kWhole; }
  // Production::kRowBlocks: start_rows allocates the records after the first; compute_rows
  // writes rows [begin, end) of the first record to `first` and their part of the others into
  // `rest`. The bytes equal compute()'s.
  virtual std::vector<Tensor> start_rows(const ParamDef&, const ParamRows&) const { return {}; }
  virtual void compute_rows(const ParamDef&, const ParamRows&, std::size_t /*begin*/,
                            std::size_t /*end*/, std::byte* /*first*/,
                            std::vector<Tensor>& /*rest*/, ThreadPool&,
                            const KernelOptions&) const {}
  // Computes the records outputs() lists, in that order.
  virtual std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input,
                                      ThreadPool& pool, const KernelOptions& options) const = 0;

 private:
  std::string name_;
  QuantKind kind_;
  DType model_dtype_;
};

// Schemes with no kernel: every parameter is stored as the source mapping produced it, in the
// model dtype or its own (no-quant, and the pre-quantized AWQ and block-scale checkpoints).
class StoreAsIs : public Scheme {
 public:
  using Scheme::Scheme;
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override {
    return {{param.name, shape, param.dtype.value_or(model_dtype())}};
  }
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions&) const override;
  Production production(const ParamDef&) const override { return Production::kAsIs; }
};

const std::vector<const Scheme*>& schemes();
const Scheme* find_scheme(std::string_view name);

}  // namespace weightcast
