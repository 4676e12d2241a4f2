// GPT-2's GGUF view: llama.cpp transposed the Conv1D weights ([in, out] in HF) into Linear
// order; the view transposes them back and uses the unprefixed names of the original checkpoint
// (docs/source-formats.md#gguf-gpt-2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable& names() {
  static const GgufNameTable table{"h.{}.",
                                   {{"token_embd.weight", "wte.weight"},
                                    {"position_embd.weight", "wpe.weight"},
                                    {"output_norm.weight", "ln_f.weight"},
                                    {"output_norm.bias", "ln_f.bias"},
                                    {"output.weight", "lm_head.weight"}},
                                   {{"attn_norm", "ln_1"},
                                    {"ffn_norm", "ln_2"},
                                    {"attn_qkv", "attn.c_attn"},
                                    {"attn_output", "attn.c_proj"},
                                    {"ffn_up", "mlp.c_fc"},
                                    {"ffn_down", "mlp.c_proj"}}};
  return table;
}

GgufNaming naming(const GgufModel&) {
  return [](const std::string& gguf_name) {
    GgufTensorName name{rename_gguf(gguf_name, names())};
    const auto s = split_gguf_name(gguf_name);
    // Every Conv1D weight: the projections, not the norms.
    name.transpose = s.layer >= 0 && s.suffix == "weight" && s.stem != "attn_norm" &&
                     s.stem != "ffn_norm" && name.hf != gguf_name;
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "gpt2");
  nlohmann::json cfg;
  cfg["model_type"] = "gpt2";
  cfg["n_embd"] = k.get_int("embedding_length");
  cfg["n_layer"] = k.get_int("block_count");
  cfg["n_head"] = k.heads();
  cfg["n_inner"] = k.get_int("feed_forward_length");
  cfg["n_positions"] = k.find_int("context_length").value_or(1024);
  cfg["layer_norm_epsilon"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["vocab_size"] = k.vocab();
  cfg["activation_function"] = "gelu_new";  // HF's default; GGUF does not say
  cfg["scale_attn_by_inverse_layer_idx"] = false;
  cfg["bos_token_id"] = k.token_id("bos", 50256);
  cfg["eos_token_id"] = k.token_id("eos", 50256);
  return cfg;
}

}  // namespace

extern const GgufView kGpt2Gguf{"gpt2", config, naming};

}  // namespace weightcast
