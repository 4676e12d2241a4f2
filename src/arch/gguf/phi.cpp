// Phi's GGUF views: phi2 (MLC's "phi") and phi3. Neither is permuted. Phi 3 keeps HF's fused
// qkv_proj (attn_qkv) and gate_up_proj (ffn_up, 2 x n_ff rows) as they are; a Phi 2 file made
// from the original fused Wqkv is split back into q, k, v (docs/source-formats.md#gguf-phi-views).
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop2 = {{"token_embd", "model.embed_tokens"},
                             {"output_norm", "model.final_layernorm"},
                             {"output", "lm_head"}};
const GgufNameTable kLayer2 = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.dense"},
    {"ffn_up", "mlp.fc1"},
    {"ffn_down", "mlp.fc2"},
    {"attn_norm", "input_layernorm"},
};

GgufNaming naming2(const GgufModel& model) {
  const auto hidden = GgufMeta(model).get_int("embedding_length");
  return [hidden](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kTop2, kLayer2)};
    const auto blk = gguf_block(g);
    if (blk && blk->second == "attn_qkv") {  // [q; k; v], hidden rows each
      const auto suffix = g.substr(g.rfind('.'));
      const auto layer = "model.layers." + blk->first + ".self_attn.";
      name.slices = {{layer + "q_proj" + suffix, 0, hidden},
                     {layer + "k_proj" + suffix, hidden, 2 * hidden},
                     {layer + "v_proj" + suffix, 2 * hidden, 3 * hidden}};
    }
    return name;
  };
}

nlohmann::json phi2(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = meta.base_config("phi");
  cfg["layer_norm_eps"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["hidden_act"] = "gelu_new";
  const auto head_dim = cfg["hidden_size"].get<std::int64_t>() / meta.heads();
  const auto rot = meta.find_int("rope.dimension_count").value_or(head_dim / 2);
  cfg["partial_rotary_factor"] = static_cast<double>(rot) / static_cast<double>(head_dim);
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 2048;
  cfg["tie_word_embeddings"] = false;
  return cfg;
}

const GgufNameTable kTop3 = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
const GgufNameTable kLayer3 = {
    {"attn_qkv", "self_attn.qkv_proj"}, {"attn_output", "self_attn.o_proj"},
    {"ffn_up", "mlp.gate_up_proj"},     {"ffn_down", "mlp.down_proj"},
    {"attn_norm", "input_layernorm"},   {"ffn_norm", "post_attention_layernorm"},
};

GgufNaming naming3(const GgufModel&) {
  return [](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kTop3, kLayer3)};
    // LongRoPE's factors: config.json's rope_scaling in HF, not weights.
    name.skip = g.starts_with("rope_factors_");
    return name;
  };
}

nlohmann::json phi3(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = meta.base_config("phi3");
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-5);
  cfg["hidden_act"] = "silu";
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 4096;
  if (const auto orig = meta.find_int("rope.scaling.original_context_length"))
    cfg["original_max_position_embeddings"] = *orig;
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = 10000.0;
  return cfg;
}

}  // namespace

extern const GgufView kPhi2Gguf{"phi2", phi2, naming2};
extern const GgufView kPhi3Gguf{"phi3", phi3, naming3};

}  // namespace weightcast
