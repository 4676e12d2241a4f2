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

// RWKV5's time_decay: exp(-exp(x)) in float32, each exp rounded to float32 once (computed in
// double); numpy's own float32 exp may round a last bit differently (docs/mlc-format.md#rwkv).
inline MappingPtr exp_neg_exp() {
  return std::make_shared<Elementwise>(
      DType::kF32,
      [](float* v, std::size_t n, float) {
        for (std::size_t i = 0; i < n; ++i) {
          const auto e = static_cast<float>(std::exp(static_cast<double>(v[i])));
          v[i] = static_cast<float>(std::exp(-static_cast<double>(e)));
        }
      },
      0.0f);
}

}  // namespace weightcast::map
