#include "quant/block_scale.h"

#include "util/error.h"

namespace weightcast {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// The weight_scale_inv that accompanies an FP8 weight: the same sources with "_scale_inv",
// mapped the same way, float32.
ParamDef scale_of(const ParamDef& weight, ExpectedShape shape) {
  ParamDef scale = weight;
  scale.name = weight.name + "_scale_inv";
  scale.shape = std::move(shape);
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
    fail<NotImplementedError>("{} cannot be pre-sharded for tensor parallelism yet", name_);
  const auto [b0, b1] = *model.weight_block_size;
  const auto n = [](std::int64_t v) { return Dim{v, {}}; };
  std::vector<ParamDef> params;
  for (auto& p : model.params) {
    std::vector<ParamDef> extra;
    if (p.role == ParamRole::kExperts) {  // BlockScaleQuantizeMixtralExperts: no activation scale
      const auto e = p.shape[0].value, out = p.shape[1].value, in = p.shape[2].value;
      extra.push_back(scale_of(p, {n(e), n(ceil_div(out, b0)), n(ceil_div(in, b1))}));
    } else if (p.combine == Combine::kHeadSlice) {
      // DeepSeek's w_uk / w_uv: FP8 slices of kv_b_proj, with the matching slices of its scales.
      auto hs = p.head_slice;
      const auto rank = hs.transpose ? p.shape[1].value : p.shape[2].value;
      if (hs.begin % b0 != 0 || hs.end % b0 != 0 || hs.rows_per_head % b0 != 0 || rank % b1 != 0)
        fail(
            "Invalid DeepSeek model config: qk_nope_head_dim must be multiple of "
            "weight_block_size[0], and v_head_dim must be multiple of weight_block_size[1]. "
            "However, {} slices rows [{}, {}) of {} per head, weight_block_size is [{}, {}].",
            p.name, hs.begin, hs.end, hs.rows_per_head, b0, b1);
      const auto rows = (hs.end - hs.begin) / b0;
      auto scale = scale_of(p, hs.transpose ? ExpectedShape{n(hs.heads), n(rank / b1), n(rows)}
                                            : ExpectedShape{n(hs.heads), n(rows), n(rank / b1)});
      scale.head_slice = {hs.heads, hs.rows_per_head / b0, hs.begin / b0, hs.end / b0,
                          hs.transpose};
      extra.push_back(std::move(scale));
    } else if (p.role == ParamRole::kLinearWeight && !p.final_fc && !is_moe_gate(p) &&
               p.name.ends_with(".weight")) {
      const std::int64_t out = p.shape[0].value, in = p.shape[1].value;
      extra.push_back(scale_of(p, {n(ceil_div(out, b0)), n(ceil_div(in, b1))}));
      if (static_activation_) {  // MLC maps it by its own name (no HF counterpart is renamed)
        ParamDef activation;
        activation.name = p.name.substr(0, p.name.size() - 7) + ".activation_scale";
        activation.shape = {n(ceil_div(in, b1))};
        activation.dtype = DType::kF32;
        activation.sources = {activation.name};
        extra.push_back(std::move(activation));
      }
    } else {
      params.push_back(std::move(p));
      continue;
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
