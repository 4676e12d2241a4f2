// Mixtral (MLC's mixtral_model.py / mixtral_loader.py): Llama's attention and config, and per
// layer a router `moe.gate` (left unquantized) with experts w1|w3 stacked as `moe.e1_e3` and w2
// as `moe.e2`, read from HF's block_sparse_moe.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"rms_norm_eps"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, false);
  RoutedExperts moe;
  moe.count = c.get_int("num_local_experts", 0);
  if (moe.count <= 0)
    fail("{}: num_local_experts must be positive, got {}", c.path().string(), moe.count);
  moe.intermediate = dims.intermediate;
  moe.mlc = "moe.";
  moe.hf = "block_sparse_moe.";
  moe.gate_up = "e1_e3";
  moe.down = "e2";
  moe.hf_names = {"w1", "w3", "w2"};
  StandardLayout layout;
  layout.experts = moe;
  layout.symbolic_vocab = true;
  layout.unused_rotary = true;
  return build_standard(c, dims, layout);
}

}  // namespace

// MLC registers an awq quantization for mixtral that raises NotImplementedError: not offered.
extern const Architecture kMixtral{
    "mixtral",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kPerTensor},
    build};

}  // namespace weightcast
