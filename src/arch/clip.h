// The CLIP vision tower (MLC's vision/clip_vision.py), shared by Phi-3-vision and LLaVA. MLC
// marks the whole tower no_quantization: every tensor keeps the model dtype, and none has a
// tensor-parallel split (each shard holds it whole).
#pragma once

#include "arch/common.h"

namespace weightcast {

struct ClipDims {
  std::int64_t hidden = 0, intermediate = 0, layers = 0, image_size = 0, patch_size = 0;
  std::int64_t channels = 3;
};

// A vision_config object: MLC's CLIPVisionConfig fields without defaults are required.
ClipDims read_clip_dims(const ModelConfig& c, std::string_view key);

// `<mlc>vision_model.*` from `<hf>vision_model.*`, in MLC's module order.
void add_clip_tower(ModelDef& def, const std::string& mlc, const std::string& hf,
                    const ClipDims& d);

}  // namespace weightcast
