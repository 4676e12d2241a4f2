// Helpers the architecture files share: reading the attention heads and the other sizes from
// config.json, and MLC's tensor-parallel split checks.
#pragma once

#include <fmt/format.h>

#include <array>
#include <initializer_list>
#include <optional>

#include "arch/architecture.h"
#include "util/error.h"

namespace weightcast {

struct Heads {
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  // Rows of q and of k (= v) in one tensor-parallel shard.
  std::int64_t q_rows(std::int64_t t) const { return heads / t * head_dim; }
  std::int64_t kv_rows(std::int64_t t) const { return kv_heads / t * head_dim; }
};

// num_key_value_heads: absent or 0 means num_attention_heads (kOptional), a field without a
// default (kRequired), or not read at all: every head has its own k and v (kNone).
enum class KvHeads { kOptional, kRequired, kNone };
// How the heads fill hidden_size: any way, hidden_size % num_attention_heads == 0
// (kDividesHidden), or MLC's assert head_dim * num_attention_heads == hidden_size (kCoversHidden).
enum class HeadFit { kAny, kDividesHidden, kCoversHidden };

// How an architecture's config.json gives its attention heads.
struct HeadRules {
  KvHeads kv = KvHeads::kOptional;
  // head_dim (default: hidden / heads); false for latent attention (DeepSeek), which has none.
  bool head_dim = true;
  // The tensor-parallel shards the heads must split over, with the standard messages (1: the
  // architecture checks its split itself).
  std::int64_t shards = 1;
  HeadFit fit = HeadFit::kAny;  // checked last
  // The config keys, named in the messages (GPT-2 says n_head and n_embd).
  std::string_view heads_key = "num_attention_heads", hidden_key = "hidden_size";
};

// num_attention_heads, num_key_value_heads and head_dim, checked in this order: positive counts,
// heads a multiple of kv heads, the split over `shards`, the fit to hidden_size.
Heads read_heads(const ModelConfig& c, std::int64_t hidden, const HeadRules& rules = {});

// MLC's "Cannot split {what} evenly to {t} GPUs." check, e.g. what = "MLP intermediate size 96".
void check_split(std::int64_t value, std::int64_t t, std::string_view what_format);

// Positive sizes or a clear error naming the field.
std::int64_t require_positive(const ModelConfig& c, std::string_view key);

// FP8 block-quantized checkpoints (DeepSeek-V3, Qwen3-FP8): weight_block_size from
// quantization_config, which must describe exactly that format.
std::optional<std::array<std::int64_t, 2>> read_weight_block_size(const ModelConfig& c);

// Multimodal configs (Ministral 3, Qwen 3.5): text_config's fields laid over the top-level ones,
// except the `ignored` text_config keys and the `top_level_wins` keys, which keep the top-level
// value where there is one. A config without text_config is returned as it is.
ModelConfig merge_text_config(const ModelConfig& c, std::initializer_list<const char*> ignored,
                              std::initializer_list<const char*> top_level_wins);

}  // namespace weightcast
