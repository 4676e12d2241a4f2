// Mixture-of-experts helpers: the stacked expert tensors as MLC's loaders build them.
#pragma once

#include "arch/common.h"

namespace weightcast {

// "<mlc>.moe_gate_up_proj"-style experts: for each expert e, the sources
// "<prefix><e>.<name>.weight" for every name, in order (gate then up, or down alone).
inline void add_experts(ModelDef& def, const std::string& mlc, std::int64_t experts,
                        std::int64_t out, std::int64_t in, const std::string& prefix,
                        std::initializer_list<std::string_view> names,
                        std::optional<ShardStrategy> shard) {
  std::vector<std::string> sources;
  for (std::int64_t e = 0; e < experts; ++e)
    for (auto name : names) sources.push_back(fmt::format("{}{}.{}.weight", prefix, e, name));
  def.experts(mlc, experts, out, in, std::move(sources), std::move(shard));
}

// MLC's Qwen MoE decoder layers: experts in every layer.
inline void check_every_layer_sparse(const ModelConfig& c, std::int64_t experts) {
  if (experts <= 0 || c.get_int("decoder_sparse_step", 0) != 1)
    fail(
        "{}: Currently only support use moe for every layer. (num_experts {} and "
        "decoder_sparse_step {} must be positive and 1)",
        c.path().string(), experts, c.get_int("decoder_sparse_step", 0));
}

}  // namespace weightcast
