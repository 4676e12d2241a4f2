// DeepSeek V2 and V3 (MLC's deepseek_v2/, which serves both): multi-head latent attention, with
// w_uk (transposed) and w_uv cut per head out of kv_b_proj (which is kept as well); q_proj, or
// q_a_proj + q_a_layernorm + q_b_proj with q_lora_rank; dense MLPs for the first
// first_k_dense_replace layers, then routed experts stacked per layer, shared experts, a float32
// router output and (topk_method noaux_tc, V3) a float32 e_score_correction_bias.
#include "arch/standard.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"n_shared_experts", "num_experts_per_tok", "norm_topk_prob", "routed_scaling_factor",
             "scoring_func", "topk_method", "n_group", "topk_group", "attention_bias",
             "rms_norm_eps", "rope_theta"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto moe_inter = require_positive(c, "moe_intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  const auto heads = require_positive(c, "num_attention_heads");
  const auto kv_heads = require_positive(c, "num_key_value_heads");
  const auto experts = require_positive(c, "n_routed_experts");
  const auto shared = c.require_int("n_shared_experts");
  const auto first_dense = c.require_int("first_k_dense_replace");
  const auto freq = require_positive(c, "moe_layer_freq");
  const auto rank = require_positive(c, "kv_lora_rank");
  const auto rope = require_positive(c, "qk_rope_head_dim");
  const auto nope = require_positive(c, "qk_nope_head_dim");
  const auto v_dim = require_positive(c, "v_head_dim");
  const auto q_rank = c.get_int("q_lora_rank", 0);
  const bool bias = c.get_bool("attention_bias", false);
  const auto topk = c.get_string("topk_method", "");
  if (topk != "greedy" && topk != "group_limited_greedy" && topk != "noaux_tc")
    fail("Unsupported deepseek topk method: {}", topk);
  if (heads % kv_heads != 0)
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
         c.path().string(), heads, kv_heads);
  if (kv_heads != heads)
    fail<NotImplementedError>(
        "{}: MLC cuts w_uk / w_uv out of kv_b_proj with num_key_value_heads ({}) heads but "
        "declares them with num_attention_heads ({}); only equal counts convert",
        c.path().string(), kv_heads, heads);
  const auto t = c.shards();
  check_split(heads, t, "{} attention heads");
  check_split(inter, t, "MoE intermediate size {}");
  check_split(moe_inter, t, "MoE intermediate size {}");
  check_split(moe_inter * shared, t, "MoE intermediate size {}");
  const auto h = heads / t;  // heads per shard

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  read_weight_block_size(c, def);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  const auto q_dim = h * (nope + rope);
  const ShardStrategy rows{0, {}}, cols{1, {}};
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    if (q_rank <= 0) {
      def.linear(a + "q_proj", q_dim, hidden, {a + "q_proj"}, rows);
    } else {
      def.linear(a + "q_a_proj", q_rank, hidden, {a + "q_a_proj"}, {}, bias);
      def.norm(a + "q_a_layernorm", q_rank);
      def.linear(a + "q_b_proj", q_dim, q_rank, {a + "q_b_proj"}, rows);
    }
    def.linear(a + "kv_a_proj_with_mqa", rank + rope, hidden, {a + "kv_a_proj_with_mqa"}, {}, bias);
    def.norm(a + "kv_a_layernorm", rank);
    for (const bool uk : {true, false}) {
      const map::HeadSlice slice{kv_heads, nope + v_dim, uk ? 0 : nope, uk ? nope : nope + v_dim,
                                 uk};
      def.add(a + (uk ? "w_uk" : "w_uv"),
              uk ? ExpectedShape{num(h), num(rank), num(nope)}
                 : ExpectedShape{num(h), num(v_dim), num(rank)},
              ParamRole::kOther, {a + "kv_b_proj.weight"}, rows)
          .mapping = map::head_slice(slice);
    }
    def.linear(a + "o_proj", hidden, h * v_dim, {a + "o_proj"}, cols, bias);
    if (n >= first_dense && n % freq == 0) {
      const auto s = m + "shared_experts.";
      const auto si = moe_inter * shared / t;
      def.linear(s + "gate_up_proj", 2 * si, hidden, {s + "gate_proj", s + "up_proj"},
                 ShardStrategy{0, {si, si}});
      def.linear(s + "down_proj", hidden, si, {s + "down_proj"}, cols);
      RoutedExperts moe;
      moe.count = experts;
      moe.intermediate = moe_inter;
      add_routed_experts(def, l, moe, hidden, t);
      if (topk == "noaux_tc")
        def.add(m + "e_score_correction_bias", {num(experts)}, ParamRole::kOther,
                {m + "gate.e_score_correction_bias"})
            .dtype = DType::kF32;
    } else {
      const auto i = inter / t;
      def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
                 ShardStrategy{0, {i, i}});
      def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, cols);
    }
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
  // kv_b_proj is an MLC parameter as well, mapped after w_uk / w_uv: they are loaded first.
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto a = fmt::format("model.layers.{}.self_attn.", n);
    def.linear(a + "kv_b_proj", h * (nope + v_dim), rank, {a + "kv_b_proj"}, ShardStrategy{0, {}});
  }
  def.norm("model.norm", hidden);
  def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kDeepseekV2{
    "deepseek_v2", {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt}, build};
extern const Architecture kDeepseekV3{
    "deepseek_v3",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kBlockScale},
    build};

}  // namespace weightcast
