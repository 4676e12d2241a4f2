#include "quant/block_scale.h"

#include "map/mapping.h"
#include "quant/targets.h"
#include "util/error.h"

namespace weightcast {

namespace {

// The weight_scale_inv that accompanies an FP8 weight: the same sources with "_scale_inv", over
// the block grid its mapping gives, float32.
ParamDef scale_of(const ParamDef& weight, std::int64_t b0, std::int64_t b1) {
  Shape shape;
  for (const auto& d : weight.shape) shape.push_back(d.value);
  auto grid = mapping_or_identity(weight.mapping).block_grid(weight.name, shape, b0, b1);
  ParamDef scale = weight;
  scale.name = weight.name + "_scale_inv";
  scale.shape = concrete(grid.shape);
  scale.mapping = std::move(grid.mapping);
  scale.dtype = DType::kF32;
  scale.role = ParamRole::kOther;
  scale.final_fc = false;
  scale.sources.clear();
  for (const auto& s : weight.sources) scale.sources.push_back(s + "_scale_inv");
  return scale;
}

}  // namespace

ModelDef BlockScaleQuantize::adapt(ModelDef model) const {
  if (!model.weight_block_size)
    fail("The input model is not fp8 block quantized. Thus BlockScaleQuantize is not supported.");
  if (model.tensor_parallel_shards > 1)
    fail<NotImplementedError>("{} cannot be pre-sharded for tensor parallelism yet", name());
  const auto [b0, b1] = *model.weight_block_size;
  std::vector<ParamDef> params;
  for (auto& p : model.params) {
    // MixtralExperts keep their scales per expert (and no activation scale); DeepSeek's w_uk /
    // w_uv are FP8 slices of kv_b_proj, with the matching slices of its scales.
    const bool linear = quantizes_linear(p);
    if (p.role != ParamRole::kExperts && !linear &&
        !mapping_or_identity(p.mapping).slices_heads()) {
      params.push_back(std::move(p));
      continue;
    }
    std::vector<ParamDef> extra;
    extra.push_back(scale_of(p, b0, b1));
    if (linear && static_activation_) {  // MLC maps it by its own name (no HF counterpart)
      ParamDef activation;
      activation.name = module_part(p.name, "activation_scale");
      activation.shape = {Dim{(p.shape[1].value + b1 - 1) / b1, {}}};
      activation.dtype = DType::kF32;
      activation.sources = {activation.name};
      extra.push_back(std::move(activation));
    }
    p.dtype = DType::kF8E4M3;
    p.role = ParamRole::kOther;  // loaded as is
    params.push_back(std::move(p));
    for (auto& x : extra) params.push_back(std::move(x));
  }
  model.params = std::move(params);
  return model;
}

}  // namespace weightcast
