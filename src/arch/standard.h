// The HF Llama-style decoder under MLC's names, as MLC's make_standard_hf_loader maps it:
// q/k/v fused into one Linear, o, gate|up fused (or kept apart) and down, or routed experts in
// place of the MLP, and per-layer norms. Every architecture of that family describes itself
// with a StandardLayout, named options over Llama's defaults:
//   build_standard(c, dims, {.qkv = "c_attn", .qkv_bias = true, .unused_rotary = true});
#pragma once

#include <array>
#include <optional>

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

// Adds the router and the two stacked expert tensors of a layer, whose module prefix is `layer`
// in MLC and `hf_layer` in the source ("model.layers.N." both, usually).
void add_routed_experts(ModelDef& def, const std::string& layer, const std::string& hf_layer,
                        const RoutedExperts& moe, std::int64_t hidden, std::int64_t shards);

// Llama's layout by default; the fields in the order of a layer's parameters.
struct StandardLayout {
  // Module prefixes of the decoder (embedding, layers, final norm): MLC's and the source's.
  std::string mlc_prefix = "model.", hf_prefix = "model.";
  bool fused_qkv = true;         // false: q_proj, k_proj and v_proj kept apart (Gemma 3)
  std::string qkv = "qkv_proj";  // MLC name of the fused q|k|v Linear
  bool qkv_bias = false;
  std::string o = "o_proj";  // MLC name of the output projection (HF: o_proj)
  bool o_bias = false;
  enum class QkNorm { kNone, kPerHead, kWhole } qk_norm = QkNorm::kNone;  // Qwen3 / OLMo2
  // The dense MLP: gate|up fused into gate_up_proj, gate_proj and up_proj apart (Cohere), or
  // up_proj alone (Nemotron's squared ReLU); then down_proj.
  enum class Mlp { kFusedGateUp, kGateAndUp, kUpOnly } mlp = Mlp::kFusedGateUp;
  bool mlp_bias = false;
  std::optional<RoutedExperts> experts = std::nullopt;  // in place of the dense MLP
  std::vector<std::string> norms = {"input_layernorm", "post_attention_layernorm"};
  bool norm_bias = false;     // LayerNorm with a bias
  bool norm_add_one = false;  // Gemma: every norm weight stored + 1
  bool final_norm = true;
  enum class LmHead { kUnlessTied, kAlways, kNever } lm_head = LmHead::kUnlessTied;
  bool symbolic_vocab = false;  // vocab_size as a tirx.Var rather than a number
  bool unused_rotary = false;   // rotary_emb.inv_freq declared unused
};

struct StandardDims {
  std::int64_t hidden = 0, intermediate = 0, layers = 0, vocab = 0, shards = 1;
  Heads heads;
};

// hidden_size, intermediate_size, num_hidden_layers, vocab_size and the heads (read by `heads`,
// over tensor_parallel_shards), all checked.
StandardDims read_standard_dims(const ModelConfig& c, HeadRules heads = {});

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims,
                        const StandardLayout& layout);

}  // namespace weightcast
