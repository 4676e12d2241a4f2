#include "quant/group_quant.h"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {

namespace {

constexpr int kStorageBits = 32;

std::string strip_weight_suffix(const std::string& name) {
  constexpr std::string_view suffix = ".weight";
  if (name.size() > suffix.size() && name.ends_with(suffix))
    return name.substr(0, name.size() - suffix.size());
  return name;
}

// TVM lowers max/min to selects: NaN falls through to the second operand (spec 5.2.3).
inline float select_max(float a, float b) {
  return a > b ? a : b;
}
inline float select_min(float a, float b) {
  return a < b ? a : b;
}

inline float round_with(float u, RoundMode mode) {
  return mode == RoundMode::kTiesEven ? std::nearbyint(u) : std::round(u);
}

inline float f16_round(float x) {
  return f16_to_f32(f32_to_f16(x));
}

// Per-dtype arithmetic of the kernel. f16 rounds every operation to binary16 (LLVM promotes
// each half op to float and rounds back); bf16 and f32 compute in float32.
struct F16Math {
  using Storage = std::uint16_t;
  static constexpr float kLowest = -65504.0f;
  static float load(Storage v) { return f16_to_f32(v); }
  static Storage store(float v) { return f32_to_f16(v); }
  static float op(float v) { return f16_round(v); }
};
struct BF16Math {
  using Storage = std::uint16_t;
  static constexpr float kLowest = std::bit_cast<float>(0xFF7F0000u);  // bfloat16 lowest
  static float load(Storage v) { return bf16_to_f32(v); }
  static Storage store(float v) { return f32_to_bf16_tvm_storage(v); }
  static float op(float v) { return v; }
};
struct F32Math {
  using Storage = float;
  static constexpr float kLowest = -FLT_MAX;
  static float load(Storage v) { return v; }
  static Storage store(float v) { return v; }
  static float op(float v) { return v; }
};

template <typename Math>
void quantize_rows(const GroupKernelArgs& a, const void* input, std::size_t rows, std::size_t k,
                   std::uint32_t* q_weight, void* q_scale) {
  using S = typename Math::Storage;
  const auto* in = static_cast<const S*>(input);
  auto* scales = static_cast<S*>(q_scale);
  const std::size_t gs = static_cast<std::size_t>(a.group_size);
  const std::size_t per_word = kStorageBits / a.bits;
  const std::size_t groups = (k + gs - 1) / gs;
  const std::size_t words = groups * (gs / per_word);
  const float max_int = static_cast<float>((1 << (a.bits - 1)) - 1);
  const float max_code = 2 * max_int;
  for (std::size_t r = 0; r < rows; ++r) {
    const S* w = in + r * k;
    std::uint32_t* qw = q_weight + r * words;
    std::memset(qw, 0, words * sizeof(std::uint32_t));
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t begin = g * gs;
      float max_abs = Math::kLowest;  // the reduction's identity, also the padding value
      for (std::size_t i = begin; i < begin + gs; ++i)
        max_abs = select_max(max_abs, i < k ? std::fabs(Math::load(w[i])) : Math::kLowest);
      const float raw_scale = Math::op(max_abs / max_int);
      const S stored = Math::store(raw_scale);
      scales[r * groups + g] = stored;
      const float scale = a.rounded_scale ? Math::load(stored) : raw_scale;
      const std::size_t end = std::min(k, begin + gs);
      for (std::size_t i = begin; i < end; ++i) {
        const float t = Math::op(Math::load(w[i]) / scale);
        const float u = Math::op(t + max_int);
        const float code = select_min(select_max(round_with(u, a.round_mode), 0.0f), max_code);
        qw[i / per_word] |= static_cast<std::uint32_t>(code) << ((i % per_word) * a.bits);
      }
    }
  }
}

template <typename T>
void transpose_2d(const T* in, std::size_t rows, std::size_t cols, T* out) {
  constexpr std::size_t kBlock = 32;
  for (std::size_t r0 = 0; r0 < rows; r0 += kBlock)
    for (std::size_t c0 = 0; c0 < cols; c0 += kBlock)
      for (std::size_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (std::size_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          out[c * rows + r] = in[r * cols + c];
}

Tensor transposed(const Tensor& t) {
  const auto rows = static_cast<std::size_t>(t.shape[0]),
             cols = static_cast<std::size_t>(t.shape[1]);
  Tensor out = Tensor::allocate(t.name, t.dtype, {t.shape[1], t.shape[0]});
  switch (dtype_size(t.dtype)) {
    case 2:
      transpose_2d(t.as<std::uint16_t>(), rows, cols, out.as<std::uint16_t>());
      break;
    case 4:
      transpose_2d(t.as<std::uint32_t>(), rows, cols, out.as<std::uint32_t>());
      break;
    default:
      fail<NotImplementedError>("transpose of {}", tvm_name(t.dtype));
  }
  return out;
}

}  // namespace

void group_quantize_rows(const GroupKernelArgs& args, const void* input, std::size_t rows,
                         std::size_t k, std::uint32_t* q_weight, void* q_scale) {
  switch (args.dtype) {
    case DType::kF16:
      return quantize_rows<F16Math>(args, input, rows, k, q_weight, q_scale);
    case DType::kBF16:
      return quantize_rows<BF16Math>(args, input, rows, k, q_weight, q_scale);
    case DType::kF32:
      return quantize_rows<F32Math>(args, input, rows, k, q_weight, q_scale);
    default:
      fail<NotImplementedError>("group quantization of {} weights", tvm_name(args.dtype));
  }
}

GroupQuantize::GroupQuantize(GroupQuantConfig config) : config_(std::move(config)) {
  if (config_.bits > kStorageBits)
    fail("Storage unit should be greater or equal to quantized element");
  elems_per_word_ = kStorageBits / config_.bits;
  if (config_.group_size % elems_per_word_ != 0)
    fail("Group size should be divisible by numbers of elements per storage");
  words_per_group_ = config_.group_size / elems_per_word_;
}

bool GroupQuantize::quantizes(const ParamDef& p) const {
  if (p.role == ParamRole::kLinearWeight) return !p.final_fc || config_.quantize_final_fc;
  if (p.role == ParamRole::kEmbedding) return config_.quantize_embedding;
  return false;
}

bool GroupQuantize::transposes(const ParamDef& p) const {
  return config_.layout == Layout::kKN && p.role == ParamRole::kLinearWeight;
}

std::vector<OutputDef> GroupQuantize::outputs(const ParamDef& param,
                                              const ExpectedShape& shape) const {
  if (!quantizes(param)) return {{param.name, shape, config_.model_dtype}};
  if (shape.empty() || shape.back().symbolic())
    fail<NotImplementedError>("{}: cannot group-quantize along a symbolic axis", param.name);
  const std::int64_t groups = (shape.back().value + config_.group_size - 1) / config_.group_size;
  ExpectedShape weight(shape.begin(), shape.end() - 1), scale = weight;
  weight.push_back({groups * words_per_group_, {}});
  scale.push_back({groups, {}});
  if (transposes(param)) {
    if (shape.size() != 2)
      fail("Does not support transpose output quantized weight with ndim != 2");
    std::swap(weight[0], weight[1]);
    std::swap(scale[0], scale[1]);
  }
  const auto base = strip_weight_suffix(param.name);
  return {{base + ".q_weight", weight, DType::kU32},
          {base + ".q_scale", scale, config_.model_dtype}};
}

std::vector<Tensor> GroupQuantize::compute(const ParamDef& param, Tensor input, ThreadPool& pool,
                                           const KernelOptions& options) const {
  std::vector<Tensor> out;
  if (!quantizes(param)) {
    out.push_back(std::move(input));
    return out;
  }
  const auto defs = outputs(param, concrete(input.shape));
  const auto k = static_cast<std::size_t>(input.shape.back());
  const auto rows = static_cast<std::size_t>(numel(input.shape)) / std::max<std::size_t>(k, 1);
  Shape weight_shape(input.shape.begin(), input.shape.end() - 1), scale_shape = weight_shape;
  const auto groups = static_cast<std::int64_t>((k + config_.group_size - 1) / config_.group_size);
  weight_shape.push_back(groups * words_per_group_);
  scale_shape.push_back(groups);
  Tensor weight = Tensor::allocate(defs[0].name, DType::kU32, weight_shape);
  Tensor scale = Tensor::allocate(defs[1].name, config_.model_dtype, scale_shape);
  const GroupKernelArgs args{config_.model_dtype, config_.bits, config_.group_size,
                             !(transposes(param) && config_.model_dtype == DType::kBF16),
                             options.round_mode};
  const std::size_t in_row = k * dtype_size(input.dtype);
  const std::size_t scale_row = static_cast<std::size_t>(groups) * dtype_size(config_.model_dtype);
  const std::size_t words = static_cast<std::size_t>(groups * words_per_group_);
  pool.parallel_for(rows, std::max<std::size_t>(1, 65536 / std::max<std::size_t>(k, 1)),
                    [&](std::size_t begin, std::size_t end) {
                      group_quantize_rows(args, input.buffer.get() + begin * in_row, end - begin, k,
                                          weight.as<std::uint32_t>() + begin * words,
                                          scale.buffer.get() + begin * scale_row);
                    });
  if (transposes(param)) {
    weight = transposed(weight);
    scale = transposed(scale);
  }
  out.push_back(std::move(weight));
  out.push_back(std::move(scale));
  return out;
}

}  // namespace weightcast
