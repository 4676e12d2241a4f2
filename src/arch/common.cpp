#include "arch/common.h"

#include <algorithm>

#include <fmt/args.h>

namespace weightcast {

std::int64_t require_positive(const ModelConfig& c, std::string_view key) {
  const auto v = c.require_size(key);
  if (v <= 0) fail("{}: field \"{}\" must be positive, got {}", c.path().string(), key, v);
  return v;
}

Heads read_heads(const ModelConfig& c, std::int64_t hidden, const HeadRules& rules) {
  Heads h;
  h.heads = require_positive(c, rules.heads_key);
  if (rules.kv == KvHeads::kRequired)
    h.kv_heads = require_positive(c, "num_key_value_heads");
  else if (rules.kv == KvHeads::kOptional)
    h.kv_heads = c.get_size("num_key_value_heads", 0);
  if (h.kv_heads == 0) h.kv_heads = h.heads;
  if (rules.head_dim) {
    h.head_dim = c.get_size("head_dim", 0);
    if (h.head_dim == 0) h.head_dim = hidden / h.heads;
  }
  const bool bad_head_dim = rules.head_dim && h.head_dim <= 0;
  if (rules.kv != KvHeads::kNone && (h.kv_heads < 0 || bad_head_dim || h.heads % h.kv_heads != 0))
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
         c.path().string(), h.heads, h.kv_heads);
  const auto t = rules.shards;
  check_split(h.kv_heads, t, "{} key-value attention heads");
  if (h.heads % t != 0)
    fail("num_attention_heads ({}) must be divisible by tensor_parallel_shards ({})", h.heads, t);
  if (rules.fit == HeadFit::kDividesHidden && hidden % h.heads != 0)
    fail("{}: {} ({}) must be divisible by {} ({})", c.path().string(), rules.hidden_key, hidden,
         rules.heads_key, h.heads);
  if (rules.fit == HeadFit::kCoversHidden && h.head_dim * h.heads != hidden)
    fail("{}: head_dim ({}) x {} ({}) must equal {} ({})", c.path().string(), h.head_dim,
         rules.heads_key, h.heads, rules.hidden_key, hidden);
  return h;
}

void check_split(std::int64_t value, std::int64_t t, std::string_view what_format) {
  if (value % t == 0) return;
  fmt::dynamic_format_arg_store<fmt::format_context> args;
  args.push_back(value);
  fail("Cannot split {} evenly to {} GPUs.", fmt::vformat(what_format, args), t);
}

std::optional<std::array<std::int64_t, 2>> read_weight_block_size(const ModelConfig& c) {
  const auto& j = c.json();
  if (!j.contains("quantization_config")) return std::nullopt;
  const auto& q = j["quantization_config"];
  const bool fp8_blocks = q.is_object() && q.value("activation_scheme", "") == "dynamic" &&
                          q.value("fmt", "") == "e4m3" && q.value("quant_method", "") == "fp8" &&
                          q.contains("weight_block_size");
  if (!fp8_blocks)
    fail("Invalid DeepSeek model quantization config: unrecognized quantization config: {}",
         q.dump());
  const auto& b = q["weight_block_size"];
  if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
      b[0].get<std::int64_t>() <= 0 || b[1].get<std::int64_t>() <= 0)
    fail(
        "Invalid DeepSeek model quantization config: weight_block_size must be a tuple of two "
        "integers, got {}",
        b.dump());
  return std::array{b[0].get<std::int64_t>(), b[1].get<std::int64_t>()};
}

ModelConfig merge_text_config(const ModelConfig& c, std::initializer_list<const char*> ignored,
                              std::initializer_list<const char*> top_level_wins) {
  const auto& j = c.json();
  if (!j.contains("text_config") || !j["text_config"].is_object()) return c;
  auto merged = j;
  merged.erase("text_config");
  for (const auto& item : j["text_config"].items()) {
    const std::string& key = item.key();
    if (std::none_of(ignored.begin(), ignored.end(), [&](const char* k) { return key == k; }))
      merged[key] = item.value();
  }
  for (const char* key : top_level_wins)
    if (j.contains(key)) merged[key] = j[key];
  return ModelConfig(std::move(merged), c.path());
}

}  // namespace weightcast
