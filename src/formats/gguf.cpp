#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <regex>
#include <unordered_map>

#include "util/error.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

enum : std::uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64,
};

class Cursor {
 public:
  Cursor(std::span<const std::byte> b, const std::string& label) : b_(b), label_(label) {}
  template <typename T>
  T read() {
    need(sizeof(T), "value");
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string() {
    const auto n = read<std::uint64_t>();
    need(n, "string");
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  void need(std::uint64_t n, const char* what) const {
    if (n > b_.size() - pos_)
      fail(
          "{}: truncated or corrupt GGUF: a {} of {} bytes at offset {} runs past the end ({} "
          "bytes)",
          label_, what, n, pos_, b_.size());
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return b_.size() - pos_; }

 private:
  std::span<const std::byte> b_;
  const std::string& label_;
  std::size_t pos_ = 0;
};

std::uint64_t min_value_size(std::uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
    case kString:
      return 8;
    case kArray:
      return 12;
    default:
      return 1;
  }
}

GgufValue read_value(Cursor& c, std::uint32_t type, int depth, const std::string& label,
                     const std::string& key) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case kU8:
      v.u = c.read<std::uint8_t>(), v.i = static_cast<std::int64_t>(v.u);
      break;
    case kI8:
      v.i = c.read<std::int8_t>();
      break;
    case kU16:
      v.u = c.read<std::uint16_t>(), v.i = static_cast<std::int64_t>(v.u);
      break;
    case kI16:
      v.i = c.read<std::int16_t>();
      break;
    case kU32:
      v.u = c.read<std::uint32_t>(), v.i = static_cast<std::int64_t>(v.u);
      break;
    case kI32:
      v.i = c.read<std::int32_t>();
      break;
    case kU64:
      v.u = c.read<std::uint64_t>(), v.i = static_cast<std::int64_t>(v.u);
      break;
    case kI64:
      v.i = c.read<std::int64_t>();
      break;
    case kF32:
      v.f = c.read<float>();
      break;
    case kF64:
      v.f = c.read<double>();
      break;
    case kBool: {
      const auto b = c.read<std::uint8_t>();
      if (b > 1) fail("{}: metadata {}: invalid bool {}", label, key, b);
      v.u = b;
      break;
    }
    case kString:
      v.s = c.string();
      break;
    case kArray: {
      if (depth >= 2) fail("{}: metadata {}: arrays nested too deeply", label, key);
      v.array_type = c.read<std::uint32_t>();
      const auto n = c.read<std::uint64_t>();
      // Each element needs at least this many bytes: a count the file cannot hold is a lie.
      if (n > c.left() / min_value_size(v.array_type))
        fail("{}: metadata {}: an array of {} elements cannot fit in the file", label, key, n);
      v.array.reserve(static_cast<std::size_t>(n));
      for (std::uint64_t k = 0; k < n; ++k)
        v.array.push_back(read_value(c, v.array_type, depth + 1, label, key));
      break;
    }
    default:
      fail("{}: metadata {}: unknown value type {}", label, key, type);
  }
  return v;
}

}  // namespace

const char* gguf_value_type_name(std::uint32_t type) {
  static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  return type < std::size(names) ? names[type] : "unknown";
}

GgufFile::GgufFile(std::span<const std::byte> bytes, std::string label)
    : bytes_(bytes), label_(std::move(label)) {
  Cursor c(bytes_, label_);
  c.need(4, "magic");
  if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) fail("{}: not a GGUF file (wrong magic)", label_);
  c.read<std::uint32_t>();
  version_ = c.read<std::uint32_t>();
  if ((version_ & 0xFFFF) == 0)
    fail("{}: big-endian GGUF files are not supported (convert it with gguf-py first)", label_);
  if (version_ != 2 && version_ != 3)
    fail("{}: unsupported GGUF version {} (2 and 3 are supported)", label_, version_);
  const auto tensor_count = c.read<std::uint64_t>();
  const auto kv_count = c.read<std::uint64_t>();
  if (kv_count > c.left() / 13 || tensor_count > c.left() / 29)
    fail("{}: corrupt GGUF: {} metadata entries and {} tensors cannot fit in the file", label_,
         kv_count, tensor_count);
  for (std::uint64_t k = 0; k < kv_count; ++k) {
    std::string key = c.string();
    const auto type = c.read<std::uint32_t>();
    metadata_.emplace_back(key, read_value(c, type, 0, label_, key));
  }
  if (const auto* a = find("general.alignment")) {
    if (a->type != kU32) fail("{}: metadata general.alignment must be u32", label_);
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      fail("{}: general.alignment {} is not a power of two", label_, a->u);
    alignment_ = a->u;
  }
  for (std::uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensorInfo t;
    t.name = c.string();
    const auto n_dims = c.read<std::uint32_t>();
    if (n_dims == 0 || n_dims > 4)
      fail("{}: tensor {} has {} dimensions (1 to 4 allowed)", label_, t.name, n_dims);
    for (std::uint32_t d = 0; d < n_dims; ++d) t.ne.push_back(c.read<std::uint64_t>());
    t.type = c.read<std::uint32_t>();
    t.offset = c.read<std::uint64_t>();
    const auto* info = find_ggml_type(t.type);
    if (!info) fail("{}: tensor {} has unknown ggml type {}", label_, t.name, t.type);
    std::uint64_t elems = 1;
    for (auto d : t.ne)
      if (d > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(elems, d, &elems) ||
          elems > static_cast<std::uint64_t>(INT64_MAX))
        fail("{}: tensor {}: dimensions overflow", label_, t.name);
    if (t.ne[0] % info->block)
      fail("{}: tensor {}: row of {} elements is not a whole number of {} blocks", label_, t.name,
           t.ne[0], info->name);
    if (__builtin_mul_overflow(elems / info->block, std::uint64_t{info->bytes}, &t.nbytes))
      fail("{}: tensor {}: size overflows", label_, t.name);
    if (t.offset % alignment_)
      fail("{}: tensor {}: offset {} is not aligned to {}", label_, t.name, t.offset, alignment_);
    tensors_.push_back(std::move(t));
  }
  data_start_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (const auto& t : tensors_) {
    const std::uint64_t size = bytes_.size();
    if (data_start_ > size || t.offset > size - data_start_ ||
        t.nbytes > size - data_start_ - t.offset)
      fail("{}: tensor {}: data [{}, +{}) runs past the end of the file ({} bytes)", label_, t.name,
           data_start_ + t.offset, t.nbytes, size);
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

std::span<const std::byte> GgufFile::data(const GgufTensorInfo& t) const {
  return bytes_.subspan(static_cast<std::size_t>(data_start_ + t.offset),
                        static_cast<std::size_t>(t.nbytes));
}

// ---- the checkpoint view -----------------------------------------------------------------

namespace {

std::int64_t meta_int(const GgufFile& f, const std::string& key, bool required,
                      std::int64_t fallback = 0) {
  const auto* v = f.find(key);
  if (!v) {
    if (required) fail("{}: GGUF metadata {} is missing", f.label(), key);
    return fallback;
  }
  switch (v->type) {
    case kU8:
    case kU16:
    case kU32:
    case kU64:
    case kI8:
    case kI16:
    case kI32:
    case kI64:
      return v->i;
    default:
      fail("{}: GGUF metadata {} has type {}, expected an integer", f.label(), key,
           gguf_value_type_name(v->type));
  }
}
std::optional<double> meta_float(const GgufFile& f, const std::string& key) {
  const auto* v = f.find(key);
  if (!v) return std::nullopt;
  if (v->type != kF32 && v->type != kF64)
    fail("{}: GGUF metadata {} has type {}, expected a float", f.label(), key,
         gguf_value_type_name(v->type));
  return v->f;
}
std::string architecture(const GgufFile& f) {
  const auto* v = f.find("general.architecture");
  if (!v || v->type != kString)
    fail("{}: GGUF metadata general.architecture is missing", f.label());
  return v->s;
}

// llama.cpp's names -> HuggingFace Llama names.
std::string hf_name(const std::string& g) {
  static const std::regex blk(R"(blk\.(\d+)\.(\w+)\.(weight|bias))");
  static const std::map<std::string, std::string> layer = {
      {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},
      {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
      {"attn_norm", "input_layernorm"},
      {"ffn_norm", "post_attention_layernorm"},
  };
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  std::smatch m;
  if (std::regex_match(g, m, blk)) {
    auto it = layer.find(m[2].str());
    if (it != layer.end())
      return "model.layers." + m[1].str() + "." + it->second + "." + m[3].str();
  }
  return g;
}

class GgufSource final : public SourceFile {
 public:
  GgufSource(const fs::path& path, std::int64_t heads, std::int64_t kv_heads)
      : map_(path), file_(map_.bytes(), path.string()) {
    for (const auto& t : file_.tensors()) {
      const auto* type = find_ggml_type(t.type);
      if (!type->plain && !type->decode)
        fail<NotImplementedError>(
            "{}: tensor {} has type {}, which weightcast cannot dequantize yet "
            "(supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, "
            "Q3_K, Q4_K, Q5_K, Q6_K, Q8_K)",
            path.string(), t.name, type->name);
      TensorInfo info{hf_name(t.name), type->plain.value_or(DType::kF32), {}};
      for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it)
        info.shape.push_back(static_cast<std::int64_t>(*it));
      std::int64_t groups = 0;  // llama.cpp permuted these rows per head: undo it
      if (info.name.ends_with("self_attn.q_proj.weight")) groups = heads;
      if (info.name.ends_with("self_attn.k_proj.weight")) groups = kv_heads;
      if (groups > 0 && (info.shape.size() != 2 || info.shape[0] % (2 * groups) != 0))
        fail("{}: tensor {} of shape {} does not split into {} heads", path.string(), t.name,
             shape_str(info.shape), groups);
      permute_groups_.push_back(groups);
      infos_.push_back(std::move(info));
    }
  }
  const fs::path& path() const override { return map_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override {
    const auto& t = file_.tensors()[i];
    const auto raw = file_.data(t);
    if (find_ggml_type(t.type)->plain && permute_groups_[i] == 0) return raw;
    auto& buf = decoded_[i];
    if (!buf) buf = decode(i, raw);
    return {buf.get(),
            static_cast<std::size_t>(numel(infos_[i].shape)) * dtype_size(infos_[i].dtype)};
  }
  void release(std::size_t i) const override {
    decoded_.erase(i);
    const auto& t = file_.tensors()[i];
    map_.done_with(static_cast<std::size_t>(file_.data(t).data() - map_.bytes().data()), t.nbytes);
  }

 private:
  std::unique_ptr<std::byte[]> decode(std::size_t i, std::span<const std::byte> raw) const {
    const auto& t = file_.tensors()[i];
    const auto& info = infos_[i];
    const auto n = static_cast<std::size_t>(numel(info.shape));
    const std::size_t elem = dtype_size(info.dtype);
    auto out = std::make_unique_for_overwrite<std::byte[]>(n * elem);
    if (find_ggml_type(t.type)->plain)
      std::memcpy(out.get(), raw.data(), n * elem);
    else
      dequantize_ggml(t.type, raw.data(), reinterpret_cast<float*>(out.get()), n);
    if (const auto groups = permute_groups_[i]; groups > 0) {
      // GGUF row (head, i, j) holds HF row (head, j, i), for j in {0, 1} and i < rows/heads/2.
      const auto rows = static_cast<std::size_t>(info.shape[0]);
      const std::size_t row_bytes = n / rows * elem,
                        per_head = rows / static_cast<std::size_t>(groups);
      const std::size_t half = per_head / 2;
      auto hf = std::make_unique_for_overwrite<std::byte[]>(n * elem);
      for (std::size_t h = 0; h < static_cast<std::size_t>(groups); ++h)
        for (std::size_t j = 0; j < 2; ++j)
          for (std::size_t k = 0; k < half; ++k)
            std::memcpy(hf.get() + (h * per_head + j * half + k) * row_bytes,
                        out.get() + (h * per_head + k * 2 + j) * row_bytes, row_bytes);
      return hf;
    }
    return out;
  }

  MappedFile map_;
  GgufFile file_;
  std::vector<TensorInfo> infos_;
  std::vector<std::int64_t> permute_groups_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<std::byte[]>> decoded_;
};

}  // namespace

bool is_gguf_path(const fs::path& path) {
  return path.extension() == ".gguf";
}

std::vector<fs::path> gguf_parts(const fs::path& first) {
  static const std::regex split(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
  std::smatch m;
  const std::string name = first.filename().string();
  if (!std::regex_match(name, m, split)) return {first};
  const int count = std::stoi(m[3].str());
  std::vector<fs::path> parts;
  for (int k = 1; k <= count; ++k) {
    const auto p =
        first.parent_path() / fmt::format("{}-{:05d}-of-{:05d}.gguf", m[1].str(), k, count);
    if (!fs::is_regular_file(p))
      fail("{}: split GGUF part {} is missing", first.string(), p.string());
    parts.push_back(p);
  }
  return parts;
}

nlohmann::json gguf_config(const fs::path& path) {
  const MappedFile map(gguf_parts(path).front());
  const GgufFile f(map.bytes(), path.string());
  const auto arch = architecture(f);
  if (arch != "llama")
    fail<NotImplementedError>(
        "{}: GGUF architecture '{}' is not supported yet (supported: llama); "
        "pass a config.json next to the file to convert it anyway",
        path.string(), arch);
  const std::string p = arch + ".";
  nlohmann::json cfg;
  cfg["model_type"] = "llama";
  cfg["hidden_size"] = meta_int(f, p + "embedding_length", true);
  cfg["intermediate_size"] = meta_int(f, p + "feed_forward_length", true);
  cfg["num_hidden_layers"] = meta_int(f, p + "block_count", true);
  cfg["num_attention_heads"] = meta_int(f, p + "attention.head_count", true);
  cfg["num_key_value_heads"] =
      meta_int(f, p + "attention.head_count_kv", false, cfg["num_attention_heads"]);
  cfg["rms_norm_eps"] = meta_float(f, p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  cfg["rope_theta"] = meta_float(f, p + "rope.freq_base").value_or(10000.0);
  cfg["max_position_embeddings"] = meta_int(f, p + "context_length", false, 2048);
  if (const auto key_length = meta_int(f, p + "attention.key_length", false); key_length > 0)
    cfg["head_dim"] = key_length;
  std::int64_t vocab = meta_int(f, p + "vocab_size", false, -1);
  if (vocab < 0) {
    const auto* tokens = f.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type != kArray)
      fail("{}: neither {}vocab_size nor tokenizer.ggml.tokens is present", path.string(), p);
    vocab = static_cast<std::int64_t>(tokens->array.size());
  }
  cfg["vocab_size"] = vocab;
  bool has_output = false;
  for (const auto& t : f.tensors()) has_output |= t.name == "output.weight";
  cfg["tie_word_embeddings"] = !has_output;
  return cfg;
}

std::unique_ptr<Checkpoint> open_gguf_checkpoint(const fs::path& path) {
  const auto parts = gguf_parts(path);
  std::int64_t heads = 0, kv_heads = 0;
  {
    const MappedFile map(parts.front());
    const GgufFile f(map.bytes(), parts.front().string());
    const auto arch = architecture(f);
    if (arch != "llama")
      fail<NotImplementedError>(
          "{}: GGUF architecture '{}' is not supported yet (supported: llama)", path.string(),
          arch);
    heads = meta_int(f, "llama.attention.head_count", true);
    kv_heads = meta_int(f, "llama.attention.head_count_kv", false, heads);
    if (heads <= 0 || kv_heads <= 0) fail("{}: head counts must be positive", path.string());
  }
  auto ckpt = std::make_unique<Checkpoint>();
  for (const auto& p : parts) ckpt->add_file(std::make_unique<GgufSource>(p, heads, kv_heads));
  ckpt->map_all();
  return ckpt;
}

void check_gguf_bytes(std::span<const std::byte> bytes) {
  const GgufFile f(bytes, "fuzz.gguf");
  std::vector<float> out;
  for (const auto& t : f.tensors()) {
    if (!find_ggml_type(t.type)->decode) continue;
    std::uint64_t n = 1;
    for (auto d : t.ne) n *= d;
    if (n > (1u << 20)) continue;
    out.resize(static_cast<std::size_t>(n));
    dequantize_ggml(t.type, f.data(t).data(), out.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace weightcast
