#include "quant/group_quant.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/targets.h"
#include "util/error.h"
#include "util/transpose.h"

namespace weightcast {

namespace {

constexpr int kStorageBits = 32;

}  // namespace

GroupQuantize::GroupQuantize(GroupQuantConfig config)
    : Scheme(config.name, QuantKind::kGroupQuant, config.model_dtype), config_(std::move(config)) {
  if (config_.bits > kStorageBits)
    fail("Storage unit should be greater or equal to quantized element");
  elems_per_word_ = kStorageBits / config_.bits;
  if (config_.group_size % elems_per_word_ != 0)
    fail("Group size should be divisible by numbers of elements per storage");
  words_per_group_ = config_.group_size / elems_per_word_;
}

bool GroupQuantize::quantizes(const ParamDef& p) const {
  if (p.role == ParamRole::kLinearWeight) return quantizes_linear(p, config_.quantize_final_fc);
  if (p.role == ParamRole::kEmbedding) return config_.quantize_embedding;
  if (p.role == ParamRole::kExperts) {
    if (config_.layout == Layout::kKN)
      fail<NotImplementedError>("GroupQuantizeMixtralExperts does not support KN layout now.");
    return true;
  }
  return false;
}

bool GroupQuantize::transposes(const ParamDef& p) const {
  return config_.layout == Layout::kKN && p.role == ParamRole::kLinearWeight;
}

std::vector<OutputDef> GroupQuantize::outputs(const ParamDef& param,
                                              const ExpectedShape& shape) const {
  if (!quantizes(param)) return {{param.name, shape, param.dtype.value_or(config_.model_dtype)}};
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
  return {{module_part(param.name, "q_weight"), weight, DType::kU32},
          {module_part(param.name, "q_scale"), scale, config_.model_dtype}};
}

void GroupQuantize::check(const ParamDef& param, const Shape&, int shards) const {
  const auto& shape = param.shape;  // per shard
  if (shards <= 1 || !quantizes(param) || shape.back().symbolic()) return;
  const std::int64_t k = shape.back().value, t = shards, gs = config_.group_size;
  // GroupQuantizeLinear's own check, on the per-shard in_features
  // (docs/mlc-format.md#group-quantization-limits).
  if (param.role == ParamRole::kLinearWeight && (k * t / gs) % t != 0)
    fail(
        "The linear dimension {} has {} groups under group size {}. The groups cannot be evenly "
        "distributed on {} GPUs.\nPossible solutions: reduce number of GPUs, or use quantization "
        "with smaller group size.",
        k * t, k * t / gs, gs, t);
  if (!param.shard) return;
  if (config_.layout == Layout::kKN)
    fail<NotImplementedError>(
        "{}: pre-sharding is not possible with {} (KN layout): MLC's shard functions split the "
        "transposed q_weight along the wrong axis and fail; use an NK scheme such as {}",
        param.name, config_.name, config_.model_dtype == DType::kBF16 ? "q4bf16_1" : "q4f16_1");
  const auto groups = [&](std::int64_t n) { return (n + gs - 1) / gs; };
  if (param.shard->dim == static_cast<int>(shape.size()) - 1 && groups(k) * t != groups(k * t))
    fail<NotImplementedError>(
        "{}: its {} input features split into {} shards of {}, but {} groups of {} do not split "
        "evenly ({} per shard x {} != {}); MLC's shard function fails on this too",
        param.name, k * t, t, k, groups(k * t), gs, groups(k), t, groups(k * t));
}

void GroupQuantize::quantize_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                                  std::size_t end, std::uint32_t* weight, std::byte* scale,
                                  ThreadPool& pool, const KernelOptions& options,
                                  std::size_t kn_stride) const {
  const std::size_t k = input.row_size();
  const auto groups = static_cast<std::size_t>((k + config_.group_size - 1) / config_.group_size);
  const std::size_t words = groups * static_cast<std::size_t>(words_per_group_);
  const GroupKernelArgs args{config_.model_dtype, config_.bits, config_.group_size,
                             !(transposes(param) && config_.model_dtype == DType::kBF16),
                             options.round_mode};
  const std::size_t elem = dtype_size(config_.model_dtype);
  const std::size_t scale_row = groups * elem;
  // Each thread takes ~256 KiB of rows at a time and works through them in steps of ~32 KiB:
  // cast a step into a buffer, quantize it while it is in cache, and meanwhile let the kernel
  // pull the next step's source bytes into L2, so that the cast does not wait on DRAM.
  const std::size_t row_bytes = std::max<std::size_t>(1, k * elem);
  const std::size_t step = std::max<std::size_t>(1, (32u << 10) / row_bytes);
  // The KN layout: a thread's rows are quantized into buffers of its own and transposed into
  // place from there, while in cache, rather than in a second pass over the whole tensor (which
  // took a sixth of a q4f16_0 conversion). 64 rows at least, the transpose's tile.
  const std::size_t grain = kn_stride ? std::max<std::size_t>(8 * step, 64) : 8 * step;
  pool.parallel_for(end - begin, grain, [&](std::size_t b, std::size_t e) {
    thread_local std::vector<std::byte> block;
    thread_local std::vector<std::uint32_t> kn_weight;
    thread_local std::vector<std::byte> kn_scale;
    block.resize(std::min(e - b, step) * row_bytes);
    std::uint32_t* weight_rows = weight + b * words;
    std::byte* scale_rows = scale + b * scale_row;
    if (kn_stride) {
      kn_weight.resize((e - b) * words);
      kn_scale.resize((e - b) * scale_row);
      weight_rows = kn_weight.data();
      scale_rows = kn_scale.data();
    }
    for (std::size_t r = b; r < e; r += step) {
      const std::size_t n = std::min(step, e - r);
      input.fill(begin + r, begin + r + n, block.data());
      GroupKernelArgs step_args = args;
      if (r + n < e)
        step_args.prefetch = input.source_bytes(begin + r + n, begin + std::min(e, r + n + step));
      group_quantize_rows(step_args, block.data(), n, k, weight_rows + (r - b) * words,
                          scale_rows + (r - b) * scale_row);
    }
    if (!kn_stride) return;
    transpose_block(kn_weight.data(), e - b, words, weight + b, kn_stride);
    if (elem == 2)
      transpose_block(reinterpret_cast<const std::uint16_t*>(kn_scale.data()), e - b, groups,
                      reinterpret_cast<std::uint16_t*>(scale) + b, kn_stride);
    else
      transpose_block(reinterpret_cast<const std::uint32_t*>(kn_scale.data()), e - b, groups,
                      reinterpret_cast<std::uint32_t*>(scale) + b, kn_stride);
  });
}

Tensor GroupQuantize::scale_tensor(const ParamDef& param, const ParamRows& input, bool kn) const {
  const auto groups =
      (static_cast<std::int64_t>(input.row_size()) + config_.group_size - 1) / config_.group_size;
  Shape shape(input.shape().begin(), input.shape().end() - 1);
  shape.push_back(groups);
  if (kn) std::swap(shape[0], shape[1]);
  return Tensor::allocate(outputs(param, concrete(input.shape()))[1].name, config_.model_dtype,
                          shape);
}

std::vector<Tensor> GroupQuantize::compute(const ParamDef& param, const ParamRows& input,
                                           ThreadPool& pool, const KernelOptions& options) const {
  std::vector<Tensor> out;
  if (!quantizes(param)) {
    out.push_back(materialize(param.name, input, pool));
    return out;
  }
  const auto defs = outputs(param, concrete(input.shape()));
  const std::size_t k = input.row_size();
  const auto groups = static_cast<std::size_t>((k + config_.group_size - 1) / config_.group_size);
  const bool kn = transposes(param);  // 2-D (checked in outputs)
  Shape weight_shape(input.shape().begin(), input.shape().end() - 1);
  weight_shape.push_back(static_cast<std::int64_t>(groups) * words_per_group_);
  if (kn) std::swap(weight_shape[0], weight_shape[1]);
  Tensor weight = Tensor::allocate(defs[0].name, DType::kU32, weight_shape);
  Tensor scale = scale_tensor(param, input, kn);
  quantize_rows(param, input, 0, input.rows(), weight.as<std::uint32_t>(), scale.buffer.get(), pool,
                options, kn ? input.rows() : 0);
  out.push_back(std::move(weight));
  out.push_back(std::move(scale));
  return out;
}

std::vector<Tensor> GroupQuantize::start_rows(const ParamDef& param, const ParamRows& input) const {
  std::vector<Tensor> rest;
  rest.push_back(scale_tensor(param, input));
  return rest;
}

void GroupQuantize::compute_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                                 std::size_t end, std::byte* first, std::vector<Tensor>& rest,
                                 ThreadPool& pool, const KernelOptions& options) const {
  auto& scale = rest.at(0);
  const std::size_t scale_row =
      static_cast<std::size_t>(scale.shape.back()) * dtype_size(config_.model_dtype);
  quantize_rows(param, input, begin, end, reinterpret_cast<std::uint32_t*>(first),
                scale.buffer.get() + begin * scale_row, pool, options);
}

}  // namespace weightcast
