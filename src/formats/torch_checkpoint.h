// PyTorch checkpoints (huggingface-torch): pytorch_model.bin, sharded with
// pytorch_model.bin.index.json, and *.pt files. Nothing in them is executed.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/checkpoint.h"

namespace weightcast {

// One .bin/.pt file; `warnings` receives MLC's "Encountered None param" lines.
std::unique_ptr<SourceFile> open_torch_file(const std::filesystem::path& path,
                                            std::vector<std::string>& warnings);
// The same from bytes the caller keeps alive (fuzzing, tests).
std::unique_ptr<SourceFile> open_torch_bytes(std::span<const std::byte> bytes,
                                             const std::string& label,
                                             std::vector<std::string>& warnings);
// A .bin/.pt file or a pytorch_model.bin.index.json.
std::unique_ptr<Checkpoint> open_torch_checkpoint(const std::filesystem::path& path);

}  // namespace weightcast
