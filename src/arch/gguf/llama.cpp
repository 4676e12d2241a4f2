// Llama's GGUF view: llama.cpp's tensor names, its q/k row permutation, and the llama.* metadata
// that make a config.json; Mistral files read as Llama, and a file with llama.expert_count is a
// Mixtral, its experts stacked per projection (docs/source-formats.md#gguf-llama-view).
#include <regex>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

std::string hf_name(const std::string& g) {
  // Built on first use: the shared tables live in another file, initialised in no fixed order.
  static const GgufNameTable layer = [] {
    auto t = kLlamaStyleLayer;
    t.emplace_back("ffn_gate_inp", "block_sparse_moe.gate");  // Mixtral's router
    return t;
  }();
  return gguf_to_hf(g, kLlamaStyleTop, layer);
}

// Mixtral's experts: blk.N.ffn_{gate,down,up}_exps -> block_sparse_moe.experts.E.w{1,2,3}.
std::vector<GgufSlice> experts(const std::string& g, std::int64_t n) {
  static const std::regex exps(R"(blk\.(\d+)\.ffn_(gate|down|up)_exps\.weight)");
  std::smatch m;
  if (n <= 0 || !std::regex_match(g, m, exps)) return {};
  const std::string w = m[2] == "gate" ? "w1" : m[2] == "down" ? "w2" : "w3";
  return expert_slices(
      "model.layers." + m[1].str() + ".block_sparse_moe.experts.{}." + w + ".weight", n);
}

GgufNaming naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto heads = meta.heads(), kv_heads = meta.kv_heads(), n_expert = meta.expert_count();
  return [heads, kv_heads, n_expert](const std::string& gguf_name) {
    GgufTensorName name{hf_name(gguf_name)};
    // llama.cpp permutes the q and k rows, biases included.
    if (name.hf.find("self_attn.q_proj.") != std::string::npos) name.unpermute_heads = heads;
    if (name.hf.find("self_attn.k_proj.") != std::string::npos) name.unpermute_heads = kv_heads;
    name.slices = experts(gguf_name, n_expert);
    name.skip = gguf_name == "rope_freqs.weight";  // llama 3's rope scaling, not a weight in HF
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  const bool moe = meta.expert_count() > 0;
  auto cfg = meta.base_config(moe ? "mixtral" : "llama");
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-5);
  if (!cfg.contains("rope_theta")) cfg["rope_theta"] = moe ? 1e6 : 10000.0;
  if (!cfg.contains("max_position_embeddings")) cfg["max_position_embeddings"] = 2048;
  if (moe) {
    cfg["num_local_experts"] = meta.expert_count();
    cfg["num_experts_per_tok"] = meta.find_int("expert_used_count").value_or(2);
  }
  return cfg;
}

}  // namespace

extern const GgufView kLlamaGguf{"llama", config, naming};

}  // namespace weightcast
