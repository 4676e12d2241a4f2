// Qwen's GGUF views (qwen2, qwen2moe, qwen3, qwen3moe): llama.cpp keeps HF's rows as they are (no
// q/k permutation) and stacks each MoE layer's experts per projection
// (docs/source-formats.md#gguf-qwen-views).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kLayer = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate_inp", "mlp.gate"},
    {"ffn_gate_shexp", "mlp.shared_expert.gate_proj"},
    {"ffn_up_shexp", "mlp.shared_expert.up_proj"},
    {"ffn_down_shexp", "mlp.shared_expert.down_proj"},
    {"ffn_gate_inp_shexp", "mlp.shared_expert_gate"},
};

GgufNaming naming(const GgufModel& model) {
  const auto n_expert = GgufMeta(model).expert_count();
  return [n_expert](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kLlamaStyleTop, kLayer)};
    name_expert_stack(g, n_expert, name);
    return name;
  };
}

// What every Qwen shares; the fields GGUF lacks take HF's defaults.
nlohmann::json qwen_config(const GgufMeta& meta, std::string_view model_type) {
  auto cfg = meta.base_config(model_type);
  cfg["hidden_act"] = "silu";
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = 10000.0;
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 32768;
  return cfg;
}

void moe_fields(const GgufMeta& meta, nlohmann::json& cfg) {
  cfg["num_experts"] = meta.get_int("expert_count");
  cfg["num_experts_per_tok"] = meta.get_int("expert_used_count");
  cfg["moe_intermediate_size"] = meta.get_int("expert_feed_forward_length");
  cfg["decoder_sparse_step"] = 1;
}

nlohmann::json qwen2(const GgufModel& model) {
  return qwen_config(GgufMeta(model), "qwen2");
}

nlohmann::json qwen2moe(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = qwen_config(meta, "qwen2_moe");
  moe_fields(meta, cfg);
  cfg["shared_expert_intermediate_size"] = meta.get_int("expert_shared_feed_forward_length");
  return cfg;
}

// Qwen 3's attention has biases only where the checkpoint had them.
nlohmann::json qwen3(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = qwen_config(meta, "qwen3");
  cfg["attention_bias"] = meta.has_tensor("blk.0.attn_q.bias");
  return cfg;
}

nlohmann::json qwen3moe(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = qwen_config(meta, "qwen3_moe");
  moe_fields(meta, cfg);
  cfg["attention_bias"] = meta.has_tensor("blk.0.attn_q.bias");
  if (!cfg.contains("intermediate_size")) cfg["intermediate_size"] = cfg["moe_intermediate_size"];
  return cfg;
}

}  // namespace

extern const GgufView kQwen2Gguf{"qwen2", qwen2, naming};
extern const GgufView kQwen2MoeGguf{"qwen2moe", qwen2moe, naming};
extern const GgufView kQwen3Gguf{"qwen3", qwen3, naming};
extern const GgufView kQwen3MoeGguf{"qwen3moe", qwen3moe, naming};

}  // namespace weightcast
