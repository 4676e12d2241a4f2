#include "arch/gguf/family_helpers.h"

#include <fmt/format.h>

#include <regex>

namespace weightcast {

const GgufNameTable kLlamaStyleTop = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
const GgufNameTable kLlamaStyleLayer = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
};

bool name_expert_stack(const std::string& gguf_name, std::int64_t n_expert, GgufTensorName& name) {
  static const std::regex exps(R"(blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight)");
  std::smatch m;
  if (n_expert <= 0 || !std::regex_match(gguf_name, m, exps)) return false;
  name.slices = expert_slices(
      "model.layers." + m[1].str() + ".mlp.experts.{}." + m[2].str() + "_proj.weight", n_expert);
  return true;
}

bool is_block_weight(const std::string& g, std::initializer_list<std::string_view> modules) {
  const auto blk = gguf_block(g);
  if (!blk || !g.ends_with(".weight")) return false;
  for (const auto m : modules)
    if (blk->second == m) return true;
  return false;
}

GgufNaming llama_permuted_naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto heads = meta.heads(), kv_heads = meta.kv_heads();
  return [heads, kv_heads](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kLlamaStyleTop, kLlamaStyleLayer)};
    if (is_block_weight(g, {"attn_q"})) name.unpermute_heads = heads;
    if (is_block_weight(g, {"attn_k"})) name.unpermute_heads = kv_heads;
    return name;
  };
}

std::optional<bool> find_gguf_bool(const GgufMeta& meta, std::string_view key) {
  const auto* v = meta.file().find(meta.key(key));
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::kBool)
    meta.fail_meta(fmt::format("GGUF metadata {} has type {}, expected a bool", meta.key(key),
                               gguf_value_type_name(v->type)));
  return v->u != 0;
}

std::int64_t gguf_token_id(const GgufMeta& meta, std::string_view which, std::int64_t fallback) {
  return meta.file().find_int(fmt::format("tokenizer.ggml.{}_token_id", which)).value_or(fallback);
}

double gguf_rotary_fraction(const GgufMeta& meta, std::int64_t head_dim) {
  const auto dims = meta.find_int("rope.dimension_count");
  if (!dims) return 1.0;
  if (*dims <= 0 || *dims > head_dim)
    meta.fail_meta(fmt::format("GGUF metadata {} = {} is not within the head size {}",
                               meta.key("rope.dimension_count"), *dims, head_dim));
  return static_cast<double>(*dims) / static_cast<double>(head_dim);
}

nlohmann::json gguf_decoder_config(const GgufMeta& meta, std::string_view model_type) {
  auto cfg = meta.base_config(model_type);
  cfg["intermediate_size"] = meta.get_int("feed_forward_length");
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 2048;
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = 10000.0;
  return cfg;
}

}  // namespace weightcast
