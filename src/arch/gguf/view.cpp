#include "arch/gguf/view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arch/gguf/view_source.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

const GgufView* find_view_or_null(const GgufModel& model) {
  const auto arch = model.first().architecture();
  for (const auto* view : gguf_views())
    if (view->architecture == arch) return view;
  return nullptr;
}

const GgufView& find_view(const GgufModel& model, std::string_view advice) {
  if (const auto* view = find_view_or_null(model)) return *view;
  std::vector<std::string_view> names;
  for (const auto* view : gguf_views()) names.push_back(view->architecture);
  fail<NotImplementedError>("{}: GGUF architecture '{}' is not supported yet (supported: {}){}",
                            model.path().string(), model.first().architecture(),
                            fmt::join(names, ", "), advice);
}

}  // namespace

std::optional<std::pair<std::string, std::string>> gguf_block(const std::string& g) {
  if (!g.starts_with("blk.")) return std::nullopt;
  const auto dot = g.find('.', 4);
  if (dot == std::string::npos || dot == 4) return std::nullopt;
  const auto n = g.substr(4, dot - 4);
  if (n.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const auto end = g.rfind('.');
  if (end <= dot) return std::nullopt;
  return std::pair{n, g.substr(dot + 1, end - dot - 1)};
}

std::string gguf_to_hf(const std::string& g, const GgufNameTable& top, const GgufNameTable& layer,
                       std::string_view layer_prefix) {
  const auto end = g.rfind('.');
  if (end == std::string::npos) return g;
  const auto suffix = g.substr(end);  // ".weight", ".bias"
  const auto lookup = [](const GgufNameTable& table,
                         std::string_view key) -> const std::string_view* {
    for (const auto& [from, to] : table)
      if (from == key) return &to;
    return nullptr;
  };
  if (const auto blk = gguf_block(g)) {
    if (const auto* hf = lookup(layer, blk->second))
      return std::string(layer_prefix) + blk->first + "." + std::string(*hf) + suffix;
    return g;
  }
  if (const auto* hf = lookup(top, std::string_view(g).substr(0, end)))
    return std::string(*hf) + suffix;
  return g;
}

std::vector<GgufSlice> expert_slices(std::string_view hf_pattern, std::int64_t n) {
  std::vector<GgufSlice> out;
  const auto at = hf_pattern.find("{}");
  for (std::int64_t e = 0; e < n; ++e) {
    GgufSlice s;
    s.hf = std::string(hf_pattern.substr(0, at)) + std::to_string(e) +
           std::string(hf_pattern.substr(at + 2));
    s.begin = e;
    s.end = e + 1;
    s.squeeze = true;
    out.push_back(std::move(s));
  }
  return out;
}

GgufMeta::GgufMeta(const GgufModel& model)
    : model_(model), arch_(model.first().architecture()), prefix_(arch_ + ".") {}

std::int64_t GgufMeta::get_int(std::string_view k) const {
  return file().get_int(key(k));
}

std::optional<std::int64_t> GgufMeta::find_int(std::string_view k) const {
  return file().find_int(key(k));
}

std::optional<double> GgufMeta::find_float(std::string_view k) const {
  return file().find_float(key(k));
}

void GgufMeta::fail_meta(std::string_view what) const {
  fail("{}: {}", model_.path().string(), what);
}

std::int64_t GgufMeta::heads() const {
  const auto n = get_int("attention.head_count");
  if (n <= 0) fail_meta(fmt::format("{} must be positive", key("attention.head_count")));
  return n;
}

std::int64_t GgufMeta::kv_heads() const {
  const auto n = find_int("attention.head_count_kv").value_or(heads());
  if (n <= 0) fail_meta(fmt::format("{} must be positive", key("attention.head_count_kv")));
  return n;
}

std::int64_t GgufMeta::vocab_size() const {
  if (const auto v = find_int("vocab_size")) return *v;
  const auto* tokens = file().find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != GgufValueType::kArray)
    fail_meta(fmt::format("neither {} nor tokenizer.ggml.tokens is present", key("vocab_size")));
  return static_cast<std::int64_t>(tokens->array.size());
}

bool GgufMeta::has_tensor(std::string_view name) const {
  for (std::size_t p = 0; p < model_.size(); ++p)
    for (const auto& t : model_.part(p).tensors())
      if (t.name == name) return true;
  return false;
}

nlohmann::json GgufMeta::base_config(std::string_view model_type) const {
  nlohmann::json cfg;
  cfg["model_type"] = model_type;
  cfg["hidden_size"] = get_int("embedding_length");
  if (const auto ff = find_int("feed_forward_length")) cfg["intermediate_size"] = *ff;
  cfg["num_hidden_layers"] = block_count();
  cfg["num_attention_heads"] = heads();
  cfg["num_key_value_heads"] = kv_heads();
  cfg["vocab_size"] = vocab_size();
  cfg["tie_word_embeddings"] = tie_word_embeddings();
  if (const auto ctx = find_int("context_length")) cfg["max_position_embeddings"] = *ctx;
  if (const auto theta = find_float("rope.freq_base")) cfg["rope_theta"] = *theta;
  if (const auto kl = find_int("attention.key_length").value_or(0); kl > 0) cfg["head_dim"] = kl;
  return cfg;
}

nlohmann::json gguf_config(const GgufModel& model) {
  return find_view(model, "; pass a config.json next to the file to convert it anyway")
      .config(model);
}

nlohmann::json gguf_config(const fs::path& path) {
  return gguf_config(GgufModel(path));
}

std::unique_ptr<Checkpoint> open_gguf_checkpoint(std::shared_ptr<const GgufModel> model) {
  const auto naming = find_view(*model, "").naming(*model);
  auto ckpt = std::make_unique<Checkpoint>();
  for (std::size_t i = 0; i < model->size(); ++i)
    ckpt->add_file(open_view_part(open_gguf_part(model, i), naming));
  ckpt->map_all();
  return ckpt;
}

std::unique_ptr<Checkpoint> open_gguf_checkpoint(const fs::path& path) {
  return open_gguf_checkpoint(std::make_shared<const GgufModel>(path));
}

namespace {

// The sizes a config.json and a GGUF file's metadata must not disagree on.
constexpr std::string_view kSizeFields[] = {"hidden_size",
                                            "intermediate_size",
                                            "num_hidden_layers",
                                            "num_attention_heads",
                                            "num_key_value_heads",
                                            "vocab_size",
                                            "head_dim",
                                            "num_local_experts",
                                            "num_experts",
                                            "num_experts_per_tok",
                                            "moe_intermediate_size",
                                            "shared_expert_intermediate_size",
                                            "n_routed_experts",
                                            "n_shared_experts",
                                            "first_k_dense_replace",
                                            "kv_lora_rank",
                                            "q_lora_rank",
                                            "qk_nope_head_dim",
                                            "qk_rope_head_dim",
                                            "v_head_dim"};

// A field at the top level of config.json, else in its text_config (multimodal wrappers).
const nlohmann::json* json_field(const nlohmann::json& cfg, std::string_view key) {
  const std::string k(key);
  if (cfg.contains(k)) return &cfg[k];
  if (cfg.contains("text_config") && cfg["text_config"].is_object() &&
      cfg["text_config"].contains(k))
    return &cfg["text_config"][k];
  return nullptr;
}

}  // namespace

void check_gguf_agrees(const nlohmann::json& config_json, const GgufModel& model,
                       const fs::path& config_path) {
  if (!find_view_or_null(model)) return;
  nlohmann::json meta;
  try {
    meta = gguf_config(model);
  } catch (const Error&) {
    return;  // metadata too incomplete for a config: config.json is all there is to go by
  }
  for (const auto key : kSizeFields) {
    const auto* ours = json_field(meta, key);
    const auto* theirs = json_field(config_json, key);
    if (!ours || !theirs || !ours->is_number_integer() || !theirs->is_number_integer()) continue;
    if (ours->get<std::int64_t>() != theirs->get<std::int64_t>())
      fail(
          "{}: {} is {} but the GGUF file {} says {}: the config.json beside a GGUF file must "
          "describe that file (remove it to use the GGUF metadata)",
          config_path.string(), key, theirs->get<std::int64_t>(), model.path().string(),
          ours->get<std::int64_t>());
  }
}

}  // namespace weightcast
