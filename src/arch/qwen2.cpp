// Qwen2 (MLC's qwen2_model.py / qwen2_loader.py): the standard layout with q|k|v fused as
// `c_attn`, always with a bias, a concrete vocabulary dimension, optional tied embeddings.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "rms_norm_eps", "rope_theta", "num_key_value_heads"});
  c.require_context_window();
  return build_standard(
      c, read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden}),
      {.qkv = "c_attn", .qkv_bias = true, .unused_rotary = true});
}

}  // namespace

extern const Architecture kQwen2{"qwen2", kStandardKinds, build};

}  // namespace weightcast
