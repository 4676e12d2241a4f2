// The HF Llama-style decoder under MLC's names, as MLC's make_standard_hf_loader maps it:
// q/k/v fused into one Linear, o, gate|up fused (or kept apart), down, per-layer norms. The
// architectures that only rename or drop pieces of it describe themselves with a Layout.
#pragma once

#include "arch/common.h"

namespace weightcast {

struct StandardLayout {
  std::string qkv = "qkv_proj";  // MLC name of the fused q|k|v Linear
  bool qkv_bias = false;
  std::string o = "o_proj";  // MLC name of the output projection (HF: o_proj)
  bool fused_gate_up = true;
  std::vector<std::string> norms = {"input_layernorm", "post_attention_layernorm"};
  bool norm_bias = false;  // LayerNorm with a bias
  bool qk_norm = false;    // OLMo2: q_norm over all q rows, k_norm over all k rows
  bool final_norm = true;
  enum class LmHead { kUnlessTied, kAlways, kNever } lm_head = LmHead::kUnlessTied;
  bool symbolic_vocab = false;  // vocab_size as a tirx.Var rather than a number
  bool unused_rotary = false;   // rotary_emb.inv_freq declared unused
  bool shard_mlp = true;        // gate_up / down carry shard strategies
};

struct StandardDims {
  std::int64_t hidden = 0, intermediate = 0, layers = 0, vocab = 0, shards = 1;
  Heads heads;
};

// hidden_size, intermediate_size, num_hidden_layers, vocab_size and the heads, checked.
StandardDims read_standard_dims(const ModelConfig& c, bool kv_heads_required);

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims,
                        const StandardLayout& layout);

}  // namespace weightcast
