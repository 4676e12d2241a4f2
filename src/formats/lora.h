// PEFT LoRA adapters (--lora-adapter), merged into the base checkpoint tensor by tensor as the
// converter reads it, the way PEFT's merge_and_unload() computes them (docs/lora.md).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/checkpoint.h"

namespace weightcast {

// What the adapter does to one base tensor.
struct LoraUpdate {
  enum class Kind { kLowRank, kReplace };
  Kind kind = Kind::kLowRank;
  // kLowRank: the adapter tensors A and B (lora_A / lora_B, or lora_embedding_A / _B).
  // kReplace: `a` is the modules_to_save tensor that replaces the base one.
  TensorLocation a, b;
  // The delta is B @ A, transposed for fan_in_fan_out layers and embeddings, times `scaling`.
  bool transposed = false;
  float scaling = 1;
};

// An adapter directory: adapter_config.json plus adapter_model.safetensors (or .bin).
struct LoraAdapter {
  std::filesystem::path dir, weights;
  Checkpoint tensors;  // the adapter's own tensors, under its file's names
  std::unordered_map<std::string, LoraUpdate> updates;  // by base tensor name
};

// Reads and checks the adapter against the base checkpoint: every adapter tensor must name a base
// tensor and fit its shape. Fails naming the adapter file and the tensor otherwise.
std::unique_ptr<LoraAdapter> load_lora_adapter(const std::filesystem::path& dir,
                                               const Checkpoint& base);

// The checkpoint MLC converts after merging: one file holding every base tensor in name order (the
// single model.safetensors that save_pretrained writes), adapter updates applied as each tensor is
// read. `drop_tied_head`: leave out lm_head.weight, as save_pretrained does for tied embeddings.
std::unique_ptr<Checkpoint> merge_lora(std::unique_ptr<Checkpoint> base,
                                       std::unique_ptr<LoraAdapter> adapter, bool drop_tied_head);

}  // namespace weightcast
