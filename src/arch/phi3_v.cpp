// Phi-3-vision (MLC's phi3v/): Phi-3's language model under `model.` (HF's names, read as phi3
// reads them), an lm_head always, and the image embedding: a CLIP ViT-L/14-336 tower, the
// learnt separators glb_GN / sub_GN and a two-Linear projection (HF's img_projection.0 / .2).
//
// MLC builds the tower from its own defaults whatever config.json says (its vision_config
// check never matches a dict), so the tower's sizes are fixed here too; image_dim_out comes from
// img_processor. The tower stays unquantized; the projection quantizes like any Linear.
#include "arch/clip.h"
#include "arch/phi3.h"

namespace weightcast {

namespace {

constexpr ClipDims kClipLarge336{
    .hidden = 1024, .intermediate = 4096, .layers = 24, .image_size = 336, .patch_size = 14};

ModelDef build(const ModelConfig& c) {
  auto def = build_phi3(c, "model.", true);
  const auto& j = c.json();
  if (!j.contains("img_processor") || !j["img_processor"].is_object())
    fail("{}: img_processor is missing (Phi-3-vision's image_dim_out)", c.path().string());
  const ModelConfig img(j["img_processor"], c.path());
  const auto dim_out = require_positive(img, "image_dim_out");
  const auto hidden = require_positive(c, "hidden_size");
  const std::string v = "vision_embed_tokens.", hv = "model.vision_embed_tokens.";
  add_clip_tower(def, v + "img_processor.", hv + "img_processor.", kClipLarge336);
  def.add(v + "glb_GN", {num(1), num(1), num(4 * dim_out)}, ParamRole::kOther, {hv + "glb_GN"});
  def.add(v + "sub_GN", {num(1), num(1), num(1), num(4 * dim_out)}, ParamRole::kOther,
          {hv + "sub_GN"});
  def.linear(v + "img_projection.linear_1", hidden, 4 * kClipLarge336.hidden,
             {hv + "img_projection.0"}, {.bias = true});
  def.linear(v + "img_projection.linear_2", hidden, hidden, {hv + "img_projection.2"},
             {.bias = true});
  // MLC's loader also declares the embedding it reads unused, which leaves it out of the
  // parameter count (docs/mlc-format.md#parameter-count).
  def.unused_sources.push_back("model.embed_tokens.weight");
  return def;
}

}  // namespace

extern const Architecture kPhi3V{"phi3_v", kStandardKinds, build};

}  // namespace weightcast
