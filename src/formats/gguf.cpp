#include "formats/gguf.h"

#include <cstring>
#include <regex>
#include <unordered_map>

#include "util/error.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

using V = GgufValueType;

class Cursor {
 public:
  // What the parsed metadata and tensor list may take: 2 x the file + 48 MiB. Real files are
  // mostly tensor data; a crafted one (a hundred million one-byte array elements, each a
  // GgufValue) is refused before it is built.
  Cursor(std::span<const std::byte> b, const std::string& label)
      : b_(b), label_(label), budget_left_(2 * b.size() + (std::uint64_t{48} << 20)) {}
  void charge(std::uint64_t bytes) {
    if (bytes > budget_left_)
      fail(
          "{}: corrupt GGUF: its metadata would take more memory than a file of {} bytes can "
          "describe",
          label_, b_.size());
    budget_left_ -= bytes;
  }
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
    charge(n);
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
  std::uint64_t budget_left_;
};

// The fewest bytes a value of `type` occupies (an unknown type fails when read).
std::uint64_t min_value_size(V type) {
  switch (type) {
    case V::kU8:
    case V::kI8:
    case V::kBool:
      return 1;
    case V::kU16:
    case V::kI16:
      return 2;
    case V::kU32:
    case V::kI32:
    case V::kF32:
      return 4;
    case V::kU64:
    case V::kI64:
    case V::kF64:
    case V::kString:
      return 8;
    case V::kArray:
      return 12;
    default:
      return 1;
  }
}

template <typename T>
void read_unsigned(Cursor& c, GgufValue& v) {
  v.u = c.read<T>();
  v.i = static_cast<std::int64_t>(v.u);
}

GgufValue read_value(Cursor& c, V type, int depth, const std::string& label,
                     const std::string& key) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case V::kU8:
      read_unsigned<std::uint8_t>(c, v);
      break;
    case V::kI8:
      v.i = c.read<std::int8_t>();
      break;
    case V::kU16:
      read_unsigned<std::uint16_t>(c, v);
      break;
    case V::kI16:
      v.i = c.read<std::int16_t>();
      break;
    case V::kU32:
      read_unsigned<std::uint32_t>(c, v);
      break;
    case V::kI32:
      v.i = c.read<std::int32_t>();
      break;
    case V::kU64:
      read_unsigned<std::uint64_t>(c, v);
      break;
    case V::kI64:
      v.i = c.read<std::int64_t>();
      break;
    case V::kF32:
      v.f = c.read<float>();
      break;
    case V::kF64:
      v.f = c.read<double>();
      break;
    case V::kBool: {
      const auto b = c.read<std::uint8_t>();
      if (b > 1) fail("{}: metadata {}: invalid bool {}", label, key, b);
      v.u = b;
      break;
    }
    case V::kString:
      v.s = c.string();
      break;
    case V::kArray: {
      if (depth >= 2) fail("{}: metadata {}: arrays nested too deeply", label, key);
      v.array_type = static_cast<V>(c.read<std::uint32_t>());
      const auto n = c.read<std::uint64_t>();
      // Each element needs at least this many bytes: a count the file cannot hold is a lie.
      if (n > c.left() / min_value_size(v.array_type))
        fail("{}: metadata {}: an array of {} elements cannot fit in the file", label, key, n);
      c.charge(n * sizeof(GgufValue));  // n <= the file's size: no overflow
      v.array.reserve(static_cast<std::size_t>(n));
      for (std::uint64_t k = 0; k < n; ++k)
        v.array.push_back(read_value(c, v.array_type, depth + 1, label, key));
      break;
    }
    default:
      fail("{}: metadata {}: unknown value type {}", label, key, static_cast<std::uint32_t>(type));
  }
  return v;
}

// One tensor info; its type must be known and its size must not overflow.
GgufTensorInfo read_tensor_info(Cursor& c, const std::string& label, std::uint64_t alignment) {
  GgufTensorInfo t;
  c.charge(2 * sizeof(GgufTensorInfo) + 64);  // with the vector's growth slack and ne
  t.name = c.string();
  const auto n_dims = c.read<std::uint32_t>();
  if (n_dims == 0 || n_dims > 4)
    fail("{}: tensor {} has {} dimensions (1 to 4 allowed)", label, t.name, n_dims);
  for (std::uint32_t d = 0; d < n_dims; ++d) t.ne.push_back(c.read<std::uint64_t>());
  t.type = c.read<std::uint32_t>();
  t.offset = c.read<std::uint64_t>();
  const auto* type = find_ggml_type(t.type);
  if (!type) fail("{}: tensor {} has unknown ggml type {}", label, t.name, t.type);
  std::uint64_t elems = 1;
  for (auto d : t.ne)
    if (d > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(elems, d, &elems) ||
        elems > static_cast<std::uint64_t>(INT64_MAX))
      fail("{}: tensor {}: dimensions overflow", label, t.name);
  if (t.ne[0] % type->block)
    fail("{}: tensor {}: row of {} elements is not a whole number of {} blocks", label, t.name,
         t.ne[0], type->name);
  if (__builtin_mul_overflow(elems / type->block, std::uint64_t{type->bytes}, &t.nbytes))
    fail("{}: tensor {}: size overflows", label, t.name);
  if (t.offset % alignment)
    fail("{}: tensor {}: offset {} is not aligned to {}", label, t.name, t.offset, alignment);
  return t;
}

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
  static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(type);
  return i < std::size(names) ? names[i] : "unknown";
}

GgufFile::GgufFile(std::span<const std::byte> bytes, std::string label)
    : bytes_(bytes), label_(std::move(label)) {
  Cursor c(bytes_, label_);
  c.need(4, "magic");
  if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) fail("{}: not a GGUF file (wrong magic)", label_);
  c.read<std::uint32_t>();
  version_ = c.read<std::uint32_t>();
  if ((version_ & 0xFFFF) == 0)
    fail(
        "{}: big-endian GGUF files are not supported (little-endian GGUF v2 and v3 are; convert it "
        "with gguf-py first)",
        label_);
  if (version_ != 2 && version_ != 3)
    fail("{}: unsupported GGUF version {} (2 and 3 are supported)", label_, version_);
  const auto tensor_count = c.read<std::uint64_t>();
  const auto kv_count = c.read<std::uint64_t>();
  if (kv_count > c.left() / 13 || tensor_count > c.left() / 29)
    fail("{}: corrupt GGUF: {} metadata entries and {} tensors cannot fit in the file", label_,
         kv_count, tensor_count);
  for (std::uint64_t k = 0; k < kv_count; ++k) {
    c.charge(2 * sizeof(decltype(metadata_)::value_type));  // with the vector's growth slack
    std::string key = c.string();
    const auto type = static_cast<V>(c.read<std::uint32_t>());
    metadata_.emplace_back(key, read_value(c, type, 0, label_, key));
  }
  if (const auto* a = find("general.alignment")) {
    if (a->type != V::kU32) fail("{}: metadata general.alignment must be u32", label_);
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      fail("{}: general.alignment {} is not a power of two", label_, a->u);
    alignment_ = a->u;
  }
  for (std::uint64_t k = 0; k < tensor_count; ++k)
    tensors_.push_back(read_tensor_info(c, label_, alignment_));
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

std::optional<std::int64_t> GgufFile::find_int(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  switch (v->type) {
    case V::kU8:
    case V::kU16:
    case V::kU32:
    case V::kU64:
    case V::kI8:
    case V::kI16:
    case V::kI32:
    case V::kI64:
      return v->i;
    default:
      fail("{}: GGUF metadata {} has type {}, expected an integer", label_, key,
           gguf_value_type_name(v->type));
  }
}

std::int64_t GgufFile::get_int(std::string_view key) const {
  const auto v = find_int(key);
  if (!v) fail("{}: GGUF metadata {} is missing", label_, key);
  return *v;
}

std::optional<double> GgufFile::find_float(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != V::kF32 && v->type != V::kF64)
    fail("{}: GGUF metadata {} has type {}, expected a float", label_, key,
         gguf_value_type_name(v->type));
  return v->f;
}

std::string GgufFile::architecture() const {
  const auto* v = find("general.architecture");
  if (!v || v->type != V::kString)
    fail("{}: GGUF metadata general.architecture is missing", label_);
  return v->s;
}

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

GgufModel::GgufModel(const fs::path& path) : path_(path) {
  for (const auto& p : gguf_parts(path)) parts_.push_back(std::make_unique<Part>(p));
}

namespace {

// One part's tensors under their GGUF names.
class GgufSource final : public SourceFile {
 public:
  GgufSource(std::shared_ptr<const GgufModel> model, std::size_t part)
      : model_(std::move(model)), part_(part) {
    const auto& file = model_->part(part_);
    for (const auto& t : file.tensors()) {
      const auto* type = find_ggml_type(t.type);
      if (!type->plain && !type->decode)
        fail<NotImplementedError>(
            "{}: tensor {} has type {}, which weightcast cannot dequantize yet "
            "(supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, "
            "Q3_K, Q4_K, Q5_K, Q6_K, Q8_K)",
            path().string(), t.name, type->name);
      TensorInfo info{t.name, type->plain.value_or(DType::kF32), {}};
      for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it)
        info.shape.push_back(static_cast<std::int64_t>(*it));
      infos_.push_back(std::move(info));
    }
  }
  const fs::path& path() const override { return model_->mapping(part_).path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override {
    const auto& file = model_->part(part_);
    const auto& t = file.tensors()[i];
    const auto raw = file.data(t);
    if (find_ggml_type(t.type)->plain) return raw;
    const auto n = static_cast<std::size_t>(numel(infos_[i].shape));
    auto& buf = decoded_[i];
    if (!buf) {
      buf = std::make_unique_for_overwrite<float[]>(n);
      dequantize_ggml(t.type, raw.data(), buf.get(), n);
    }
    return std::as_bytes(std::span<const float>(buf.get(), n));
  }
  void release(std::size_t i) const override {
    decoded_.erase(i);
    const auto& map = model_->mapping(part_);
    const auto raw = model_->part(part_).data(model_->part(part_).tensors()[i]);
    map.done_with(static_cast<std::size_t>(raw.data() - map.bytes().data()), raw.size());
  }

 private:
  std::shared_ptr<const GgufModel> model_;
  std::size_t part_;
  std::vector<TensorInfo> infos_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<float[]>> decoded_;
};

}  // namespace

std::unique_ptr<SourceFile> open_gguf_part(std::shared_ptr<const GgufModel> model, std::size_t i) {
  return std::make_unique<GgufSource>(std::move(model), i);
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
