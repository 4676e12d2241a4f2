// q4f16_ft (docs/mlc-format.md#ft-quantization) is refused. Its linear weights go through CUTLASS's
// ft_preprocess_weight, a FasterTransformer interleaving that depends on the target GPU's
// architecture (sm) and that MLC itself can run only on a CUDA machine with CUTLASS. Reproducing
// it needs that kernel's exact row permutation, column interleave and bias-add per sm, checked
// against MLC's output on real GPUs; until then weightcast says so instead of writing bytes it
// cannot vouch for.
#pragma once

#include "quant/scheme.h"
#include "util/error.h"

namespace weightcast {

class FtQuantize final : public Scheme {
 public:
  FtQuantize() : Scheme("q4f16_ft", QuantKind::kFt, DType::kF16) {}
  ModelDef adapt(ModelDef) const override {
    fail<NotImplementedError>(
        "q4f16_ft is not supported: its weights need CUTLASS's ft_preprocess_weight "
        "(FasterTransformer interleaving specific to the GPU architecture), which MLC runs only on "
        "a CUDA GPU and weightcast does not reproduce; use q4f16_1 instead");
  }
  std::vector<OutputDef> outputs(const ParamDef& p, const ExpectedShape& s) const override {
    return {{p.name, s, DType::kF16}};
  }
  std::vector<Tensor> compute(const ParamDef&, const ParamRows&, ThreadPool&,
                              const KernelOptions&) const override {
    fail<NotImplementedError>("q4f16_ft is not supported");
  }
};

}  // namespace weightcast
