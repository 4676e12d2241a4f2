// HuggingFace safetensors: single files and sharded checkpoints with model.safetensors.index.json.
#pragma once

#include <filesystem>
#include <memory>

#include "formats/checkpoint.h"

namespace weightcast {

// Opens and validates one .safetensors file. Tensors are listed in data-offset order, the order
// safetensors >= 0.6 iterates them
// (docs/source-formats.md#safetensors-tensor-order).
std::unique_ptr<SourceFile> open_safetensors_file(const std::filesystem::path& path);

// `path` is a .safetensors file or a *.safetensors.index.json. Never writes anything.
std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::filesystem::path& path);

}  // namespace weightcast
