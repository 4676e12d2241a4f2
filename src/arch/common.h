// Helpers the architecture files share: the attention head layout most decoders use and MLC's
// tensor-parallel split checks.
#pragma once

#include <fmt/format.h>

#include "arch/architecture.h"
#include "util/error.h"

namespace weightcast {

inline Dim num(std::int64_t v) {
  return Dim{v, {}};
}

struct Heads {
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  // Rows of q and of k (= v) in one tensor-parallel shard.
  std::int64_t q_rows(std::int64_t t) const { return heads / t * head_dim; }
  std::int64_t kv_rows(std::int64_t t) const { return kv_heads / t * head_dim; }
};

// num_attention_heads, num_key_value_heads (default: heads), head_dim (default: hidden / heads),
// checked for consistency and for an even split over `t` shards.
Heads read_heads(const ModelConfig& c, std::int64_t hidden, std::int64_t t,
                 bool kv_heads_required = false);

// MLC's "Cannot split {what} evenly to {t} GPUs." check, e.g. what = "MLP intermediate size 96".
void check_split(std::int64_t value, std::int64_t t, std::string_view what_format);

// Positive sizes or a clear error naming the field.
std::int64_t require_positive(const ModelConfig& c, std::string_view key);

// FP8 block-quantized checkpoints (DeepSeek-V3, Qwen3-FP8): weight_block_size from
// quantization_config, which must describe exactly that format.
void read_weight_block_size(const ModelConfig& c, ModelDef& def);

}  // namespace weightcast
