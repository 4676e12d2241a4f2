// Medusa (MLC's medusa/): medusa_num_heads extra decoding heads, each medusa_num_layers
// residual blocks (a Linear with a bias) and a Linear to the vocabulary, all read one to one
// under MLC's own names (medusa_head.H.L...). MLC registers no quantization for it but q0 (no
// group quantization, no ft-quant), and none of its tensors splits across shards.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"medusa_num_heads", "medusa_num_layers", "hidden_size", "vocab_size"});
  const auto heads = c.require_size("medusa_num_heads");
  const auto layers = c.require_size("medusa_num_layers");
  const auto hidden = require_positive(c, "hidden_size");
  const auto vocab = require_positive(c, "vocab_size");
  if (heads < 0 || layers < 0)
    fail("{}: medusa_num_heads and medusa_num_layers must not be negative", c.path().string());
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(c.shards());
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto block = fmt::format("medusa_head.{}.{}.linear", h, l);
      def.linear(block, hidden, hidden, {block}, {.bias = true});
    }
    const auto head = fmt::format("medusa_head.{}.{}", h, layers);
    def.linear(head, vocab, hidden, {head});
  }
  return def;
}

}  // namespace

extern const Architecture kMedusa{"medusa", {QuantKind::kNoQuant}, build};

}  // namespace weightcast
