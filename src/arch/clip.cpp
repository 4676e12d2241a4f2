#include "arch/clip.h"

namespace weightcast {

ClipDims read_clip_dims(const ModelConfig& c, std::string_view key) {
  const auto& j = c.json();
  if (!j.contains(key) || !j[std::string(key)].is_object())
    fail("{}: {} must be an object (the CLIP vision tower's config)", c.path().string(), key);
  const ModelConfig v(j[std::string(key)], c.path());
  v.require({"hidden_size", "image_size", "intermediate_size", "num_attention_heads",
             "num_hidden_layers", "patch_size"});
  for (const char* unused : {"projection_dim", "vocab_size"})  // required, but may be null
    if (!v.json().contains(unused))
      fail("{}: {} lacks \"{}\" (a CLIPVisionConfig field without a default)", c.path().string(),
           key, unused);
  ClipDims d;
  d.hidden = require_positive(v, "hidden_size");
  d.intermediate = require_positive(v, "intermediate_size");
  d.layers = require_positive(v, "num_hidden_layers");
  d.image_size = require_positive(v, "image_size");
  d.patch_size = require_positive(v, "patch_size");
  d.channels = v.get_size("num_channels", 3);
  const auto heads = require_positive(v, "num_attention_heads");
  if (d.hidden % heads != 0)
    fail("{}: {}.hidden_size {} must be divisible by num_attention_heads {}", c.path().string(),
         key, d.hidden, heads);
  return d;
}

void add_clip_tower(ModelDef& def, const std::string& mlc, const std::string& hf,
                    const ClipDims& d) {
  const auto h = d.hidden, patches = d.image_size / d.patch_size;
  const auto add = [&](const std::string& name, ExpectedShape shape) {
    def.add(mlc + "vision_model." + name, std::move(shape), ParamRole::kOther,
            {hf + "vision_model." + name});
  };
  add("embeddings.class_embedding", {num(h)});
  add("embeddings.patch_embedding.weight",
      {num(h), num(d.channels), num(d.patch_size), num(d.patch_size)});
  add("embeddings.position_embedding.weight", {num(patches * patches + 1), num(h)});
  add("pre_layrnorm.weight", {num(h)});  // sic: CLIP's own spelling
  add("pre_layrnorm.bias", {num(h)});
  for (std::int64_t n = 0; n < d.layers; ++n) {
    const auto l = fmt::format("encoder.layers.{}.", n);
    for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      add(l + "self_attn." + proj + ".weight", {num(h), num(h)});
      add(l + "self_attn." + proj + ".bias", {num(h)});
    }
    add(l + "layer_norm1.weight", {num(h)});
    add(l + "layer_norm1.bias", {num(h)});
    add(l + "mlp.fc1.weight", {num(d.intermediate), num(h)});
    add(l + "mlp.fc1.bias", {num(d.intermediate)});
    add(l + "mlp.fc2.weight", {num(h), num(d.intermediate)});
    add(l + "mlp.fc2.bias", {num(h)});
    add(l + "layer_norm2.weight", {num(h)});
    add(l + "layer_norm2.bias", {num(h)});
  }
  add("post_layernorm.weight", {num(h)});
  add("post_layernorm.bias", {num(h)});
}

}  // namespace weightcast
