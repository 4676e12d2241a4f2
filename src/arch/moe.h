// Mixture-of-experts config reading shared by the MoE architectures.
#pragma once

#include "arch/standard.h"

namespace weightcast {

// The Qwen MoE families: `count_key` experts in every layer (decoder_sparse_step 1), each of
// moe_intermediate_size, split evenly over `shards`.
inline RoutedExperts read_routed_experts(const ModelConfig& c, std::string_view count_key,
                                         std::int64_t shards) {
  RoutedExperts moe;
  moe.count = c.get_int(count_key, 0);
  if (moe.count <= 0 || c.get_int("decoder_sparse_step", 0) != 1)
    fail(
        "{}: Currently only support use moe for every layer. ({} {} and decoder_sparse_step {} "
        "must be positive and 1)",
        c.path().string(), count_key, moe.count, c.get_int("decoder_sparse_step", 0));
  moe.intermediate = c.get_int("moe_intermediate_size", 0);
  if (moe.intermediate <= 0)
    fail("{}: moe_intermediate_size must be positive, got {}", c.path().string(), moe.intermediate);
  check_split(moe.intermediate, shards, "MoE intermediate size {}");
  return moe;
}

}  // namespace weightcast
