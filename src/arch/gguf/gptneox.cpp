// GPT-NeoX's GGUF view: llama.cpp regrouped query_key_value's rows (HF: q, k, v per head) into
// all q, all k, all v, for the weight and the bias; the view restores HF's per-head order
// (docs/source-formats.md#gguf-gpt-neox).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

const GgufNameTable& names() {
  static const GgufNameTable table{"gpt_neox.layers.{}.",
                                   {{"token_embd.weight", "gpt_neox.embed_in.weight"},
                                    {"output_norm.weight", "gpt_neox.final_layer_norm.weight"},
                                    {"output_norm.bias", "gpt_neox.final_layer_norm.bias"},
                                    {"output.weight", "embed_out.weight"}},
                                   {{"attn_norm", "input_layernorm"},
                                    {"ffn_norm", "post_attention_layernorm"},
                                    {"attn_qkv", "attention.query_key_value"},
                                    {"attn_output", "attention.dense"},
                                    {"ffn_up", "mlp.dense_h_to_4h"},
                                    {"ffn_down", "mlp.dense_4h_to_h"}}};
  return table;
}

GgufNaming naming(const GgufModel& model) {
  const GgufKeys k(model, "gptneox");
  const auto heads = k.heads(), hidden = k.get_int("embedding_length");
  if (hidden % heads)
    fail("{}: {} heads do not divide the hidden size {}", k.label(), heads, hidden);
  const auto head_dim = hidden / heads;
  return [head_dim, hidden](const std::string& gguf_name) {
    GgufTensorName name{rename_gguf(gguf_name, names())};
    if (split_gguf_name(gguf_name).stem == "attn_qkv")
      // HF row r = (head, part, i) sits at GGUF row (part, head, i).
      name.rows = [head_dim, hidden](std::int64_t r) {
        const auto head = r / (3 * head_dim), part = r / head_dim % 3;
        return part * hidden + head * head_dim + r % head_dim;
      };
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "gptneox");
  auto cfg = k.decoder_config("gpt_neox");
  cfg.erase("num_key_value_heads");
  cfg.erase("tie_word_embeddings");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["layer_norm_eps"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["rotary_pct"] = k.rotary_fraction(hidden / k.heads());
  cfg["rotary_emb_base"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["use_parallel_residual"] = k.find_bool("use_parallel_residual").value_or(true);
  cfg["hidden_act"] = "gelu";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = k.token_id("bos", 0);
  cfg["eos_token_id"] = k.token_id("eos", 0);
  return cfg;
}

}  // namespace

extern const GgufView kGptNeoxGguf{"gptneox", config, naming};

}  // namespace weightcast
