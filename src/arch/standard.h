// The HF Llama-style decoder under MLC's names, as MLC's make_standard_hf_loader maps it:
// q/k/v fused into one Linear, o, gate|up fused (or kept apart) and down, or routed experts in
// place of the MLP, and per-layer norms. The architectures that only rename, add or drop pieces
// of it describe themselves with a StandardLayout.
#pragma once

#include <array>

#include "arch/common.h"

namespace weightcast {

// A layer's routed experts: the router `<mlc>gate` (a Linear over `count` outputs, kept
// unquantized by MLC's is_moe_gate up to 256) and the experts stacked as MixtralExperts.
struct RoutedExperts {
  std::int64_t count = 0, intermediate = 0;  // intermediate: per expert, before the TP split
  std::string mlc = "mlp.", hf = "mlp.";     // module prefixes inside a layer
  std::string gate_up = "moe_gate_up_proj", down = "moe_down_proj";  // MLC names
  std::array<std::string, 3> hf_names = {"gate_proj", "up_proj", "down_proj"};
};

// Adds the router and the two stacked expert tensors of layer prefix `layer` ("model.layers.N.").
void add_routed_experts(ModelDef& def, const std::string& layer, const RoutedExperts& moe,
                        std::int64_t hidden, std::int64_t shards);

struct StandardLayout {
  std::string qkv = "qkv_proj";  // MLC name of the fused q|k|v Linear
  bool qkv_bias = false, o_bias = false;
  std::string o = "o_proj";  // MLC name of the output projection (HF: o_proj)
  // The dense MLP: gate|up fused into gate_up_proj, gate_proj and up_proj apart (Cohere), or
  // up_proj alone (Nemotron's squared ReLU); then down_proj.
  enum class Mlp { kFusedGateUp, kGateAndUp, kUpOnly } mlp = Mlp::kFusedGateUp;
  bool mlp_bias = false;
  std::optional<RoutedExperts> experts;  // in place of the dense MLP
  std::vector<std::string> norms = {"input_layernorm", "post_attention_layernorm"};
  bool norm_bias = false;                                                 // LayerNorm with a bias
  enum class QkNorm { kNone, kPerHead, kWhole } qk_norm = QkNorm::kNone;  // Qwen3 / OLMo2
  bool final_norm = true;
  enum class LmHead { kUnlessTied, kAlways, kNever } lm_head = LmHead::kUnlessTied;
  bool symbolic_vocab = false;  // vocab_size as a tirx.Var rather than a number
  bool unused_rotary = false;   // rotary_emb.inv_freq declared unused
};

struct StandardDims {
  std::int64_t hidden = 0, intermediate = 0, layers = 0, vocab = 0, shards = 1;
  Heads heads;
};

// hidden_size, intermediate_size, num_hidden_layers, vocab_size and the heads, checked; with
// `head_dim_covers_hidden`, MLC's assert head_dim * num_attention_heads == hidden_size.
StandardDims read_standard_dims(const ModelConfig& c, bool kv_heads_required,
                                bool head_dim_covers_hidden = false);

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims,
                        const StandardLayout& layout);

}  // namespace weightcast
