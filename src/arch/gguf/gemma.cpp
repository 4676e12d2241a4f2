// Gemma's GGUF views (gemma, gemma2, gemma3): no q/k permutation, no output.weight (the head is
// the embedding), and every norm stored as 1 + w in float32, undone here; Gemma 2 and 3 name
// their four norms differently from Gemma 1 (docs/source-formats.md#gguf-gemma-views).
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop = {{"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}};
const GgufNameTable kAttention = {
    {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},      {"attn_output", "self_attn.o_proj"},
    {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},       {"attn_norm", "input_layernorm"},
};

GgufNameTable with(GgufNameTable norms) {
  norms.insert(norms.begin(), kAttention.begin(), kAttention.end());
  return norms;
}

// Gemma 1: ffn_norm is the post-attention norm.
const GgufNameTable kLayer1 = with({{"ffn_norm", "post_attention_layernorm"}});
// Gemma 2 and 3: ffn_norm is the pre-feed-forward norm.
const GgufNameTable kLayer2 = with({{"post_attention_norm", "post_attention_layernorm"},
                                    {"ffn_norm", "pre_feedforward_layernorm"},
                                    {"post_ffw_norm", "post_feedforward_layernorm"}});

GgufTensorName rename(const std::string& g, const GgufNameTable& layer) {
  GgufTensorName name{gguf_to_hf(g, kTop, layer)};
  if (name.hf.ends_with("norm.weight")) name.add = -1.0f;  // llama.cpp stored 1 + w
  return name;
}

GgufNaming naming1(const GgufModel&) {
  return [](const std::string& g) { return rename(g, kLayer1); };
}

GgufNaming naming2(const GgufModel&) {
  return [](const std::string& g) { return rename(g, kLayer2); };
}

// What every Gemma shares; the fields GGUF lacks take HF's defaults.
nlohmann::json gemma_config(const GgufMeta& meta, std::string_view model_type) {
  auto cfg = meta.base_config(model_type);
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["head_dim"] = meta.find_int("attention.key_length").value_or(256);
  cfg["hidden_activation"] = "gelu_pytorch_tanh";
  cfg["attention_bias"] = false;
  cfg["tie_word_embeddings"] = true;
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = 10000.0;
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 8192;
  return cfg;
}

nlohmann::json gemma(const GgufModel& model) {
  return gemma_config(GgufMeta(model), "gemma");
}

nlohmann::json gemma2(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gemma_config(meta, "gemma2");
  cfg["query_pre_attn_scalar"] = 256;
  cfg["sliding_window"] = meta.find_int("attention.sliding_window").value_or(4096);
  cfg["attn_logit_softcapping"] = meta.find_float("attn_logit_softcapping").value_or(50.0);
  cfg["final_logit_softcapping"] = meta.find_float("final_logit_softcapping").value_or(30.0);
  return cfg;
}

// A Gemma 3 GGUF holds the text model only: MLC's flat gemma3_text.
nlohmann::json gemma3(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gemma_config(meta, "gemma3_text");
  cfg["query_pre_attn_scalar"] = 256;
  cfg["sliding_window"] = meta.find_int("attention.sliding_window").value_or(4096);
  if (!meta.find_float("rope.freq_base")) cfg["rope_theta"] = 1000000.0;
  cfg["rope_local_base_freq"] = 10000.0;
  return cfg;
}

}  // namespace

extern const GgufView kGemmaGguf{"gemma", gemma, naming1};
extern const GgufView kGemma2Gguf{"gemma2", gemma2, naming2};
extern const GgufView kGemma3Gguf{"gemma3", gemma3, naming2};

}  // namespace weightcast
