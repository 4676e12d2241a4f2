// libFuzzer target: every architecture's config reading and parameter derivation on configs
// whose sizes, counts and flags come from the fuzzer (missing, zero, negative, huge, wrong type).
// Any input must end in a ModelDef or a weightcast::Error; UBSan watches the size arithmetic.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "weightcast/weightcast.h"

namespace {

// The union of the fields the architectures read, with small consistent values.
const nlohmann::json& base_config() {
  static const nlohmann::json base = nlohmann::json::parse(R"({
    "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "num_hidden_layers": 2, "vocab_size": 48, "max_position_embeddings": 256,
    "rms_norm_eps": 1e-6, "rope_theta": 10000, "hidden_act": "silu", "attention_bias": false,
    "tie_word_embeddings": false, "num_experts": 4, "num_local_experts": 4, "n_routed_experts": 4,
    "n_shared_experts": 1, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
    "first_k_dense_replace": 1, "moe_layer_freq": 1, "decoder_sparse_step": 1,
    "num_experts_per_tok": 2, "norm_topk_prob": false, "routed_scaling_factor": 1.0,
    "scoring_func": "softmax", "topk_method": "greedy", "n_group": 1, "topk_group": 1,
    "kv_lora_rank": 32, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
    "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 96, "n_positions": 32,
    "layer_norm_epsilon": 1e-5, "layer_norm_eps": 1e-5, "norm_epsilon": 1e-5,
    "use_bias": true, "bias": false, "use_cache": true, "bos_token_id": 1, "eos_token_id": 2,
    "pad_token_id": 0, "num_layers": 2, "ffn_hidden_size": 96, "kv_channels": 16,
    "layernorm_epsilon": 1e-5, "post_layer_norm": true, "rmsnorm": true, "add_bias_linear": false,
    "add_qkv_bias": true, "apply_query_key_layer_scaling": true, "multi_query_attention": true,
    "multi_query_group_num": 2, "padded_vocab_size": 48, "seq_length": 256,
    "use_parallel_residual": true, "rotary_pct": 0.25, "partial_rotary_factor": 0.5,
    "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 256, "initializer_range": 0.02,
    "query_pre_attn_scalar": 32, "sliding_window": 64, "hidden_activation": "gelu_pytorch_tanh",
    "mlp_bias": false, "use_qkv_bias": false, "q_lora_rank": null
  })");
  return base;
}

const std::vector<std::string>& fuzzed_fields() {
  static const std::vector<std::string> fields = [] {
    std::vector<std::string> out;
    for (const auto& [key, value] : base_config().items())
      if (value.is_number_integer() || value.is_boolean() || value.is_null()) out.push_back(key);
    out.push_back("tensor_parallel_shards");
    out.push_back("context_window_size");
    return out;
  }();
  return fields;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto& archs = weightcast::architectures();
  const auto* arch = archs[data[0] % archs.size()];
  nlohmann::json config = base_config();
  const auto& fields = fuzzed_fields();
  // Each 3-byte record rewrites one field: which, how, and a value byte.
  for (std::size_t i = 1; i + 3 <= size; i += 3) {
    const auto& key = fields[data[i] % fields.size()];
    const std::int64_t v = data[i + 2];
    switch (data[i + 1] % 7) {
      case 0:
        config.erase(key);
        break;
      case 1:
        config[key] = v;
        break;
      case 2:
        config[key] = -v;
        break;
      case 3:
        config[key] = std::int64_t{1} << (v % 63);
        break;
      case 4:
        config[key] = (v & 1) != 0;
        break;
      case 5:
        config[key] = "x";
        break;
      default:
        config[key] = static_cast<double>(v) / 3;
        break;
    }
  }
  try {
    (void)arch->build(weightcast::ModelConfig(std::move(config), "fuzz/config.json"));
  } catch (const weightcast::Error&) {
  }
  return 0;
}
