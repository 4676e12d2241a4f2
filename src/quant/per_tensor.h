// Per-tensor FP8 (docs/mlc-format.md#per-tensor-fp8): e4m3_e4m3_f16, e4m3_e4m3_f16_max_calibrate,
// e5m2_e5m2_f16. Every non-final linear weight becomes q_weight (float8) with, when the scheme
// scales, one float32 q_scale = f32(max(f16(max|W| / max_fp8), f16(1 / (max_fp8 * 512)))) and, in
// "inference" calibration mode, a q_calibration_scale placeholder. MLC leaves that placeholder
// uninitialised; weightcast writes 0.0 so the output is reproducible (MLC's calibration flow fills
// it later). Embeddings and lm_head stay float16.
#pragma once

#include "quant/scheme.h"
#include "quant/targets.h"
#include "util/error.h"

namespace weightcast {

struct PerTensorConfig {
  std::string name;
  DType weight_dtype;  // kF8E4M3 or kF8E5M2
  bool use_scale;
  bool calibration_inference;
};

class PerTensorQuantize final : public Scheme {
 public:
  explicit PerTensorQuantize(PerTensorConfig config)
      : Scheme(config.name, QuantKind::kPerTensor, DType::kF16), config_(std::move(config)) {}
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override;
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions& options) const override;

 private:
  bool quantizes(const ParamDef& p) const {
    // MixtralExperts: one scale over all experts (FP8PerTensorQuantizeMixtralExperts).
    if (p.role == ParamRole::kExperts) return true;
    return quantizes_linear(p);
  }
  PerTensorConfig config_;
};

}  // namespace weightcast
