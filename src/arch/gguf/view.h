// GGUF views: how one model family's GGUF files read as its HuggingFace checkpoint. A family's
// view names each GGUF tensor as HuggingFace does, undoes what llama.cpp's converter did to it,
// and builds a config.json from the metadata. One file per family (src/arch/gguf/<family>.cpp)
// plus its line in src/arch/gguf/registry.cpp, keyed by the file's general.architecture.
//
// Writing a view (docs/source-formats.md#gguf-views):
//   extern const GgufView kFooGguf{"foo", config, naming};
// - config(model): the config.json fields. GgufMeta reads "<arch>.<key>" metadata and the common
//   facts: block_count(), heads(), kv_heads(), vocab_size() (<arch>.vocab_size, else the token
//   list), has_tensor(name) and tie_word_embeddings() (no output.weight in ANY split part),
//   expert_count(); base_config(model_type) fills the fields every family shares.
// - gguf_to_hf(name, top, layer) maps names through the family's own tables (no table is shared:
//   ffn_norm means different HF norms in different families).
// - naming(model) returns a function from a GGUF tensor name to a GgufTensorName. A plain rename
//   sets only `hf` (and `unpermute_heads` for llama's q/k rows). The other fields, all off by
//   default, say what else to undo, in this order per GGUF tensor:
//     transpose       swap the last two axes back (llama.cpp transposed it; a 3-D tensor is
//                     transposed per outermost index, DeepSeek's per-head attn_k_b)
//     flatten         merge the two outermost dimensions ([heads, rows, cols] -> [heads*rows,
//                     cols]), after the transpose
//     slices          one GGUF tensor -> several HF tensors, each rows [begin, end) of the
//                     outermost (C-order) dimension; squeeze drops that dimension (one expert
//                     of a [n_expert, rows, cols] stack: expert_slices() builds those); each
//                     slice may have its own unpermute_heads. `hf` is then unused.
//     unpermute_heads undo the per-head row interleaving (2-D weights and 1-D biases)
//     add             added to every value in float32; the tensor then reads as float32
//                     (-1 undoes Gemma's norms stored as 1 + w)
//     concat_order    >= 0: the GGUF tensors of one part that name the same `hf` are
//                     concatenated along the outermost dimension in this order (a fused HF
//                     tensor that llama.cpp split, e.g. Baichuan's W_pack); parts of different
//                     float types join as float32
//     skip            llama.cpp wrote a tensor the HF checkpoint lacks (rope_freqs): drop it
//     rows            last, on the whole (concatenated) tensor: HF row r is row rows(r)
//                     (GPT-NeoX's q|k|v per head, InternLM2's per-group wqkv)
// The HF tensors keep the GGUF file's order (a split tensor's slices in place, a concatenated
// one where its first part was), which is the order MLC visits the HF checkpoint in.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/gguf.h"

namespace weightcast {

// One HF tensor cut from a GGUF tensor: rows [begin, end) of its outermost dimension.
struct GgufSlice {
  std::string hf = {};
  std::int64_t begin = 0, end = 0;
  bool squeeze = false;  // drop the outermost dimension (then end == begin + 1)
  std::int64_t unpermute_heads = 0;
};

struct GgufTensorName {
  std::string hf;  // the HuggingFace name
  // llama.cpp interleaved this tensor's rows per head (q and k projections): the number of heads
  // to undo it for, or 0.
  std::int64_t unpermute_heads = 0;
  std::vector<GgufSlice> slices = {};  // not empty: these HF tensors instead of `hf`
  float add = 0;                       // added to every value, in float32
  bool transpose = false;
  bool flatten = false;
  int concat_order = -1;
  bool skip = false;
  std::function<std::int64_t(std::int64_t)> rows = {};
};
using GgufNaming = std::function<GgufTensorName(const std::string& gguf_name)>;

// llama.cpp's names back to HF's. A name is <module>.weight or <module>.bias; `top` maps whole
// modules (token_embd -> model.embed_tokens), `layer` the module of blk.N.<module> to
// <layer_prefix>N.<hf module>. A module in neither keeps the GGUF name.
using GgufNameTable = std::vector<std::pair<std::string_view, std::string_view>>;
std::string gguf_to_hf(const std::string& gguf_name, const GgufNameTable& top,
                       const GgufNameTable& layer, std::string_view layer_prefix = "model.layers.");
// blk.N.<module>.<suffix>: (N, module), or nullopt for a name outside the blocks.
std::optional<std::pair<std::string, std::string>> gguf_block(const std::string& gguf_name);

// Slices of an expert stack [n, rows, cols] into n tensors [rows, cols]; "{}" in `hf_pattern`
// becomes the expert's number.
std::vector<GgufSlice> expert_slices(std::string_view hf_pattern, std::int64_t n);

struct GgufView {
  std::string_view architecture;                     // general.architecture
  nlohmann::json (*config)(const GgufModel& model);  // config.json fields from the metadata
  GgufNaming (*naming)(const GgufModel& model);      // reads what it needs (head counts) once
};

// The metadata of a GGUF model under its architecture's prefix ("<general.architecture>.").
class GgufMeta {
 public:
  explicit GgufMeta(const GgufModel& model);
  const GgufFile& file() const { return model_.first(); }
  const std::string& arch() const { return arch_; }
  std::string key(std::string_view k) const { return prefix_ + std::string(k); }
  std::int64_t get_int(std::string_view k) const;  // required
  std::optional<std::int64_t> find_int(std::string_view k) const;
  std::optional<double> find_float(std::string_view k) const;
  std::int64_t block_count() const { return get_int("block_count"); }
  std::int64_t heads() const;     // attention.head_count, positive
  std::int64_t kv_heads() const;  // attention.head_count_kv, else heads()
  std::int64_t expert_count() const { return find_int("expert_count").value_or(0); }
  std::int64_t vocab_size() const;
  bool has_tensor(std::string_view name) const;  // in any part
  bool tie_word_embeddings() const { return !has_tensor("output.weight"); }
  // model_type, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
  // num_key_value_heads, vocab_size, tie_word_embeddings, and where present
  // max_position_embeddings, rope_theta and head_dim (attention.key_length).
  nlohmann::json base_config(std::string_view model_type) const;
  [[noreturn]] void fail_meta(std::string_view what) const;  // "<file>: <what>"

 private:
  const GgufModel& model_;
  std::string arch_, prefix_;
};

const std::vector<const GgufView*>& gguf_views();

// The pipeline's entry points: the config.json of a GGUF model, and its tensors under HuggingFace
// names. The model overloads let a caller open the files once for both.
nlohmann::json gguf_config(const std::filesystem::path& path);
nlohmann::json gguf_config(const GgufModel& model);
std::unique_ptr<Checkpoint> open_gguf_checkpoint(const std::filesystem::path& path);
std::unique_ptr<Checkpoint> open_gguf_checkpoint(std::shared_ptr<const GgufModel> model);

// A config.json beside a GGUF file wins, but a size both give must agree: fails naming the
// field otherwise. Does nothing for an architecture without a view.
void check_gguf_agrees(const nlohmann::json& config_json, const GgufModel& model,
                       const std::filesystem::path& config_path);

}  // namespace weightcast
