// Mapping kinds that change each element's value (one source, same shape), for RWKV's loaders.
#pragma once

#include <cmath>
#include <optional>

#include "map/kinds.h"

namespace weightcast::map {

// One source through float32: `fn` on each element after casting to `arith`, then to the target.
class Elementwise final : public Mapping {
 public:
  using Fn = void (*)(float* values, std::size_t n, float arg);
  // arith: the dtype `fn`'s results are rounded to (none: the target's).
  Elementwise(std::optional<DType> arith, Fn fn, float arg) : arith_(arith), fn_(fn), arg_(arg) {}
  Shape shape(const std::string&, std::span<const SourceShape> sources) const override {
    return sources.front().shape;
  }
  ElementCast element_cast(std::string_view source, DType dtype, bool,
                           DType target) const override {
    const DType arith = arith_.value_or(target);
    if (!can_cast(dtype, arith) || !can_cast(arith, DType::kF32))
      fail<NotImplementedError>("{}: cannot compute on a {} tensor", source, tvm_name(dtype));
    const CastFn to_arith = cast_function(dtype, arith),
                 arith_f32 = cast_function(arith, DType::kF32);
    const CastFn from_f32 = cast_function(DType::kF32, arith),
                 to_target = cast_function(arith, target);
    const std::size_t arith_size = dtype_size(arith);
    const Fn fn = fn_;
    const float arg = arg_;
    return [=](const std::byte* in, std::byte* out, std::size_t n) {
      std::vector<std::byte> a(n * arith_size), b(n * arith_size);
      std::vector<float> v(n);
      to_arith(in, a.data(), n);
      arith_f32(a.data(), reinterpret_cast<std::byte*>(v.data()), n);
      fn(v.data(), n, arg);
      from_f32(reinterpret_cast<const std::byte*>(v.data()), b.data(), n);
      to_target(b.data(), out, n);
    };
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    fill_flat(in, begin, end, out);
  }

 private:
  std::optional<DType> arith_;
  Fn fn_;
  float arg_;
};

// RWKV's rescaled projections: cast to the model dtype, then divided by 2^t in it (exact but for
// the final rounding, as numpy divides a float16 array by a Python int).
inline MappingPtr divide_by_pow2(int t) {
  return std::make_shared<Elementwise>(
      std::nullopt,
      [](float* v, std::size_t n, float scale) {
        for (std::size_t i = 0; i < n; ++i) v[i] *= scale;
      },
      std::ldexp(1.0f, -t));
}

// numpy's float32 exp as its AVX2 / AVX-512 loop computes it (what MLC's loader gets on x86-64):
// k = rint(x log2 e) by the 1.5 x 2^23 trick, x - k ln 2 in two fused steps (Cody-Waite), a
// rational minimax approximation P5 / Q2 evaluated with fused multiply-adds, scaled by 2^k.
inline float numpy_expf(float x) {
  if (std::isnan(x)) return x;
  if (x >= 88.72283935546875f) return HUGE_VALF;
  if (x <= -103.97208404541015625f) return 0.0f;
  constexpr float kMagic = 0x1.8p23f;
  volatile float k = x * 1.442695040888963407359924681001892137f;  // volatile: never fused
  volatile float shifted = k + kMagic;
  k = shifted - kMagic;
  const float kf = k;
  float r = std::fma(kf, -6.93145752e-1f, x);
  r = std::fma(kf, -1.42860677e-6f, r);
  float p = 5.082762527590693718096e-04f;
  for (const float c :
       {6.757896990527504603057e-03f, 5.114512081637298353406e-02f, 2.473615434895520810817e-01f,
        7.257664613233124478488e-01f, 9.999999999980870924916e-01f})
    p = std::fma(p, r, c);
  const float q =
      std::fma(std::fma(2.159509375685829852307e-02f, r, -2.742335390411667452936e-01f), r, 1.0f);
  return std::ldexp(p / q, static_cast<int>(kf));
}

// RWKV5's time_decay: exp(-exp(w)) in float32, both exps numpy's (docs/mlc-format.md#rwkv).
inline MappingPtr exp_neg_exp() {
  return std::make_shared<Elementwise>(
      DType::kF32,
      [](float* v, std::size_t n, float) {
        for (std::size_t i = 0; i < n; ++i) v[i] = numpy_expf(-numpy_expf(v[i]));
      },
      0.0f);
}

}  // namespace weightcast::map
