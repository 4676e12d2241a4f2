// A quantization scheme decides what each MLC parameter becomes on disk (names, shapes,
// dtypes) and computes it from the parameter in the model dtype.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arch/architecture.h"
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

class Scheme {
 public:
  virtual ~Scheme() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view kind() const = 0;  // MLC's quantization kind, e.g. "group-quant"
  virtual DType model_dtype() const = 0;
  // The records `param` becomes, for a parameter of shape `shape` (expected or actual).
  virtual std::vector<OutputDef> outputs(const ParamDef& param,
                                         const ExpectedShape& shape) const = 0;
  // Computes those records from `input` (model dtype, the parameter's actual shape).
  virtual std::vector<Tensor> compute(const ParamDef& param, Tensor input, ThreadPool& pool,
                                      const KernelOptions& options) const = 0;
};

const std::vector<const Scheme*>& schemes();
const Scheme* find_scheme(std::string_view name);

}  // namespace weightcast
