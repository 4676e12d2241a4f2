// Ministral 3 (MLC's ministral3/, deployed by web-llm): Llama's parameters and mapping (fused
// qkv_proj and gate_up_proj, optionally tied embeddings) with a concrete vocabulary. A multimodal
// config nests the text model in text_config, which MLC merges over the top-level fields; with a
// vision_config present the language model's tensors are read under `language_model.` (the
// Pixtral tower and projector are not converted).
#include "arch/standard.h"

namespace weightcast {

namespace {

// quantization_config: MLC takes FP8 with static activations only (weight_block_size defaults to
// 128 x 128), and refuses anything else.
void check_quantization_config(const ModelConfig& c) {
  const auto& j = c.json();
  if (!j.contains("quantization_config")) return;
  const auto& q = j["quantization_config"];
  if (!q.is_object())
    fail("Invalid Ministral 3 model quantization config: unrecognized quantization config: {}",
         q.dump());
  // As MLC prints them: a string bare, anything else as JSON.
  const auto field = [&](const char* key) {
    const auto v = q.value(key, nlohmann::json(""));
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  const auto scheme = field("activation_scheme"), method = field("quant_method");
  if (q.value("quant_method", nlohmann::json()) != "fp8" ||
      q.value("activation_scheme", nlohmann::json()) != "static")
    fail(
        "Invalid Ministral 3 model quantization config: only FP8 static quantization is "
        "supported, got activation_scheme={}, quant_method={}",
        scheme, method);
  if (q.contains("weight_block_size") && !q["weight_block_size"].is_null() &&
      (!q["weight_block_size"].is_array() || q["weight_block_size"].size() != 2))
    fail(
        "Invalid Ministral3 quantization config: weight_block_size must be a list or tuple of "
        "two integers, got {}",
        q["weight_block_size"].dump());
  // MLC's loader then tiles per-tensor scales over the blocks (splitting a fused q|k|v into
  // three equal row ranges) and reads activation scales per source; not reproduced yet.
  fail<NotImplementedError>(
      "{}: FP8 Ministral 3 checkpoints (the block-scale schemes) are not supported yet; convert "
      "the BF16 release instead",
      c.path().string());
}

StandardDims read_dims(const ModelConfig& c) {
  StandardDims d;
  d.hidden = c.require_size("hidden_size");
  d.intermediate = c.require_size("intermediate_size");
  auto& h = d.heads;
  h.heads = c.require_size("num_attention_heads");
  d.layers = c.require_size("num_hidden_layers");
  c.require_number("rms_norm_eps");
  d.vocab = c.require_size("vocab_size");
  check_quantization_config(c);
  // A sliding window (null or absent: none) replaces the maximum length.
  if (c.get_int("sliding_window_size", 0) == 0 && !c.has("sliding_window"))
    c.require_context_window();
  h.kv_heads = c.get_size("num_key_value_heads", 0);
  if (h.kv_heads == 0) h.kv_heads = h.heads;
  h.head_dim = c.get_size("head_dim", 0);
  if (d.hidden <= 0 || d.intermediate <= 0 || h.heads <= 0 || h.kv_heads <= 0 || d.layers <= 0 ||
      d.vocab <= 0 || h.head_dim < 0)
    fail(
        "{}: hidden_size, intermediate_size, head counts, num_hidden_layers and vocab_size "
        "must be positive",
        c.path().string());
  if (h.head_dim == 0) h.head_dim = d.hidden / h.heads;
  if (h.heads % h.kv_heads != 0 || d.hidden % h.heads != 0)
    fail(
        "{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({}) and divide "
        "hidden_size ({})",
        c.path().string(), h.heads, h.kv_heads, d.hidden);
  const auto t = d.shards = c.shards();
  check_split(h.kv_heads, t, "{} key-value attention heads");
  check_split(d.intermediate, t, "MLP intermediate size {}");
  return d;
}

ModelDef build(const ModelConfig& config) {
  // MLC's Ministral3Config.from_dict: tie_word_embeddings and dtype stay the top level's.
  const auto c = merge_text_config(config, {}, {"tie_word_embeddings", "dtype"});
  const auto dims = read_dims(c);
  const bool multimodal = c.json().contains("vision_config");
  auto def =
      build_standard(c, dims, {.hf_prefix = multimodal ? "language_model.model." : "model."});
  if (multimodal)
    for (auto& p : def.params)
      if (p.name.starts_with("lm_head.")) p.sources = {"language_model." + p.sources.front()};
  // MLC declares inv_freq unused under the unprefixed name, whatever the prefix.
  for (std::int64_t n = 0; n < dims.layers; ++n)
    def.unused_sources.push_back(fmt::format("model.layers.{}.self_attn.rotary_emb.inv_freq", n));
  return def;
}

}  // namespace

// MLC also registers block-scale-quant (FP8 releases); those checkpoints are refused above.
extern const Architecture kMinistral3{"ministral3", kStandardKinds | QuantKind::kBlockScale, build};

}  // namespace weightcast
