#include "quant/block_scale.h"

#include "util/error.h"

namespace weightcast {

ModelDef BlockScaleQuantize::adapt(ModelDef model) const {
  if (!model.weight_block_size)
    fail("The input model is not fp8 block quantized. Thus BlockScaleQuantize is not supported.");
  if (model.tensor_parallel_shards > 1)
    fail<NotImplementedError>("{} cannot be pre-sharded for tensor parallelism yet", name_);
  const auto [b0, b1] = *model.weight_block_size;
  std::vector<ParamDef> params;
  for (auto& p : model.params) {
    if (p.role == ParamRole::kExperts)
      fail<NotImplementedError>("{}: {} of MoE experts is not implemented here yet", p.name, name_);
    const bool quantized = p.role == ParamRole::kLinearWeight && !p.final_fc && !is_moe_gate(p) &&
                           p.name.ends_with(".weight");
    if (!quantized) {
      params.push_back(std::move(p));
      continue;
    }
    const std::int64_t out = p.shape[0].value, in = p.shape[1].value;
    ParamDef scale;
    scale.name = p.name + "_scale_inv";
    scale.shape = {{(out + b0 - 1) / b0, {}}, {(in + b1 - 1) / b1, {}}};
    scale.dtype = DType::kF32;
    for (const auto& s : p.sources) scale.sources.push_back(s + "_scale_inv");
    scale.combine = p.combine;
    ParamDef activation;
    if (static_activation_) {  // MLC maps it by its own name (no HF counterpart is renamed)
      activation.name = p.name.substr(0, p.name.size() - 7) + ".activation_scale";
      activation.shape = {{(in + b1 - 1) / b1, {}}};
      activation.dtype = DType::kF32;
      activation.sources = {activation.name};
    }
    p.dtype = DType::kF8E4M3;
    p.role = ParamRole::kOther;  // loaded as is
    params.push_back(std::move(p));
    params.push_back(std::move(scale));
    if (static_activation_) params.push_back(std::move(activation));
  }
  model.params = std::move(params);
  return model;
}

}  // namespace weightcast
