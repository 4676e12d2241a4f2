// GPT-2's GGUF view: llama.cpp transposed the Conv1D weights ([in, out] in HF) into Linear
// order; the view transposes them back and uses the unprefixed names of the original checkpoint
// (docs/source-formats.md#gguf-gpt-2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kTop = {
    {"token_embd", "wte"}, {"position_embd", "wpe"}, {"output_norm", "ln_f"}};
const GgufNameTable kLayer = {
    {"attn_norm", "ln_1"},          {"ffn_norm", "ln_2"},   {"attn_qkv", "attn.c_attn"},
    {"attn_output", "attn.c_proj"}, {"ffn_up", "mlp.c_fc"}, {"ffn_down", "mlp.c_proj"},
};

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kTop, kLayer, "h.")};
    name.transpose = is_block_weight(g, {"attn_qkv", "attn_output", "ffn_up", "ffn_down"});
    // Older llama.cpp wrote a copy of the embedding as the head; GPT-2 ties it (MLC reads wte).
    name.skip = g == "output.weight";
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  nlohmann::json cfg;
  cfg["model_type"] = "gpt2";
  cfg["n_embd"] = meta.get_int("embedding_length");
  cfg["n_layer"] = meta.block_count();
  cfg["n_head"] = meta.heads();
  cfg["n_inner"] = meta.get_int("feed_forward_length");
  cfg["n_positions"] = meta.find_int("context_length").value_or(1024);
  cfg["layer_norm_epsilon"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["vocab_size"] = meta.vocab_size();
  cfg["activation_function"] = "gelu_new";  // HF's defaults; GGUF does not say
  cfg["scale_attn_by_inverse_layer_idx"] = false;
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 50256);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 50256);
  return cfg;
}

}  // namespace

extern const GgufView kGpt2Gguf{"gpt2", config, naming};

}  // namespace weightcast
