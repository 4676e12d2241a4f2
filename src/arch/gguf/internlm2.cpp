// InternLM2's GGUF view: llama.cpp split the fused wqkv (rows grouped per KV head: that head's
// q heads, then its k, then its v) into attn_q, attn_k and attn_v and permuted q and k like
// Llama's; the view un-permutes them, joins them and restores the grouping
// (docs/source-formats.md#gguf-internlm2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

const GgufNameTable& names() {
  static const GgufNameTable table{"model.layers.{}.",
                                   {{"token_embd.weight", "model.tok_embeddings.weight"},
                                    {"output_norm.weight", "model.norm.weight"},
                                    {"output.weight", "output.weight"}},
                                   {{"attn_q", "attention.wqkv"},
                                    {"attn_k", "attention.wqkv"},
                                    {"attn_v", "attention.wqkv"},
                                    {"attn_output", "attention.wo"},
                                    {"ffn_gate", "feed_forward.w1"},
                                    {"ffn_up", "feed_forward.w3"},
                                    {"ffn_down", "feed_forward.w2"},
                                    {"attn_norm", "attention_norm"},
                                    {"ffn_norm", "ffn_norm"}}};
  return table;
}

// HF's row r of wqkv within the rows of attn_q, attn_k and attn_v joined.
GgufRowOrder grouped_rows(std::int64_t heads, std::int64_t kv_heads, std::int64_t head_dim) {
  const auto per_kv = heads / kv_heads, q_rows = heads * head_dim, kv_rows = kv_heads * head_dim;
  return [=](std::int64_t r) {
    const auto group = r / ((per_kv + 2) * head_dim), slot = r / head_dim % (per_kv + 2),
               i = r % head_dim;
    if (slot < per_kv) return (group * per_kv + slot) * head_dim + i;
    return q_rows + (slot - per_kv) * kv_rows + group * head_dim + i;
  };
}

GgufNaming naming(const GgufModel& model) {
  const GgufKeys k(model, "internlm2");
  const auto heads = k.heads(), kv_heads = k.kv_heads(), hidden = k.get_int("embedding_length");
  if (heads % kv_heads || hidden % heads)
    fail("{}: {} heads, {} KV heads and hidden size {} do not divide evenly", k.label(), heads,
         kv_heads, hidden);
  const auto rows = grouped_rows(heads, kv_heads, hidden / heads);
  return [heads, kv_heads, rows](const std::string& gguf_name) {
    GgufTensorName name{rename_gguf(gguf_name, names())};
    const auto s = split_gguf_name(gguf_name);
    if (s.layer < 0 || s.suffix != "weight") return name;
    if (s.stem == "attn_q" || s.stem == "attn_k" || s.stem == "attn_v") {
      name.parts = 3;
      name.part = s.stem == "attn_q" ? 0 : s.stem == "attn_k" ? 1 : 2;
      name.unpermute_heads = s.stem == "attn_q" ? heads : s.stem == "attn_k" ? kv_heads : 0;
      if (name.part == 0) name.rows = rows;
    }
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "internlm2");
  auto cfg = k.decoder_config("internlm2");
  cfg["rms_norm_eps"] = k.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["bias"] = k.has_tensor("blk.0.attn_output.bias");
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["use_cache"] = true;
  cfg["pad_token_id"] = k.token_id("padding", 0);
  cfg["bos_token_id"] = k.token_id("bos", 1);
  cfg["eos_token_id"] = k.token_id("eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kInternLm2Gguf{"internlm2", config, naming};

}  // namespace weightcast
