// LLaVA (MLC's llava/): a CLIP vision tower (vision_config, unquantized), the two-Linear
// multi_modal_projector and a Llama (or Mistral) language model under `language_model.`, every
// tensor under its HF name; q/k/v and gate/up fused as Llama's loader fuses them. The head is
// language_model.lm_head, which MLC's final-fc rule does not recognise (quantized by every
// group scheme).
//
// MLC reads text_config as a LlamaConfig (MistralConfig when a text_config naming its source
// model says MistralForCausalLM); for such a text_config (_name_or_path) MLC also fetches that
// model's config through transformers or its presets, which weightcast does not: text_config must
// carry the sizes itself. MLC builds the language model unsplit whatever the shard count, so its
// own pre-sharding cannot work: refused.
#include "arch/clip.h"
#include "arch/llama_like.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"image_token_index", "text_config", "vision_config", "vocab_size"});
  const auto& j = c.json();
  if (!j["text_config"].is_object())
    fail("{}: text_config must be an object (LLaVA's language model)", c.path().string());
  auto text_json = j["text_config"];
  text_json.erase("tensor_parallel_shards");
  const ModelConfig text(std::move(text_json), c.path());
  const auto& archs = text.json().value("architectures", nlohmann::json::array());
  const bool mistral = text.has("_name_or_path") && archs.is_array() && !archs.empty() &&
                       archs[0] == "MistralForCausalLM";
  const LlamaVariant variant{.may_tie_embeddings = !mistral, .sliding_window = mistral};
  const auto dims = read_llama_dims(text, variant);
  const auto clip = read_clip_dims(c, "vision_config");
  if (c.shards() > 1)
    fail<NotImplementedError>(
        "llava cannot be pre-sharded: MLC builds its language model unsplit whatever the shard "
        "count, so its own split of it fails");

  ModelDef def;
  add_clip_tower(def, "vision_tower.", "vision_tower.", clip);
  const std::string p = "multi_modal_projector.";
  def.linear(p + "linear_1", dims.hidden, clip.hidden, {p + "linear_1"}, {.bias = true});
  def.linear(p + "linear_2", dims.hidden, dims.hidden, {p + "linear_2"}, {.bias = true});
  auto lm = build_standard(text, dims,
                           {.mlc_prefix = "language_model.model.",
                            .hf_prefix = "language_model.model.",
                            .lm_head = StandardLayout::LmHead::kNever,
                            .symbolic_vocab = true,
                            .unused_rotary = true});
  for (auto& param : lm.params) def.params.push_back(std::move(param));
  def.unused_sources = std::move(lm.unused_sources);
  if (mistral || !text.get_bool("tie_word_embeddings", false))
    def.add("language_model.lm_head.weight", {Dim{dims.vocab, "vocab_size"}, num(dims.hidden)},
            ParamRole::kLinearWeight, {"language_model.lm_head.weight"});
  return def;
}

}  // namespace

// MLC registers AWQ for LLaVA, but its AWQ loader concatenates the packed q/k/v along the wrong
// axis (0, where its Llama loader uses 1); not offered.
extern const Architecture kLlava{"llava", kBaseKinds, build};

}  // namespace weightcast
