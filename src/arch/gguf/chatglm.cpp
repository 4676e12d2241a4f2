// ChatGLM's GGUF view (ChatGLM2/3 layout): llama.cpp drops the "transformer." prefix and keeps
// the fused query_key_value and the fused gate|up dense_h_to_4h as they are; nothing else is
// changed (docs/source-formats.md#gguf-chatglm).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop = {{"token_embd", "transformer.embedding.word_embeddings"},
                            {"output_norm", "transformer.encoder.final_layernorm"},
                            {"output", "transformer.output_layer"}};
const GgufNameTable kLayer = {
    {"attn_norm", "input_layernorm"},        {"attn_qkv", "self_attention.query_key_value"},
    {"attn_output", "self_attention.dense"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_up", "mlp.dense_h_to_4h"},         {"ffn_down", "mlp.dense_4h_to_h"},
};

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) {
    return GgufTensorName{gguf_to_hf(g, kTop, kLayer, "transformer.encoder.layers.")};
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto hidden = meta.get_int("embedding_length"), heads = meta.heads();
  const auto kv_heads = meta.kv_heads();
  nlohmann::json cfg;
  cfg["model_type"] = "chatglm";
  cfg["hidden_size"] = hidden;
  cfg["num_layers"] = meta.block_count();
  cfg["num_attention_heads"] = heads;
  cfg["kv_channels"] = meta.find_int("attention.key_length").value_or(hidden / heads);
  cfg["ffn_hidden_size"] = meta.get_int("feed_forward_length");
  cfg["seq_length"] = meta.find_int("context_length").value_or(2048);
  cfg["padded_vocab_size"] = meta.vocab_size();
  cfg["layernorm_epsilon"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-5);
  cfg["rmsnorm"] = !meta.has_tensor("output_norm.bias");
  cfg["post_layer_norm"] = meta.has_tensor("output_norm.weight");
  cfg["add_bias_linear"] = meta.has_tensor("blk.0.attn_output.bias");
  cfg["add_qkv_bias"] = meta.has_tensor("blk.0.attn_qkv.bias");
  cfg["multi_query_attention"] = kv_heads != heads;
  cfg["multi_query_group_num"] = kv_heads;
  cfg["rope_ratio"] = meta.find_float("rope.freq_base").value_or(10000.0) / 10000.0;
  cfg["apply_query_key_layer_scaling"] = true;  // HF's default; GGUF does not say
  cfg["tie_word_embeddings"] = false;
  return cfg;
}

}  // namespace

extern const GgufView kChatGlmGguf{"chatglm", config, naming};

}  // namespace weightcast
