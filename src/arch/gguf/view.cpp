#include "arch/gguf/view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <unordered_map>

#include "util/error.h"

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

// One part of a GGUF model under a family's names.
class ViewSource final : public SourceFile {
 public:
  ViewSource(std::unique_ptr<SourceFile> gguf, const GgufNaming& naming) : gguf_(std::move(gguf)) {
    for (const auto& t : gguf_->tensors()) {
      auto name = naming(t.name);
      const auto heads = name.unpermute_heads;
      if (heads > 0 && (t.shape.size() != 2 || t.shape[0] % (2 * heads) != 0))
        fail("{}: tensor {} of shape {} does not split into {} heads", path().string(), t.name,
             shape_str(t.shape), heads);
      infos_.push_back({std::move(name.hf), t.dtype, t.shape});
      heads_.push_back(heads);
    }
  }
  const fs::path& path() const override { return gguf_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override {
    if (heads_[i] == 0) return gguf_->data(i);
    auto& buf = unpermuted_[i];
    const auto bytes =
        static_cast<std::size_t>(numel(infos_[i].shape)) * dtype_size(infos_[i].dtype);
    if (!buf) {
      buf = unpermute_rows(gguf_->data(i), static_cast<std::size_t>(infos_[i].shape[0]),
                           static_cast<std::size_t>(heads_[i]));
      gguf_->release(i);  // its bytes (or decoded copy) are no longer needed
    }
    return {buf.get(), bytes};
  }
  void prefetch(std::size_t i) const override { gguf_->prefetch(i); }
  void release(std::size_t i) const override {
    unpermuted_.erase(i);
    gguf_->release(i);
  }

 private:
  std::unique_ptr<SourceFile> gguf_;
  std::vector<TensorInfo> infos_;
  std::vector<std::int64_t> heads_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<std::byte[]>> unpermuted_;
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
