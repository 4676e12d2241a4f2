#include "arch/gguf/view_source.h"

#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "util/error.h"
#include "util/float_bits.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

// GGUF row (head, i, j) holds HuggingFace row (head, j, i), for j in {0, 1} and i below half the
// rows of a head: llama.cpp's converter interleaves the two halves of each head's rows
// (docs/source-formats.md#gguf-llama-view).
void unpermute_rows(std::span<const std::byte> in, std::byte* out, std::size_t rows,
                    std::size_t heads) {
  const std::size_t row_bytes = in.size() / rows, per_head = rows / heads, half = per_head / 2;
  for (std::size_t h = 0; h < heads; ++h)
    for (std::size_t j = 0; j < 2; ++j)
      for (std::size_t k = 0; k < half; ++k)
        std::memcpy(out + (h * per_head + j * half + k) * row_bytes,
                    in.data() + (h * per_head + k * 2 + j) * row_bytes, row_bytes);
}

// One GGUF tensor's share of an HF tensor: rows [begin, end) of it (after the transpose).
struct Member {
  std::size_t gguf;
  std::int64_t begin, end;
  std::int64_t heads;
  bool transpose;  // its last two axes swapped back first
};

struct Output {
  TensorInfo info;
  std::vector<Member> members;  // concatenated in this order
  bool flatten = false;
  float add = 0;
  std::function<std::int64_t(std::int64_t)> rows;
  bool in_place() const {
    return members.size() == 1 && members[0].heads == 0 && !members[0].transpose && !flatten &&
           add == 0 && !rows;
  }
};

class ViewSource final : public SourceFile {
 public:
  ViewSource(std::unique_ptr<SourceFile> gguf, const GgufNaming& naming) : gguf_(std::move(gguf)) {
    std::map<std::string, std::map<int, std::size_t>> concat;  // hf -> order -> GGUF index
    std::unordered_map<std::string, std::size_t> concat_output;
    std::unordered_map<std::size_t, Member> parts;  // concatenated GGUF tensors' heads, transpose
    const auto& ts = gguf_->tensors();
    for (std::size_t g = 0; g < ts.size(); ++g) {
      auto name = naming(ts[g].name);
      if (name.skip) continue;
      const Shape shape = source_shape(ts[g], name.transpose, name.flatten);
      if (name.add != 0 && !is_float(ts[g].dtype))
        fail("{}: tensor {} of type {} cannot have values added", path().string(), ts[g].name,
             tvm_name(ts[g].dtype));
      if (name.slices.empty()) {
        GgufSlice whole{name.hf, 0, shape[0], false, name.unpermute_heads};
        if (name.concat_order >= 0) {
          if (!concat[name.hf].emplace(name.concat_order, g).second)
            fail("{}: two tensors take place {} of {}", path().string(), name.concat_order,
                 name.hf);
          parts[g] = {g, 0, 0, name.unpermute_heads, name.transpose};
          if (const auto it = concat_output.find(name.hf); it != concat_output.end()) {
            if (name.rows) outputs_[it->second].rows = name.rows;
            continue;
          }
          concat_output[name.hf] = outputs_.size();
        }
        add_output(g, whole, name, shape);
      } else {
        if (name.concat_order >= 0)
          fail("{}: tensor {} is both sliced and concatenated", path().string(), ts[g].name);
        for (const auto& s : name.slices) add_output(g, s, name, shape);
      }
    }
    for (const auto& [hf, members] : concat) join(concat_output.at(hf), members, parts);
    for (const auto& o : outputs_) {
      infos_.push_back(o.info);
      for (const auto& m : o.members) ++uses_[m.gguf];
    }
  }
  const fs::path& path() const override { return gguf_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override {
    const auto& o = outputs_[i];
    const std::size_t bytes =
        static_cast<std::size_t>(numel(o.info.shape)) * dtype_size(o.info.dtype);
    if (o.in_place()) {
      const auto& m = o.members[0];
      return gguf_->data(m.gguf).subspan(static_cast<std::size_t>(m.begin) * row_bytes(m.gguf),
                                         bytes);
    }
    auto& buf = built_[i];
    if (!buf) buf = build(o, bytes);
    return {buf.get(), bytes};
  }
  void prefetch(std::size_t i) const override {
    for (const auto& m : outputs_[i].members) gguf_->prefetch(m.gguf);
  }
  void release(std::size_t i) const override {
    built_.erase(i);
    if (!released_.insert(i).second) return;
    // A GGUF tensor's bytes (or decoded copy) go once every tensor cut from it is done.
    for (const auto& m : outputs_[i].members)
      if (--uses_[m.gguf] == 0) gguf_->release(m.gguf);
  }

 private:
  static bool is_float(DType d) {
    return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
  }

  // The shape the tensor has once transposed back (its last two axes) and flattened (its two
  // outermost axes merged).
  Shape source_shape(const TensorInfo& t, bool transpose, bool flatten) const {
    Shape s = t.shape.empty() ? Shape{1} : t.shape;
    if (transpose && (s.size() < 2 || s.size() > 3))
      fail("{}: tensor {} of shape {} cannot be transposed back (2-D or 3-D only)", path().string(),
           t.name, shape_str(t.shape));
    if (transpose) std::swap(s[s.size() - 2], s[s.size() - 1]);
    if (flatten && s.size() < 2)
      fail("{}: tensor {} of shape {} has no two axes to merge", path().string(), t.name,
           shape_str(t.shape));
    if (flatten) {
      s[1] *= s[0];
      s.erase(s.begin());
    }
    return s;
  }

  std::size_t row_bytes(std::size_t g) const {
    const auto& t = gguf_->tensors()[g];
    const auto rows = t.shape.empty() ? 1 : t.shape[0];
    return static_cast<std::size_t>(numel(t.shape) / rows) * dtype_size(t.dtype);
  }

  void add_output(std::size_t g, const GgufSlice& s, const GgufTensorName& name,
                  const Shape& shape) {
    const auto& t = gguf_->tensors()[g];
    if (s.begin < 0 || s.end <= s.begin || s.end > shape[0] || (s.squeeze && s.end != s.begin + 1))
      fail("{}: tensor {} of shape {}: rows [{}, {}) for {} are out of range", path().string(),
           t.name, shape_str(shape), s.begin, s.end, s.hf);
    Shape out = shape;
    out[0] = s.end - s.begin;
    if (s.squeeze) out.erase(out.begin());
    if (s.unpermute_heads > 0 &&
        (out.size() > 2 || out.empty() || out[0] % (2 * s.unpermute_heads) != 0))
      fail("{}: tensor {} of shape {} does not split into {} heads", path().string(), t.name,
           shape_str(out), s.unpermute_heads);
    Output o;
    o.info = {s.hf, name.add != 0 ? DType::kF32 : t.dtype, out};
    o.members.push_back({g, s.begin, s.end, s.unpermute_heads, name.transpose});
    o.flatten = name.flatten;
    o.add = name.add;
    o.rows = name.rows;
    outputs_.push_back(std::move(o));
  }

  // The output at `at` (its first member's) becomes the concatenation of `members`.
  void join(std::size_t at, const std::map<int, std::size_t>& members,
            const std::unordered_map<std::size_t, Member>& parts) {
    auto& o = outputs_[at];
    o.members.clear();
    std::int64_t rows = 0;
    for (const auto& [order, g] : members) {
      const auto& t = gguf_->tensors()[g];
      const auto& part = parts.at(g);
      const Shape shape = source_shape(t, part.transpose, o.flatten);
      if (t.dtype != o.info.dtype && o.add == 0) {
        // Float parts of different types (one kept F16 where its rows fit no quantized block,
        // one dequantized to float32) join as float32, which holds each exactly.
        if (!is_float(t.dtype) || !is_float(o.info.dtype))
          fail("{}: tensor {} has type {}, unlike the others of {}", path().string(), t.name,
               tvm_name(t.dtype), o.info.name);
        o.info.dtype = DType::kF32;
      }
      if (!std::equal(shape.begin() + 1, shape.end(), o.info.shape.begin() + 1, o.info.shape.end()))
        fail("{}: tensor {} of shape {} cannot be concatenated into {} of shape {}",
             path().string(), t.name, shape_str(shape), o.info.name, shape_str(o.info.shape));
      o.members.push_back({g, 0, shape[0], part.heads, part.transpose});
      rows += shape[0];
    }
    o.info.shape[0] = rows;
  }

  std::unique_ptr<std::byte[]> build(const Output& o, std::size_t bytes) const;
  std::byte* build_member(const Output& o, const Member& m, DType to, std::byte* at) const;
  void reorder_rows(const Output& o, std::byte* data, std::size_t bytes) const;

  std::unique_ptr<SourceFile> gguf_;
  std::vector<Output> outputs_;
  std::vector<TensorInfo> infos_;
  mutable std::unordered_map<std::size_t, int> uses_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<std::byte[]>> built_;
  mutable std::unordered_set<std::size_t> released_;
};

// The element as float32.
float load_float(DType d, const std::byte* p) {
  if (d == DType::kF32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return d == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
}

std::unique_ptr<std::byte[]> ViewSource::build(const Output& o, std::size_t bytes) const {
  // The members are assembled in the source's type when a constant is added (widened at the end),
  // else in the output's type.
  const auto built = o.add != 0 ? gguf_->tensors()[o.members[0].gguf].dtype : o.info.dtype;
  const std::size_t elem = dtype_size(built);
  const std::size_t built_bytes = bytes / dtype_size(o.info.dtype) * elem;
  auto buf = std::make_unique_for_overwrite<std::byte[]>(std::max(bytes, built_bytes));
  std::byte* at = buf.get();
  for (const auto& m : o.members) at = build_member(o, m, built, at);
  if (o.rows) reorder_rows(o, buf.get(), built_bytes);
  if (o.add != 0) {  // widen in place from the back, so float16 data never overwrites itself
    const std::size_t n = bytes / 4;
    for (std::size_t k = n; k-- > 0;) {
      const float v = load_float(built, buf.get() + k * elem) + o.add;
      std::memcpy(buf.get() + k * 4, &v, 4);
    }
  }
  return buf;
}

// Writes the member's rows at `at` in type `to` (its own, or float32 to widen it to); returns
// where they end.
std::byte* ViewSource::build_member(const Output& o, const Member& m, DType to,
                                    std::byte* at) const {
  const auto& t = gguf_->tensors()[m.gguf];
  const std::size_t elem = dtype_size(t.dtype);
  auto in = gguf_->data(m.gguf);
  std::vector<std::byte> tmp;
  if (m.transpose) {  // [.., r, c] -> [.., c, r]
    const auto& shape = t.shape;
    const auto r = static_cast<std::size_t>(shape[shape.size() - 2]),
               c = static_cast<std::size_t>(shape.back());
    const std::size_t mats = in.size() / (r * c * elem);
    tmp.resize(in.size());
    for (std::size_t b = 0; b < mats; ++b)
      for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < c; ++j)
          std::memcpy(tmp.data() + (b * r * c + j * r + i) * elem,
                      in.data() + (b * r * c + i * c + j) * elem, elem);
    in = tmp;
  }
  const std::size_t rows = static_cast<std::size_t>(m.end - m.begin);
  const auto src_rows = source_shape(t, m.transpose, o.flatten)[0];
  const std::size_t row = in.size() / static_cast<std::size_t>(src_rows);
  const auto part = in.subspan(static_cast<std::size_t>(m.begin) * row, rows * row);
  std::vector<std::byte> narrow;
  std::byte* dst = at;
  if (t.dtype != to) {
    if (to != DType::kF32)
      fail("{}: {} cannot be widened to {}", path().string(), t.name, tvm_name(to));
    narrow.resize(part.size());
    dst = narrow.data();
  }
  if (m.heads > 0)
    unpermute_rows(part, dst, rows, static_cast<std::size_t>(m.heads));
  else
    std::memcpy(dst, part.data(), part.size());
  if (t.dtype == to) return at + part.size();
  const std::size_t n = part.size() / elem;
  for (std::size_t k = 0; k < n; ++k) {
    const float v = load_float(t.dtype, dst + k * elem);
    std::memcpy(at + k * 4, &v, 4);
  }
  return at + n * 4;
}

// HF row r of the output is row o.rows(r) of what the members built.
void ViewSource::reorder_rows(const Output& o, std::byte* data, std::size_t bytes) const {
  const auto n = static_cast<std::size_t>(o.info.shape.empty() ? 1 : o.info.shape[0]);
  const std::size_t row = bytes / n;
  const std::vector<std::byte> in(data, data + bytes);
  for (std::size_t r = 0; r < n; ++r) {
    const auto from = o.rows(static_cast<std::int64_t>(r));
    if (from < 0 || static_cast<std::size_t>(from) >= n)
      fail("{}: {}: row {} would come from row {} of {}", path().string(), o.info.name, r, from, n);
    std::memcpy(data + r * row, in.data() + static_cast<std::size_t>(from) * row, row);
  }
}

}  // namespace

std::unique_ptr<SourceFile> open_view_part(std::unique_ptr<SourceFile> gguf,
                                           const GgufNaming& naming) {
  return std::make_unique<ViewSource>(std::move(gguf), naming);
}

}  // namespace weightcast
