// Mixtral (MLC's mixtral_model.py / mixtral_loader.py): Llama's attention and config, and per
// layer a router `moe.gate` (left unquantized) with experts w1|w3 stacked as `moe.e1_e3` and w2
// as `moe.e2`, read from HF's block_sparse_moe.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"rms_norm_eps"});
  c.require_context_window();
  const auto dims = read_standard_dims(c);
  const auto experts = c.get_int("num_local_experts", 0);
  if (experts <= 0)
    fail("{}: num_local_experts must be positive, got {}", c.path().string(), experts);
  return build_standard(c, dims,
                        {.experts = RoutedExperts{.count = experts,
                                                  .intermediate = dims.intermediate,
                                                  .mlc = "moe.",
                                                  .hf = "block_sparse_moe.",
                                                  .gate_up = "e1_e3",
                                                  .down = "e2",
                                                  .hf_names = {"w1", "w3", "w2"}},
                         .symbolic_vocab = true,
                         .unused_rotary = true});
}

}  // namespace

// MLC registers an awq quantization for mixtral that raises NotImplementedError: not offered.
extern const Architecture kMixtral{"mixtral", kStandardKinds | QuantKind::kPerTensor, build};

}  // namespace weightcast
