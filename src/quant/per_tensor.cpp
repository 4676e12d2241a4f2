#include "quant/per_tensor.h"

#include <cstring>

#include "quant/targets.h"
#include "util/float_bits.h"

namespace weightcast {

std::vector<OutputDef> PerTensorQuantize::outputs(const ParamDef& param,
                                                  const ExpectedShape& shape) const {
  if (!quantizes(param)) return {{param.name, shape, param.dtype.value_or(DType::kF16)}};
  std::vector<OutputDef> out = {{module_part(param.name, "q_weight"), shape, config_.weight_dtype}};
  if (config_.use_scale) {
    // One number for the whole tensor, stored once under pre-sharding
    // (docs/mlc-format.md#per-tensor-fp8).
    out.push_back({module_part(param.name, "q_scale"), {{1, {}}}, DType::kF32, false});
    if (config_.calibration_inference)
      out.push_back(
          {module_part(param.name, "q_calibration_scale"), {{1, {}}}, DType::kF32, false});
  }
  return out;
}

std::vector<Tensor> PerTensorQuantize::compute(const ParamDef& param, const ParamRows& input,
                                               ThreadPool& pool,
                                               const KernelOptions& options) const {
  std::vector<Tensor> out;
  Tensor w = materialize(param.name, input, pool);
  if (!quantizes(param)) {
    out.push_back(std::move(w));
    return out;
  }
  const auto defs = outputs(param, concrete(w.shape));
  const auto n = static_cast<std::size_t>(numel(w.shape));
  const auto* h = w.as<std::uint16_t>();
  const bool e4m3 = config_.weight_dtype == DType::kF8E4M3;
  const float max_fp8 = e4m3 ? 448.0f : 57344.0f;
  float scale = 1.0f;
  if (config_.use_scale) {
    // All in float16, as TVM computes it: the max, the division, the maximum with the floor.
    float max_abs = -65504.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const float a = std::fabs(f16_to_f32(h[i]));
      max_abs = max_abs > a ? max_abs : a;
    }
    const float divided = f16_to_f32(f32_to_f16(max_abs / max_fp8));
    const float floor = f16_to_f32(f32_to_f16(1.0f / (max_fp8 * 512.0f)));
    scale = divided > floor ? divided : floor;
  }
  Tensor q = Tensor::allocate(defs[0].name, config_.weight_dtype, w.shape);
  auto* qb = q.as<std::uint8_t>();
  pool.parallel_for(n, 1 << 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      const float x = config_.use_scale ? f16_to_f32(h[i]) / scale : f16_to_f32(h[i]);
      qb[i] = e4m3 ? f32_to_fp8_e4m3fn(x, options.fp8_cast) : f32_to_fp8_e5m2(x, options.fp8_cast);
    }
  });
  out.push_back(std::move(q));
  for (std::size_t k = 1; k < defs.size(); ++k) {
    Tensor s = Tensor::allocate(defs[k].name, DType::kF32, {1});
    s.as<float>()[0] = k == 1 ? scale : 0.0f;  // q_scale, then the calibration placeholder
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace weightcast
