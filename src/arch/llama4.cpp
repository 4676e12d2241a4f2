// Llama 4 (MLC's llama4/): the text model of text_config, every HF tensor under `language_model.`
// and MLC's names; q/k/v/o apart (optional biases), and in every layer a mixture of experts with
// a shared expert: router.router (HF: router), experts.gate_up_proj [E, hidden, 2i] and
// experts.down_proj [E, i, hidden] kept as HF stores them (plain parameters: never quantized),
// and shared_expert.gate_up_proj from gate_proj | up_proj.
//
// MLC's loader maps every layer as a MoE layer, so a config with dense layers (Maverick's
// interleave_moe_layer_step 2) fails in MLC; weightcast refuses it with that reason.
#include "arch/common.h"

namespace weightcast {

namespace {

struct Dims {
  std::int64_t hidden = 0, inter = 0, layers = 0, vocab = 0, experts = 0, shards = 1;
  Heads h;
};

void check_moe_layers(const ModelConfig& t, std::int64_t layers) {
  const auto& j = t.json();
  std::vector<bool> moe(static_cast<std::size_t>(layers), false);
  if (j.contains("moe_layers") && j["moe_layers"].is_array()) {
    for (const auto& v : j["moe_layers"])
      if (v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() < layers)
        moe[v.get<std::size_t>()] = true;
  } else {
    const auto step = t.require_int("interleave_moe_layer_step");
    if (step <= 0) fail("{}: interleave_moe_layer_step must be positive", t.path().string());
    for (auto n = step - 1; n < layers; n += step) moe[static_cast<std::size_t>(n)] = true;
  }
  for (std::size_t n = 0; n < moe.size(); ++n)
    if (!moe[n])
      fail<NotImplementedError>(
          "llama4: layer {} is dense (moe_layers / interleave_moe_layer_step); MLC's Llama 4 "
          "loader maps every layer as a mixture of experts and cannot convert it",
          n);
}

Dims read_dims(const ModelConfig& c) {
  const auto& j = c.json();
  if (!j.contains("text_config") || !j["text_config"].is_object())
    fail("{}: text_config is missing (Llama 4's text model)", c.path().string());
  const ModelConfig t(j["text_config"], c.path());
  t.require({"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
             "rms_norm_eps", "rope_theta", "use_qk_norm", "interleave_moe_layer_step",
             "num_experts_per_tok", "num_local_experts", "hidden_act"});
  const auto& rs = t.json().value("rope_scaling", nlohmann::json());
  if (!rs.is_object() || !rs.contains("rope_type"))
    fail("{}: text_config.rope_scaling with a rope_type is required (MLC's Llama 4 sets it)",
         c.path().string());
  if (rs["rope_type"] != "llama3")
    fail("Unsupported RoPE scaling type {} for Llama", rs["rope_type"].dump());
  Dims d;
  d.shards = c.shards();
  d.hidden = require_positive(t, "hidden_size");
  d.inter = require_positive(t, "intermediate_size");
  d.layers = require_positive(t, "num_hidden_layers");
  d.experts = require_positive(t, "num_local_experts");
  if (d.experts > (1 << 16))
    fail("{}: text_config gives {} experts per layer: implausibly many", c.path().string(),
         d.experts);
  d.vocab = t.get_size("vocab_size", 202048);
  d.h = read_heads(t, d.hidden, {.fit = HeadFit::kDividesHidden});
  if (d.h.kv_heads % d.shards != 0)
    fail("num_kv_heads({}) must be divisible by tensor_parallel_shards", d.h.kv_heads);
  if (d.h.kv_heads < d.shards)
    fail("Too large tensor_parallel_shards, must be smaller than {}", d.h.kv_heads);
  check_split(d.inter, d.shards, "MLP intermediate size {}");
  check_moe_layers(t, d.layers);
  return d;
}

void add_layer(ModelDef& def, const Dims& d, bool bias, std::int64_t n) {
  const auto l = fmt::format("model.layers.{}.", n), hl = "language_model." + l;
  const auto a = l + "self_attn.", f = l + "feed_forward.", hf = hl + "feed_forward.";
  const auto t = d.shards, q = d.h.heads / t * d.h.head_dim, kv = d.h.kv_rows(t);
  const auto i = d.inter / t;
  def.linear(a + "q_proj", q, d.hidden, {"language_model." + a + "q_proj"},
             {.shard = ShardStrategy::rows(), .bias = bias});
  for (const char* p : {"k_proj", "v_proj"})
    def.linear(a + p, kv, d.hidden, {"language_model." + a + p},
               {.shard = ShardStrategy::rows(), .bias = bias});
  def.linear(a + "o_proj", d.hidden, q, {"language_model." + a + "o_proj"},
             {.shard = ShardStrategy::cols(), .bias = bias});
  const auto e = num(d.experts);
  def.add(f + "experts.gate_up_proj", {e, num(d.hidden), num(2 * i)}, ParamRole::kOther,
          {hf + "experts.gate_up_proj"}, ShardStrategy{2, {i, i}});
  def.add(f + "experts.down_proj", {e, num(i), num(d.hidden)}, ParamRole::kOther,
          {hf + "experts.down_proj"}, ShardStrategy{1, {}});
  def.linear(f + "router.router", d.experts / t, d.hidden, {hf + "router"},
             {.shard = ShardStrategy::rows()});
  const auto s = f + "shared_expert.", hs = hf + "shared_expert.";
  def.linear(s + "gate_up_proj", 2 * i, d.hidden, {hs + "gate_proj", hs + "up_proj"},
             {.shard = ShardStrategy::rows({i, i})});
  def.linear(s + "down_proj", d.hidden, i, {hs + "down_proj"}, {.shard = ShardStrategy::cols()});
  for (const char* norm : {"input_layernorm", "post_attention_layernorm"})
    def.norm(l + norm, d.hidden, {.source = hl + norm});
}

ModelDef build(const ModelConfig& c) {
  const auto d = read_dims(c);
  const ModelConfig text(c.json()["text_config"], c.path());
  const Dim vocab{d.vocab, "vocab_size"};
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(d.shards);
  def.add("model.embed_tokens.weight", {vocab, num(d.hidden)}, ParamRole::kEmbedding,
          {"language_model.model.embed_tokens.weight"});
  const bool bias = text.get_bool("attention_bias", false);
  for (std::int64_t n = 0; n < d.layers; ++n) add_layer(def, d, bias, n);
  def.norm("model.norm", d.hidden, {.source = "language_model.model.norm"});
  if (!text.get_bool("tie_word_embeddings", false))
    def.final_fc("lm_head", vocab, d.hidden, {.source = "language_model.lm_head"});
  return def;
}

}  // namespace

extern const Architecture kLlama4{"llama4", kStandardKinds | QuantKind::kPerTensor, build};

}  // namespace weightcast
