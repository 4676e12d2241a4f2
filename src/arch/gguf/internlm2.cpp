// InternLM2's GGUF view: llama.cpp split the fused wqkv (rows grouped per KV head: that head's
// q heads, then its k, then its v) into attn_q, attn_k and attn_v and permuted q and k like
// Llama's; the view un-permutes them, concatenates them and restores the grouping
// (docs/source-formats.md#gguf-internlm2).
#include <fmt/format.h>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop = {
    {"token_embd", "model.tok_embeddings"}, {"output_norm", "model.norm"}, {"output", "output"}};
const GgufNameTable kLayer = {
    {"attn_q", "attention.wqkv"},    {"attn_k", "attention.wqkv"},    {"attn_v", "attention.wqkv"},
    {"attn_output", "attention.wo"}, {"ffn_gate", "feed_forward.w1"}, {"ffn_up", "feed_forward.w3"},
    {"ffn_down", "feed_forward.w2"}, {"attn_norm", "attention_norm"}, {"ffn_norm", "ffn_norm"},
};

// HF's row r of wqkv within the rows of attn_q, attn_k and attn_v concatenated.
std::function<std::int64_t(std::int64_t)> grouped_rows(std::int64_t heads, std::int64_t kv_heads,
                                                       std::int64_t head_dim) {
  const auto per_kv = heads / kv_heads, q_rows = heads * head_dim, kv_rows = kv_heads * head_dim;
  return [=](std::int64_t r) {
    const auto group = r / ((per_kv + 2) * head_dim), slot = r / head_dim % (per_kv + 2),
               i = r % head_dim;
    if (slot < per_kv) return (group * per_kv + slot) * head_dim + i;
    return q_rows + (slot - per_kv) * kv_rows + group * head_dim + i;
  };
}

GgufNaming naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto heads = meta.heads(), kv_heads = meta.kv_heads();
  const auto hidden = meta.get_int("embedding_length");
  if (heads % kv_heads || hidden % heads)
    meta.fail_meta(fmt::format("{} heads, {} KV heads and hidden size {} do not divide evenly",
                               heads, kv_heads, hidden));
  const auto rows = grouped_rows(heads, kv_heads, hidden / heads);
  return [heads, kv_heads, rows](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kTop, kLayer)};
    if (is_block_weight(g, {"attn_q", "attn_k", "attn_v"})) {
      const auto part = gguf_block(g)->second;
      name.concat_order = part == "attn_q" ? 0 : part == "attn_k" ? 1 : 2;
      name.unpermute_heads = part == "attn_q" ? heads : part == "attn_k" ? kv_heads : 0;
      name.rows = rows;
    }
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "internlm2");
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["bias"] = meta.has_tensor("blk.0.attn_output.bias");
  cfg["hidden_act"] = "silu";  // HF's defaults; GGUF does not say
  cfg["use_cache"] = true;
  cfg["pad_token_id"] = gguf_token_id(meta, "padding", 0);
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 1);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kInternLm2Gguf{"internlm2", config, naming};

}  // namespace weightcast
