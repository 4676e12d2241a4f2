// Orion (MLC's orion/): the standard layout with LayerNorms (weight and bias) in place of
// RMSNorms, a symbolic vocabulary and an lm_head always.
#include "arch/standard.h"

namespace weightcast {

namespace {

// Orion's checks and messages (MLC's orion_model.py), in its order.
StandardDims read_dims(const ModelConfig& c) {
  StandardDims d;
  d.hidden = c.require_size("hidden_size");
  d.intermediate = c.require_size("intermediate_size");
  c.require_size("num_attention_heads");
  d.layers = c.require_size("num_hidden_layers");
  c.require_number("rms_norm_eps");
  d.vocab = c.require_size("vocab_size");
  c.require_context_window();
  if (d.hidden <= 0 || d.intermediate <= 0 || d.layers <= 0)
    fail("{}: hidden_size, intermediate_size and num_hidden_layers must be positive",
         c.path().string());
  const auto h = d.heads = read_heads(c, d.hidden, {.fit = HeadFit::kCoversHidden});
  const auto t = d.shards = c.shards();
  if (h.kv_heads % t != 0)
    fail("num_kv_heads({}) must be divisible by tensor_parallel_shards", h.kv_heads);
  if (h.kv_heads < t) fail("Too large tensor_parallel_shards, must be smaller than {}", h.kv_heads);
  check_split(d.intermediate, t, "MLP intermediate size {}");
  return d;
}

ModelDef build(const ModelConfig& c) {
  return build_standard(c, read_dims(c),
                        {.norm_bias = true,
                         .lm_head = StandardLayout::LmHead::kAlways,
                         .symbolic_vocab = true,
                         .unused_rotary = true});
}

}  // namespace

extern const Architecture kOrion{"orion", kBaseKinds, build};

}  // namespace weightcast
