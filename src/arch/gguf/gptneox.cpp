// GPT-NeoX's GGUF view: llama.cpp regrouped query_key_value's rows (HF: q, k, v per head) into
// all q, all k, all v, for the weight and the bias; the view restores HF's per-head order
// (docs/source-formats.md#gguf-gpt-neox).
#include <fmt/format.h>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop = {{"token_embd", "gpt_neox.embed_in"},
                            {"output_norm", "gpt_neox.final_layer_norm"},
                            {"output", "embed_out"}};
const GgufNameTable kLayer = {
    {"attn_norm", "input_layernorm"},          {"ffn_norm", "post_attention_layernorm"},
    {"attn_qkv", "attention.query_key_value"}, {"attn_output", "attention.dense"},
    {"ffn_up", "mlp.dense_h_to_4h"},           {"ffn_down", "mlp.dense_4h_to_h"},
};

GgufNaming naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto heads = meta.heads(), hidden = meta.get_int("embedding_length");
  if (hidden % heads)
    meta.fail_meta(fmt::format("{} heads do not divide the hidden size {}", heads, hidden));
  const auto head_dim = hidden / heads;
  return [head_dim, hidden](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kTop, kLayer, "gpt_neox.layers.")};
    const auto blk = gguf_block(g);
    if (blk && blk->second == "attn_qkv")
      // HF row (head, part, i) sits at GGUF row (part, head, i).
      name.rows = [head_dim, hidden](std::int64_t r) {
        const auto head = r / (3 * head_dim), part = r / head_dim % 3;
        return part * hidden + head * head_dim + r % head_dim;
      };
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "gpt_neox");
  cfg.erase("num_key_value_heads");
  cfg.erase("tie_word_embeddings");
  cfg.erase("rope_theta");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["layer_norm_eps"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["rotary_pct"] = gguf_rotary_fraction(meta, hidden / meta.heads());
  cfg["rotary_emb_base"] = meta.find_float("rope.freq_base").value_or(10000.0);
  cfg["use_parallel_residual"] = find_gguf_bool(meta, "use_parallel_residual").value_or(true);
  cfg["hidden_act"] = "gelu";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 0);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 0);
  return cfg;
}

}  // namespace

extern const GgufView kGptNeoxGguf{"gptneox", config, naming};

}  // namespace weightcast
