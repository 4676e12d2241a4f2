#include "arch/gguf/view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "util/error.h"
#include "util/float_bits.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

const GgufView& find_view(const GgufModel& model, std::string_view advice) {
  const auto arch = model.first().architecture();
  std::vector<std::string_view> names;
  for (const auto* view : gguf_views()) {
    if (view->architecture == arch) return *view;
    names.push_back(view->architecture);
  }
  fail<NotImplementedError>("{}: GGUF architecture '{}' is not supported yet (supported: {}){}",
                            model.path().string(), arch, fmt::join(names, ", "), advice);
}

// GGUF row (head, i, j) holds HuggingFace row (head, j, i), for j in {0, 1} and i below half the
// rows of a head: llama.cpp's converter interleaves the two halves of each head's rows
// (docs/source-formats.md#gguf-llama-view).
std::unique_ptr<std::byte[]> unpermute_rows(std::span<const std::byte> in, std::size_t rows,
                                            std::size_t heads) {
  const std::size_t row_bytes = in.size() / rows, per_head = rows / heads, half = per_head / 2;
  auto out = std::make_unique_for_overwrite<std::byte[]>(in.size());
  for (std::size_t h = 0; h < heads; ++h)
    for (std::size_t j = 0; j < 2; ++j)
      for (std::size_t k = 0; k < half; ++k)
        std::memcpy(out.get() + (h * per_head + j * half + k) * row_bytes,
                    in.data() + (h * per_head + k * 2 + j) * row_bytes, row_bytes);
  return out;
}

// The float32 copy of a float16, bfloat16 or float32 tensor (parts of mixed types are joined in
// float32, which holds every value of the narrower types exactly).
std::vector<float> widen(std::span<const std::byte> in, DType dtype, const std::string& what) {
  std::vector<float> out(in.size() / dtype_size(dtype));
  const auto* p = in.data();
  for (std::size_t k = 0; k < out.size(); ++k) {
    std::uint16_t h;
    switch (dtype) {
      case DType::kF32:
        std::memcpy(&out[k], p + 4 * k, 4);
        break;
      case DType::kF16:
      case DType::kBF16:
        std::memcpy(&h, p + 2 * k, 2);
        out[k] = dtype == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
        break;
      default:
        fail("{}: cannot join a part of type {} with parts of other types", what, tvm_name(dtype));
    }
  }
  return out;
}

// One HF tensor of a view: the GGUF tensors it is made of and what undoes llama.cpp's changes.
struct ViewTensor {
  std::vector<std::size_t> parts;   // GGUF indices, in join order
  std::vector<std::int64_t> heads;  // per part: un-permute for this many heads, or 0
  GgufRowOrder rows;
  bool transpose = false;
  float offset = 0.0f;
  bool plain() const {
    return parts.size() == 1 && heads[0] == 0 && !rows && !transpose && offset == 0.0f;
  }
};

// One part of a GGUF model under a family's names.
class ViewSource final : public SourceFile {
 public:
  ViewSource(std::unique_ptr<SourceFile> gguf, const GgufNaming& naming) : gguf_(std::move(gguf)) {
    std::unordered_map<std::string, std::size_t> by_name;
    std::vector<std::vector<GgufTensorName>> names;  // per view tensor, per part
    const auto& in = gguf_->tensors();
    for (std::size_t g = 0; g < in.size(); ++g) {
      auto name = naming(in[g].name);
      if (name.parts < 1 || name.part < 0 || name.part >= name.parts)
        fail("{}: tensor {}: part {} of {}", path().string(), in[g].name, name.part, name.parts);
      const auto [it, fresh] = by_name.try_emplace(name.hf, views_.size());
      if (fresh) {
        views_.emplace_back();
        names.emplace_back(static_cast<std::size_t>(name.parts));
        views_.back().parts.assign(static_cast<std::size_t>(name.parts), SIZE_MAX);
        views_.back().heads.assign(static_cast<std::size_t>(name.parts), 0);
      }
      auto& v = views_[it->second];
      const auto k = static_cast<std::size_t>(name.part);
      if (v.parts.size() != static_cast<std::size_t>(name.parts) || v.parts[k] != SIZE_MAX)
        fail("{}: tensor {} maps to {}, which another tensor already provides", path().string(),
             in[g].name, name.hf);
      v.parts[k] = g;
      v.heads[k] = name.unpermute_heads;
      names[it->second][k] = std::move(name);
    }
    for (std::size_t i = 0; i < views_.size(); ++i) infos_.push_back(describe(i, names[i]));
  }
  const fs::path& path() const override { return gguf_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override {
    const auto& v = views_[i];
    if (v.plain()) return gguf_->data(v.parts[0]);
    auto& buf = built_[i];
    if (buf.empty()) buf = build(i);
    return buf;
  }
  void prefetch(std::size_t i) const override {
    for (auto g : views_[i].parts) gguf_->prefetch(g);
  }
  void release(std::size_t i) const override {
    built_.erase(i);
    for (auto g : views_[i].parts) gguf_->release(g);
  }

 private:
  TensorInfo describe(std::size_t i, std::vector<GgufTensorName>& names) {
    auto& v = views_[i];
    const auto& in = gguf_->tensors();
    const auto& hf = names[0].hf;
    for (std::size_t k = 0; k < v.parts.size(); ++k)
      if (v.parts[k] == SIZE_MAX)
        fail("{}: {} is joined from {} GGUF tensors, but part {} is missing", path().string(), hf,
             v.parts.size(), k);
    TensorInfo info{hf, in[v.parts[0]].dtype, in[v.parts[0]].shape};
    for (std::size_t k = 0; k < v.parts.size(); ++k) {
      const auto& t = in[v.parts[k]];
      if (v.heads[k] > 0 && (t.shape.size() > 2 || t.shape[0] % (2 * v.heads[k]) != 0))
        fail("{}: tensor {} of shape {} does not split into {} heads", path().string(), t.name,
             shape_str(t.shape), v.heads[k]);
      if (k == 0) continue;
      if (t.shape.size() != info.shape.size() ||
          !std::equal(t.shape.begin() + 1, t.shape.end(), info.shape.begin() + 1))
        fail("{}: tensor {} of shape {} cannot join {} of shape {}", path().string(), t.name,
             shape_str(t.shape), in[v.parts[0]].name, shape_str(in[v.parts[0]].shape));
      info.shape[0] += t.shape[0];
      if (t.dtype != info.dtype) info.dtype = DType::kF32;
    }
    v.rows = std::move(names[0].rows);
    v.transpose = names[0].transpose;
    v.offset = names[0].offset;
    if (v.offset != 0.0f) info.dtype = DType::kF32;
    if (v.transpose && info.shape.size() != 2)
      fail("{}: tensor {} of shape {} is not a matrix to transpose", path().string(), hf,
           shape_str(info.shape));
    if (v.transpose) std::swap(info.shape[0], info.shape[1]);
    return info;
  }

  // The parts un-permuted and joined, then regrouped and transposed.
  std::vector<std::byte> build(std::size_t i) const {
    const auto& v = views_[i];
    const auto& info = infos_[i];
    const auto esize = dtype_size(info.dtype);
    std::vector<std::byte> joined;
    joined.reserve(static_cast<std::size_t>(numel(info.shape)) * esize);
    for (std::size_t k = 0; k < v.parts.size(); ++k) {
      const auto& t = gguf_->tensors()[v.parts[k]];
      auto bytes = gguf_->data(v.parts[k]);
      std::unique_ptr<std::byte[]> unpermuted;
      if (v.heads[k] > 0) {
        unpermuted = unpermute_rows(bytes, static_cast<std::size_t>(t.shape[0]),
                                    static_cast<std::size_t>(v.heads[k]));
        bytes = {unpermuted.get(), bytes.size()};
      }
      if (t.dtype == info.dtype) {
        joined.insert(joined.end(), bytes.begin(), bytes.end());
      } else {
        const auto wide = widen(bytes, t.dtype, path().string() + ": " + t.name);
        const auto as_bytes = std::as_bytes(std::span<const float>(wide));
        joined.insert(joined.end(), as_bytes.begin(), as_bytes.end());
      }
      gguf_->release(v.parts[k]);  // its bytes (or decoded copy) are no longer needed
    }
    const auto rows = static_cast<std::size_t>(info.shape[v.transpose ? 1 : 0]);
    if (v.rows) joined = reorder_rows(joined, rows, v.rows, info.name);
    if (v.transpose) joined = transposed(joined, rows, joined.size() / rows / esize, esize);
    if (v.offset != 0.0f)
      for (std::size_t k = 0; k < joined.size(); k += 4) {
        float x;
        std::memcpy(&x, joined.data() + k, 4);
        x += v.offset;
        std::memcpy(joined.data() + k, &x, 4);
      }
    return joined;
  }

  std::vector<std::byte> reorder_rows(const std::vector<std::byte>& in, std::size_t rows,
                                      const GgufRowOrder& order, const std::string& name) const {
    const auto row_bytes = in.size() / rows;
    std::vector<std::byte> out(in.size());
    for (std::size_t r = 0; r < rows; ++r) {
      const auto from = order(static_cast<std::int64_t>(r));
      if (from < 0 || static_cast<std::size_t>(from) >= rows)
        fail("{}: {}: row {} has no source row {}", path().string(), name, r, from);
      std::memcpy(out.data() + r * row_bytes,
                  in.data() + static_cast<std::size_t>(from) * row_bytes, row_bytes);
    }
    return out;
  }

  static std::vector<std::byte> transposed(const std::vector<std::byte>& in, std::size_t rows,
                                           std::size_t cols, std::size_t esize) {
    std::vector<std::byte> out(in.size());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c)
        std::memcpy(out.data() + (c * rows + r) * esize, in.data() + (r * cols + c) * esize, esize);
    return out;
  }

  std::unique_ptr<SourceFile> gguf_;
  std::vector<ViewTensor> views_;
  std::vector<TensorInfo> infos_;
  mutable std::unordered_map<std::size_t, std::vector<std::byte>> built_;
};

}  // namespace

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
    ckpt->add_file(std::make_unique<ViewSource>(open_gguf_part(model, i), naming));
  ckpt->map_all();
  return ckpt;
}

std::unique_ptr<Checkpoint> open_gguf_checkpoint(const fs::path& path) {
  return open_gguf_checkpoint(std::make_shared<const GgufModel>(path));
}

}  // namespace weightcast
