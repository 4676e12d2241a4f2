#include "arch/gguf/family_helpers.h"

#include <fmt/format.h>

#include <regex>

#include "util/error.h"

namespace weightcast {

std::int64_t GgufKeys::get_int(const std::string& key) const {
  const auto v = file().get_int(arch_ + "." + key);
  if (v <= 0) fail("{}: GGUF metadata {}.{} must be positive, not {}", label(), arch_, key, v);
  return v;
}

std::optional<std::int64_t> GgufKeys::find_int(const std::string& key) const {
  return file().find_int(arch_ + "." + key);
}

std::optional<double> GgufKeys::find_float(const std::string& key) const {
  return file().find_float(arch_ + "." + key);
}

std::optional<bool> GgufKeys::find_bool(const std::string& key) const {
  const auto* v = file().find(arch_ + "." + key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::kBool)
    fail("{}: GGUF metadata {}.{} has type {}, expected a bool", label(), arch_, key,
         gguf_value_type_name(v->type));
  return v->u != 0;
}

std::int64_t GgufKeys::kv_heads() const {
  const auto kv = find_int("attention.head_count_kv").value_or(heads());
  if (kv <= 0)
    fail("{}: GGUF metadata {}.attention.head_count_kv must be positive", label(), arch_);
  return kv;
}

std::int64_t GgufKeys::vocab() const {
  if (const auto v = find_int("vocab_size")) return *v;
  const auto* tokens = file().find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != GgufValueType::kArray)
    fail("{}: neither {}.vocab_size nor tokenizer.ggml.tokens is present", label(), arch_);
  return static_cast<std::int64_t>(tokens->array.size());
}

bool GgufKeys::has_tensor(const std::string& name) const {
  for (std::size_t p = 0; p < model_.size(); ++p)
    for (const auto& t : model_.part(p).tensors())
      if (t.name == name) return true;
  return false;
}

std::int64_t GgufKeys::token_id(const std::string& which, std::int64_t fallback) const {
  return file().find_int("tokenizer.ggml." + which + "_token_id").value_or(fallback);
}

nlohmann::json GgufKeys::decoder_config(const std::string& model_type) const {
  nlohmann::json cfg;
  cfg["model_type"] = model_type;
  cfg["hidden_size"] = get_int("embedding_length");
  cfg["intermediate_size"] = get_int("feed_forward_length");
  cfg["num_hidden_layers"] = get_int("block_count");
  cfg["num_attention_heads"] = heads();
  cfg["num_key_value_heads"] = kv_heads();
  cfg["max_position_embeddings"] = find_int("context_length").value_or(2048);
  cfg["vocab_size"] = vocab();
  cfg["tie_word_embeddings"] = !has_tensor("output.weight");
  return cfg;
}

double GgufKeys::rotary_fraction(std::int64_t head_dim) const {
  const auto dims = find_int("rope.dimension_count");
  if (!dims) return 1.0;
  if (*dims <= 0 || *dims > head_dim)
    fail("{}: GGUF metadata {}.rope.dimension_count {} is not within the head size {}", label(),
         arch_, *dims, head_dim);
  return static_cast<double>(*dims) / static_cast<double>(head_dim);
}

GgufSplitName split_gguf_name(const std::string& gguf_name) {
  static const std::regex blk(R"(blk\.(\d{1,9})\.(\w+)\.(weight|bias))");
  static const std::regex top(R"((\w+)\.(weight|bias))");
  std::smatch m;
  if (std::regex_match(gguf_name, m, blk)) return {std::stoll(m[1].str()), m[2].str(), m[3].str()};
  if (std::regex_match(gguf_name, m, top)) return {-1, m[1].str(), m[2].str()};
  return {-1, gguf_name, ""};
}

GgufNameTable llama_style_names() {
  return {"model.layers.{}.",
          {{"token_embd.weight", "model.embed_tokens.weight"},
           {"output_norm.weight", "model.norm.weight"},
           {"output_norm.bias", "model.norm.bias"},
           {"output.weight", "lm_head.weight"}},
          {{"attn_q", "self_attn.q_proj"},
           {"attn_k", "self_attn.k_proj"},
           {"attn_v", "self_attn.v_proj"},
           {"attn_output", "self_attn.o_proj"},
           {"ffn_gate", "mlp.gate_proj"},
           {"ffn_up", "mlp.up_proj"},
           {"ffn_down", "mlp.down_proj"},
           {"attn_norm", "input_layernorm"},
           {"ffn_norm", "post_attention_layernorm"}}};
}

std::string rename_gguf(const std::string& gguf_name, const GgufNameTable& table) {
  if (const auto it = table.top.find(gguf_name); it != table.top.end()) return it->second;
  const auto s = split_gguf_name(gguf_name);
  if (s.layer < 0) return gguf_name;
  const auto it = table.block.find(s.stem);
  if (it == table.block.end()) return gguf_name;
  return fmt::format(fmt::runtime(table.layer_prefix), s.layer) + it->second + "." + s.suffix;
}

}  // namespace weightcast
