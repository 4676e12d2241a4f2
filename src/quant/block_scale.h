// Block-scale FP8 (docs/mlc-format.md#block-scale-fp8): checkpoints that are already FP8
// (DeepSeek-V3 / Qwen3-FP8 style) load 1:1. Every non-final linear weight stays float8_e4m3fn and
// gains its weight_scale_inv [ceil(out/b0), ceil(in/b1)] float32; the static-activation variant
// also an activation_scale [ceil(in/b1)] float32. MoE experts keep theirs per expert ([E,
// ceil(out/b0), ceil(in/b1)]), DeepSeek's w_uk / w_uv take the matching per-head slices of
// kv_b_proj's scales. Everything else is cast to bfloat16.
#pragma once

#include "quant/scheme.h"

namespace weightcast {

class BlockScaleQuantize final : public StoreAsIs {
 public:
  BlockScaleQuantize(std::string name, bool static_activation)
      : StoreAsIs(std::move(name), QuantKind::kBlockScale, DType::kBF16),
        static_activation_(static_activation) {}
  ModelDef adapt(ModelDef model) const override;

 private:
  bool static_activation_;
};

}  // namespace weightcast
