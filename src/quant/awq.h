// q4f16_autoawq (docs/mlc-format.md#awq): AutoAWQ exports (qweight / qzeros / scales, int4 packed
// in int32 with AutoAWQ's nibble order) copied verbatim as uint32; q/k/v and gate/up fuse along
// axis 1. MLC builds a different model for it: every non-final linear weight [out, in] becomes
// qweight [in, out/8], qzeros [in/128, out/8] and scales [in/128, out], which adapt() derives
// from any architecture's definition.
#pragma once

#include "quant/scheme.h"

namespace weightcast {

class AwqQuantize final : public StoreAsIs {
 public:
  static constexpr int kGroupSize = 128;
  AwqQuantize() : StoreAsIs("q4f16_autoawq", QuantKind::kAwq, DType::kF16) {}
  ModelDef adapt(ModelDef model) const override;
  void check(const ParamDef& param, const Shape& mapped, int shards) const override;
};

}  // namespace weightcast
