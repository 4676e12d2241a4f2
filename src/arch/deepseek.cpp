// DeepSeek V2 and V3 (MLC's deepseek_v2/, which serves both): multi-head latent attention, with
// w_uk (transposed) and w_uv cut per head out of kv_b_proj (which is kept as well); q_proj, or
// q_a_proj + q_a_layernorm + q_b_proj with q_lora_rank; dense MLPs for the first
// first_k_dense_replace layers, then routed experts stacked per layer, shared experts, a float32
// router output and (topk_method noaux_tc, V3) a float32 e_score_correction_bias.
#include "arch/standard.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

// The sizes config.json gives, in MLC's names where they are short enough.
struct Sizes {
  std::int64_t hidden, inter, moe_inter, layers, vocab, heads, kv_heads, experts, shared,
      first_dense, freq, rank, rope, nope, v_dim, q_rank, t;
  bool bias;
  std::string topk;
};

Sizes read_sizes(const ModelConfig& c) {
  Sizes s{};
  c.require({"n_shared_experts", "num_experts_per_tok", "norm_topk_prob", "routed_scaling_factor",
             "scoring_func", "topk_method", "n_group", "topk_group", "attention_bias",
             "rms_norm_eps", "rope_theta"});
  c.require_context_window();
  s.hidden = require_positive(c, "hidden_size");
  s.inter = require_positive(c, "intermediate_size");
  s.moe_inter = require_positive(c, "moe_intermediate_size");
  s.layers = require_positive(c, "num_hidden_layers");
  s.vocab = require_positive(c, "vocab_size");
  const auto read = read_heads(c, s.hidden, {.kv = KvHeads::kRequired, .head_dim = false});
  s.heads = read.heads;
  s.kv_heads = read.kv_heads;
  s.experts = require_positive(c, "n_routed_experts");
  s.shared = c.require_int("n_shared_experts");
  s.first_dense = c.require_int("first_k_dense_replace");
  s.freq = require_positive(c, "moe_layer_freq");
  s.rank = require_positive(c, "kv_lora_rank");
  s.rope = require_positive(c, "qk_rope_head_dim");
  s.nope = require_positive(c, "qk_nope_head_dim");
  s.v_dim = require_positive(c, "v_head_dim");
  s.q_rank = c.get_int("q_lora_rank", 0);
  s.bias = c.get_bool("attention_bias", false);
  s.topk = c.get_string("topk_method", "");
  if (s.topk != "greedy" && s.topk != "group_limited_greedy" && s.topk != "noaux_tc")
    fail("Unsupported deepseek topk method: {}", s.topk);
  if (s.kv_heads != s.heads)
    fail<NotImplementedError>(
        "{}: MLC cuts w_uk / w_uv out of kv_b_proj with num_key_value_heads ({}) heads but "
        "declares them with num_attention_heads ({}); only equal counts convert",
        c.path().string(), s.kv_heads, s.heads);
  const auto t = s.t = c.shards();
  check_split(s.heads, t, "{} attention heads");
  check_split(s.inter, t, "MoE intermediate size {}");
  check_split(s.moe_inter, t, "MoE intermediate size {}");
  check_split(s.moe_inter * s.shared, t, "MoE intermediate size {}");
  return s;
}

// Every layer but kv_b_proj, which MLC maps after all of them.
void add_layers(ModelDef& def, const Sizes& sizes) {
  const auto [hidden, inter, moe_inter, layers, vocab, heads, kv_heads, experts, shared,
              first_dense, freq, rank, rope, nope, v_dim, q_rank, t, bias, topk] = sizes;
  const auto h = heads / t;  // heads per shard
  const auto q_dim = h * (nope + rope);
  const auto rows = ShardStrategy::rows(), cols = ShardStrategy::cols();
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    if (q_rank <= 0) {
      def.linear(a + "q_proj", q_dim, hidden, {a + "q_proj"}, {.shard = rows});
    } else {
      def.linear(a + "q_a_proj", q_rank, hidden, {a + "q_a_proj"}, {.bias = bias});
      def.norm(a + "q_a_layernorm", q_rank);
      def.linear(a + "q_b_proj", q_dim, q_rank, {a + "q_b_proj"}, {.shard = rows});
    }
    def.linear(a + "kv_a_proj_with_mqa", rank + rope, hidden, {a + "kv_a_proj_with_mqa"},
               {.bias = bias});
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
    def.linear(a + "o_proj", hidden, h * v_dim, {a + "o_proj"}, {.shard = cols, .bias = bias});
    if (n >= first_dense && n % freq == 0) {
      const auto s = m + "shared_experts.";
      const auto si = moe_inter * shared / t;
      def.linear(s + "gate_up_proj", 2 * si, hidden, {s + "gate_proj", s + "up_proj"},
                 {.shard = ShardStrategy::rows({si, si})});
      def.linear(s + "down_proj", hidden, si, {s + "down_proj"}, {.shard = cols});
      add_routed_experts(def, l, l, {.count = experts, .intermediate = moe_inter}, hidden, t);
      if (topk == "noaux_tc")
        def.add(m + "e_score_correction_bias", {num(experts)}, ParamRole::kOther,
                {m + "gate.e_score_correction_bias"})
            .dtype = DType::kF32;
    } else {
      const auto i = inter / t;
      def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
                 {.shard = ShardStrategy::rows({i, i})});
      def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, {.shard = cols});
    }
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
}

ModelDef build(const ModelConfig& c) {
  const auto s = read_sizes(c);
  const auto h = s.heads / s.t;
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(s.t);
  def.weight_block_size = read_weight_block_size(c);
  // MLC's MLA attention multiplies w_uk / w_uv with CUTLASS's groupwise GEMM, which takes 128 x 128
  // blocks only: it fails while exporting the model for any other size.
  if (const auto& b = def.weight_block_size; b && ((*b)[0] != 128 || (*b)[1] != 128))
    fail("block_size must be (128, 128), but got [{}, {}]", (*b)[0], (*b)[1]);
  def.add("model.embed_tokens.weight", {num(s.vocab), num(s.hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  add_layers(def, s);
  // kv_b_proj is an MLC parameter as well, mapped after w_uk / w_uv: they are loaded first.
  for (std::int64_t n = 0; n < s.layers; ++n) {
    const auto a = fmt::format("model.layers.{}.self_attn.", n);
    def.linear(a + "kv_b_proj", h * (s.nope + s.v_dim), s.rank, {a + "kv_b_proj"},
               {.shard = ShardStrategy::rows()});
  }
  def.norm("model.norm", s.hidden);
  def.final_fc("lm_head", num(s.vocab), s.hidden);
  return def;
}

}  // namespace

extern const Architecture kDeepseekV2{"deepseek_v2", kStandardKinds, build};
extern const Architecture kDeepseekV3{"deepseek_v3", kStandardKinds | QuantKind::kBlockScale,
                                      build};

}  // namespace weightcast
