// DeepSeek-V2 / V3's GGUF view (`deepseek2`, MLC deepseek_v2 or deepseek_v3): multi-head latent
// attention, dense then MoE layers with shared experts. Newer llama.cpp converters split kv_b_proj
// per head into attn_k_b (each head's rows transposed) and attn_v_b; older ones keep attn_kv_b
// whole. Both read back as kv_b_proj (docs/source-formats.md#gguf-deepseek2-view).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <regex>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

const GgufNameTable kLayer = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_q_a", "self_attn.q_a_proj"},
    {"attn_q_a_norm", "self_attn.q_a_layernorm"},
    {"attn_q_b", "self_attn.q_b_proj"},
    {"attn_kv_a_mqa", "self_attn.kv_a_proj_with_mqa"},
    {"attn_kv_a_norm", "self_attn.kv_a_layernorm"},
    {"attn_kv_b", "self_attn.kv_b_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"ffn_gate_inp", "mlp.gate"},
    {"ffn_gate_shexp", "mlp.shared_experts.gate_proj"},
    {"ffn_up_shexp", "mlp.shared_experts.up_proj"},
    {"ffn_down_shexp", "mlp.shared_experts.down_proj"},
};

struct Mla {
  std::int64_t heads, rope, nope, v;
};

// A tensor's shape in C order (ggml's reversed), from whichever part holds it; empty if none does.
std::vector<std::int64_t> tensor_shape(const GgufModel& model, std::string_view name) {
  for (std::size_t p = 0; p < model.size(); ++p)
    for (const auto& t : model.part(p).tensors())
      if (t.name == name) return {t.ne.rbegin(), t.ne.rend()};
  return {};
}

// The split's sizes from the tensors themselves, whatever metadata the converter wrote.
Mla split_sizes(const GgufModel& model) {
  const auto k = tensor_shape(model, "blk.0.attn_k_b.weight");
  const auto v = tensor_shape(model, "blk.0.attn_v_b.weight");
  if (k.size() != 3 || v.size() != 3 || k[0] != v[0] || k[1] != v[2])
    fail(
        "{}: neither blk.0.attn_kv_b.weight nor blk.0.attn_k_b.weight [heads, rank, nope] and "
        "blk.0.attn_v_b.weight [heads, v, rank] (found [{}] and [{}])",
        model.path().string(), fmt::join(k, ", "), fmt::join(v, ", "));
  return {k[0], 0, k[2], v[1]};
}

bool split_kv_b(const GgufMeta& meta) {
  return !meta.has_tensor("blk.0.attn_kv_b.weight") && meta.has_tensor("blk.0.attn_k_b.weight");
}

// The attention sizes. Split files: nope and v from attn_k_b / attn_v_b. Otherwise from the *_mla
// keys where written (newer files, whose key_length and value_length describe llama.cpp's MQA
// form instead), else from key_length / value_length.
Mla read_mla(const GgufModel& model) {
  const GgufMeta meta(model);
  Mla s{meta.heads(), meta.get_int("rope.dimension_count"), 0, 0};
  const auto k = meta.find_int("attention.key_length_mla");
  if (split_kv_b(meta)) {
    const auto t = split_sizes(model);
    s.nope = t.nope;
    s.v = t.v;
  } else {
    s.nope = k ? *k - s.rope : meta.get_int("attention.key_length") - s.rope;
    s.v = k ? meta.get_int("attention.value_length_mla") : meta.get_int("attention.value_length");
  }
  if (s.rope <= 0 || s.nope <= 0 || s.v <= 0)
    meta.fail_meta(fmt::format(
        "{}, {} and {} give the head sizes rope {}, nope {}, v {}: each must be positive",
        meta.key("rope.dimension_count"),
        meta.key(k ? "attention.key_length_mla" : "attention.key_length"),
        meta.key(k ? "attention.value_length_mla" : "attention.value_length"), s.rope, s.nope,
        s.v));
  return s;
}

// attn_k_b [heads, rank, nope] and attn_v_b [heads, v, rank] back into kv_b_proj
// [heads * (nope + v), rank]: k_b transposed per head, both flattened and concatenated, then each
// head's nope rows followed by its v rows.
GgufTensorName kv_b_part(const std::string& hf, bool k, const Mla& s) {
  GgufTensorName name{hf};
  name.transpose = k;
  name.flatten = true;
  name.concat_order = k ? 0 : 1;
  const auto per_head = s.nope + s.v, k_rows = s.heads * s.nope, nope = s.nope, v = s.v;
  name.rows = [per_head, k_rows, nope, v](std::int64_t r) {
    const auto head = r / per_head, i = r % per_head;
    return i < nope ? head * nope + i : k_rows + head * v + (i - nope);
  };
  return name;
}

GgufNaming naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto n_expert = meta.expert_count();
  const bool whole_kv_b = meta.has_tensor("blk.0.attn_kv_b.weight");
  const auto mla = whole_kv_b ? Mla{} : split_sizes(model);
  return [n_expert, whole_kv_b, mla](const std::string& g) {
    static const std::regex split(R"(blk\.(\d+)\.attn_(k|v)_b\.weight)");
    static const std::regex bias(R"(blk\.(\d+)\.exp_probs_b\.bias)");
    GgufTensorName name{gguf_to_hf(g, kLlamaStyleTop, kLayer)};
    if (name_expert_stack(g, n_expert, name)) return name;
    std::smatch m;
    if (std::regex_match(g, m, split) && !whole_kv_b)
      name =
          kv_b_part("model.layers." + m[1].str() + ".self_attn.kv_b_proj.weight", m[2] == "k", mla);
    else if (std::regex_match(g, m, split))
      name.skip = true;  // attn_kv_b is there as well: it is the checkpoint's own tensor
    else if (std::regex_match(g, m, bias))
      name.hf = "model.layers." + m[1].str() + ".mlp.gate.e_score_correction_bias";
    name.skip = name.skip || g == "rope_freqs.weight";
    return name;
  };
}

// rope_scaling from the yarn fields llama.cpp writes; yarn_log_multiplier is 0.1 * mscale_all_dim.
void rope_scaling(const GgufMeta& meta, nlohmann::json& cfg) {
  const auto* type = meta.file().find(meta.key("rope.scaling.type"));
  if (!type || type->type != GgufValueType::kString || type->s != "yarn") return;
  nlohmann::json r{{"type", "yarn"}};
  if (const auto f = meta.find_float("rope.scaling.factor")) r["factor"] = *f;
  if (const auto n = meta.find_int("rope.scaling.original_context_length"))
    r["original_max_position_embeddings"] = *n;
  if (const auto mul = meta.find_float("rope.scaling.yarn_log_multiplier"))
    r["mscale_all_dim"] = *mul / 0.1;
  if (const auto b = meta.find_float("rope.scaling.yarn_beta_fast")) r["beta_fast"] = *b;
  if (const auto b = meta.find_float("rope.scaling.yarn_beta_slow")) r["beta_slow"] = *b;
  cfg["rope_scaling"] = r;
}

void moe_fields(const GgufMeta& meta, nlohmann::json& cfg, bool noaux) {
  cfg["n_routed_experts"] = meta.get_int("expert_count");
  cfg["num_experts_per_tok"] = meta.get_int("expert_used_count");
  cfg["n_shared_experts"] = meta.find_int("expert_shared_count").value_or(0);
  cfg["moe_intermediate_size"] = meta.get_int("expert_feed_forward_length");
  cfg["first_k_dense_replace"] = meta.find_int("leading_dense_block_count").value_or(0);
  cfg["moe_layer_freq"] = 1;  // llama.cpp has every layer after the leading dense ones MoE
  cfg["routed_scaling_factor"] = meta.find_float("expert_weights_scale").value_or(1.0);
  cfg["norm_topk_prob"] = find_gguf_bool(meta, "expert_weights_norm").value_or(false);
  const auto gating = meta.find_int("expert_gating_func").value_or(1);  // 1 softmax, 2 sigmoid
  if (gating != 1 && gating != 2)
    meta.fail_meta(fmt::format("{} = {} is neither 1 (softmax) nor 2 (sigmoid)",
                               meta.key("expert_gating_func"), gating));
  cfg["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
  const auto groups = meta.find_int("expert_group_count").value_or(1);
  cfg["n_group"] = groups;
  cfg["topk_group"] = meta.find_int("expert_group_used_count").value_or(1);
  cfg["topk_method"] = noaux ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy";
}

// V3 (routing with a correction bias, noaux_tc) is told apart by its exp_probs_b tensors.
nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  const bool v3 =
      meta.has_tensor("blk." + std::to_string(meta.block_count() - 1) + ".exp_probs_b.bias");
  auto cfg = meta.base_config(v3 ? "deepseek_v3" : "deepseek_v2");
  const auto mla = read_mla(model);
  cfg.erase("head_dim");  // key_length is no head size here
  cfg["intermediate_size"] = meta.get_int("feed_forward_length");
  cfg["num_key_value_heads"] = mla.heads;  // MLA: the MQA form's 1 is llama.cpp's, HF has heads
  cfg["qk_rope_head_dim"] = mla.rope;
  cfg["qk_nope_head_dim"] = mla.nope;
  cfg["v_head_dim"] = mla.v;
  cfg["kv_lora_rank"] = meta.get_int("attention.kv_lora_rank");
  const auto q_rank = meta.find_int("attention.q_lora_rank").value_or(0);
  cfg["q_lora_rank"] = q_rank > 0 ? nlohmann::json(q_rank) : nlohmann::json();
  cfg["attention_bias"] =
      meta.has_tensor("blk.0.attn_kv_a_mqa.bias") || meta.has_tensor("blk.0.attn_output.bias");
  cfg["hidden_act"] = "silu";
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = 10000.0;
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 2048;
  moe_fields(meta, cfg, v3);
  rope_scaling(meta, cfg);
  return cfg;
}

}  // namespace

extern const GgufView kDeepseek2Gguf{"deepseek2", config, naming};

}  // namespace weightcast
