// HuggingFace safetensors: single files and sharded checkpoints with model.safetensors.index.json.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/checkpoint.h"

namespace weightcast {

// A validated header: each tensor and its byte range within the data section (which starts at
// data_start), in data-offset order. Fails naming `label`; the file's bytes are never quoted.
struct SafetensorsLayout {
  struct Entry {
    TensorInfo info;
    std::size_t begin = 0, end = 0;
  };
  std::size_t data_start = 0;
  std::vector<Entry> entries;
};
SafetensorsLayout parse_safetensors(std::span<const std::byte> bytes, const std::string& label);

// Opens and validates one .safetensors file. Tensors are listed in data-offset order, the order
// safetensors >= 0.6 iterates them
// (docs/source-formats.md#safetensors-tensor-order).
std::unique_ptr<SourceFile> open_safetensors_file(const std::filesystem::path& path);

// `path` is a .safetensors file or a *.safetensors.index.json. Never writes anything.
std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::filesystem::path& path);

}  // namespace weightcast
