// What the GGUF views of Llama and the families laid out like it (GPT-2, GPT-NeoX, StarCoder2,
// StableLM, OLMo, OLMo 2, InternLM2, Command-R, MiniCPM, Baichuan, Nemotron) share beyond GgufMeta:
// Llama's name tables, the metadata llama.cpp writes for them, and HF defaults
// (docs/source-formats.md#gguf-family-views).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "arch/gguf/view.h"

namespace weightcast {

// Llama's layout: token_embd, output_norm (weight and bias), output; q/k/v/o projections,
// gate/up/down MLP, attn_norm / ffn_norm as input / post-attention norms.
extern const GgufNameTable kLlamaStyleTop, kLlamaStyleLayer;

// Llama's names with llama.cpp's q/k row permutation undone (weights only): the naming of the
// families whose converter permutes like Llama's (OLMo, MiniCPM).
GgufNaming llama_permuted_naming(const GgufModel& model);

// blk.N.ffn_{gate,up,down}_exps.weight, an expert stack, as the per-expert HF tensors
// model.layers.N.mlp.experts.{e}.{gate,up,down}_proj.weight (Qwen MoE, DeepSeek); false for any
// other name, or when the model has no experts.
bool name_expert_stack(const std::string& gguf_name, std::int64_t n_expert, GgufTensorName& name);

// Whether a GGUF name is blk.N.<module>.weight with `module` one of `modules`.
bool is_block_weight(const std::string& gguf_name, std::initializer_list<std::string_view> modules);

std::optional<bool> find_gguf_bool(const GgufMeta& meta, std::string_view key);
// tokenizer.ggml.<which>_token_id, else `fallback` (the family's HF default).
std::int64_t gguf_token_id(const GgufMeta& meta, std::string_view which, std::int64_t fallback);
// rope.dimension_count over the head size (rotary_pct, partial_rotary_factor); 1 when absent.
double gguf_rotary_fraction(const GgufMeta& meta, std::int64_t head_dim);
// GgufMeta::base_config with intermediate_size required and max_position_embeddings (2048) and
// rope_theta (10000) defaulted.
nlohmann::json gguf_decoder_config(const GgufMeta& meta, std::string_view model_type);

}  // namespace weightcast
