// Llama's GGUF view: llama.cpp's tensor names, its q/k row permutation, and the llama.* metadata
// that make a config.json (docs/source-formats.md#gguf-llama-view).
#include <map>
#include <regex>

#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

// llama.cpp's names -> HuggingFace Llama names; anything else keeps its name.
std::string hf_name(const std::string& g) {
  static const std::regex blk(R"(blk\.(\d+)\.(\w+)\.(weight|bias))");
  static const std::map<std::string, std::string> layer = {
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
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  std::smatch m;
  if (std::regex_match(g, m, blk)) {
    auto it = layer.find(m[2].str());
    if (it != layer.end())
      return "model.layers." + m[1].str() + "." + it->second + "." + m[3].str();
  }
  return g;
}

GgufNaming naming(const GgufModel& model) {
  const auto& f = model.first();
  const auto heads = f.get_int("llama.attention.head_count");
  const auto kv_heads = f.find_int("llama.attention.head_count_kv").value_or(heads);
  if (heads <= 0 || kv_heads <= 0) fail("{}: head counts must be positive", model.path().string());
  return [heads, kv_heads](const std::string& gguf_name) {
    GgufTensorName name{hf_name(gguf_name)};
    if (name.hf.ends_with("self_attn.q_proj.weight")) name.unpermute_heads = heads;
    if (name.hf.ends_with("self_attn.k_proj.weight")) name.unpermute_heads = kv_heads;
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const auto& f = model.first();
  const std::string p = "llama.";
  nlohmann::json cfg;
  cfg["model_type"] = "llama";
  cfg["hidden_size"] = f.get_int(p + "embedding_length");
  cfg["intermediate_size"] = f.get_int(p + "feed_forward_length");
  cfg["num_hidden_layers"] = f.get_int(p + "block_count");
  const auto heads = f.get_int(p + "attention.head_count");
  cfg["num_attention_heads"] = heads;
  cfg["num_key_value_heads"] = f.find_int(p + "attention.head_count_kv").value_or(heads);
  cfg["rms_norm_eps"] = f.find_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  cfg["rope_theta"] = f.find_float(p + "rope.freq_base").value_or(10000.0);
  cfg["max_position_embeddings"] = f.find_int(p + "context_length").value_or(2048);
  if (const auto key_length = f.find_int(p + "attention.key_length").value_or(0); key_length > 0)
    cfg["head_dim"] = key_length;
  std::int64_t vocab = f.find_int(p + "vocab_size").value_or(-1);
  if (vocab < 0) {
    const auto* tokens = f.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GgufValueType::kArray)
      fail("{}: neither {}vocab_size nor tokenizer.ggml.tokens is present", model.path().string(),
           p);
    vocab = static_cast<std::int64_t>(tokens->array.size());
  }
  cfg["vocab_size"] = vocab;
  // TODO: search every part: a split file may keep output.weight in a later part.
  bool has_output = false;
  for (const auto& t : f.tensors()) has_output |= t.name == "output.weight";
  cfg["tie_word_embeddings"] = !has_output;
  return cfg;
}

}  // namespace

extern const GgufView kLlamaGguf{"llama", config, naming};

}  // namespace weightcast
