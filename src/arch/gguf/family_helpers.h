// What the GGUF views of GPT-2, GPT-NeoX, StarCoder2, StableLM, OLMo, InternLM2, Command-R and
// MiniCPM share: metadata look-ups under the `<arch>.` prefix, and renaming llama.cpp's
// tensor names through a table (docs/source-formats.md#gguf-family-views).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "formats/gguf.h"

namespace weightcast {

// The metadata of a GGUF model, keys read under `<arch>.`; errors name the file and the key.
class GgufKeys {
 public:
  GgufKeys(const GgufModel& model, std::string arch) : model_(model), arch_(std::move(arch)) {}
  const GgufFile& file() const { return model_.first(); }
  std::string label() const { return model_.path().string(); }
  std::int64_t get_int(const std::string& key) const;  // required, positive
  std::optional<std::int64_t> find_int(const std::string& key) const;
  std::optional<double> find_float(const std::string& key) const;
  std::optional<bool> find_bool(const std::string& key) const;
  std::int64_t heads() const { return get_int("attention.head_count"); }
  std::int64_t kv_heads() const;  // head_count_kv, else the head count
  // `<arch>.vocab_size`, else the length of tokenizer.ggml.tokens.
  std::int64_t vocab() const;
  // Whether any part of the model holds this tensor.
  bool has_tensor(const std::string& name) const;
  // tokenizer.ggml.<which>_token_id, else `fallback`.
  std::int64_t token_id(const std::string& which, std::int64_t fallback) const;
  // The fields nearly every decoder's config.json takes from block_count, embedding_length,
  // feed_forward_length, head counts, context_length and the token list.
  nlohmann::json decoder_config(const std::string& model_type) const;
  // rope.dimension_count over the head size (GPT-NeoX's rotary_pct, StableLM's
  // partial_rotary_factor); 1 when absent.
  double rotary_fraction(std::int64_t head_dim) const;

 private:
  const GgufModel& model_;
  std::string arch_;
};

// llama.cpp's names back to HF's: whole names in `top`; per-block stems (`attn_q` of
// `blk.N.attn_q.weight`) in `block`, prefixed by `layer_prefix` with N in place of {}.
struct GgufNameTable {
  std::string layer_prefix;
  std::map<std::string, std::string> top;
  std::map<std::string, std::string> block;
};

struct GgufSplitName {
  std::int64_t layer = -1;  // -1: not a block tensor
  std::string stem;         // "attn_q"
  std::string suffix;       // "weight" or "bias"
};
GgufSplitName split_gguf_name(const std::string& gguf_name);

// Llama's layout under model.layers.{}: q/k/v/o projections, gate/up/down MLP, input and
// post-attention norms, model.norm and lm_head; families edit a copy.
GgufNameTable llama_style_names();

// The HF name; names the table does not know pass through unchanged (the architecture reports
// them as unexpected).
std::string rename_gguf(const std::string& gguf_name, const GgufNameTable& table);

}  // namespace weightcast
