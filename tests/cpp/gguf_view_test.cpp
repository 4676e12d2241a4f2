// The GGUF view machinery (arch/gguf/view_source.h) on an in-memory part: every transformation a
// family's naming can ask for, checked against values worked out by hand.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "arch/gguf/view_source.h"
#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {
namespace {

// A part whose tensors are float32 (or float16) vectors given in C order; counts releases.
class FakePart final : public SourceFile {
 public:
  void add(std::string name, Shape shape, std::vector<float> values) {
    infos_.push_back({std::move(name), DType::kF32, std::move(shape)});
    bytes_.emplace_back(values.size() * 4);
    std::memcpy(bytes_.back().data(), values.data(), bytes_.back().size());
  }
  void add_f16(std::string name, std::vector<float> values) {
    infos_.push_back({std::move(name), DType::kF16, {static_cast<std::int64_t>(values.size())}});
    bytes_.emplace_back(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto h = f32_to_f16(values[i]);
      std::memcpy(bytes_.back().data() + 2 * i, &h, 2);
    }
  }
  const std::filesystem::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override { return bytes_[i]; }
  void release(std::size_t i) const override { ++released[infos_[i].name]; }
  mutable std::map<std::string, int> released;

 private:
  std::filesystem::path path_ = "fake.gguf";
  std::vector<TensorInfo> infos_;
  std::vector<std::vector<std::byte>> bytes_;
};

std::vector<float> floats(std::span<const std::byte> b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

TEST(GgufView, EveryTransformation) {
  auto part = std::make_unique<FakePart>();
  auto* fake = part.get();
  part->add("t", {2, 3}, {0, 1, 2, 3, 4, 5});
  part->add("q", {4}, {10, 12, 11, 13});  // one head of 4 rows, halves interleaved
  part->add("k", {2}, {20, 21});
  part->add_f16("n", {1.5f, 2, 3});
  part->add("e", {2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  part->add("rope_freqs", {2}, {9, 9});
  const auto view = open_view_part(std::move(part), [](const std::string& g) {
    GgufTensorName n{g};
    if (g == "t") n.transpose = true;
    if (g == "q") n = {.hf = "qk", .unpermute_heads = 1, .concat_order = 0};
    if (g == "k") n = {.hf = "qk", .concat_order = 1};
    if (g == "n") n.add = -1.0f;
    if (g == "e") n.slices = expert_slices("e.{}.w", 2);
    n.skip = g == "rope_freqs";
    return n;
  });
  std::vector<std::string> names;
  for (const auto& t : view->tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"t", "qk", "n", "e.0.w", "e.1.w"}));
  EXPECT_EQ(view->tensors()[0].shape, (Shape{3, 2}));
  EXPECT_EQ(floats(view->data(0)), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(view->tensors()[1].shape, (Shape{6}));
  EXPECT_EQ(floats(view->data(1)), (std::vector<float>{10, 11, 12, 13, 20, 21}));
  EXPECT_EQ(view->tensors()[2].dtype, DType::kF32);
  EXPECT_EQ(floats(view->data(2)), (std::vector<float>{0.5f, 1, 2}));
  EXPECT_EQ(view->tensors()[3].shape, (Shape{2, 2}));
  EXPECT_EQ(floats(view->data(3)), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(floats(view->data(4)), (std::vector<float>{4, 5, 6, 7}));
  // The stack's bytes go once both experts are done, and only then.
  view->release(3);
  EXPECT_EQ(fake->released["e"], 0);
  view->release(3);  // a second release of the same expert does not count twice
  EXPECT_EQ(fake->released["e"], 0);
  view->release(4);
  EXPECT_EQ(fake->released["e"], 1);
  view->release(1);
  EXPECT_EQ(fake->released["q"], 1);
  EXPECT_EQ(fake->released["k"], 1);
}

TEST(GgufView, SlicesOutOfRangeAreRefused) {
  auto part = std::make_unique<FakePart>();
  part->add("w", {4, 2}, std::vector<float>(8));
  try {
    open_view_part(std::move(part), [](const std::string& g) {
      GgufTensorName n{g};
      n.slices = {{"a", 0, 2}, {"b", 2, 5}};
      return n;
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("tensor w of shape (4, 2): rows [2, 5) for b are out of range"),
        std::string::npos)
        << e.what();
  }
}

TEST(GgufView, HeadsThatDoNotDivideAreRefused) {
  auto part = std::make_unique<FakePart>();
  part->add("w", {6, 1}, std::vector<float>(6));
  try {
    open_view_part(std::move(part), [](const std::string& g) {
      return GgufTensorName{.hf = g, .unpermute_heads = 2};
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not split into 2 heads"), std::string::npos)
        << e.what();
  }
}

TEST(GgufView, NameTables) {
  const GgufNameTable top = {{"token_embd", "model.embed_tokens"}};
  const GgufNameTable layer = {{"attn_q", "self_attn.q_proj"}};
  EXPECT_EQ(gguf_to_hf("token_embd.weight", top, layer), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf("blk.12.attn_q.bias", top, layer), "model.layers.12.self_attn.q_proj.bias");
  EXPECT_EQ(gguf_to_hf("blk.1.unknown.weight", top, layer), "blk.1.unknown.weight");
  EXPECT_EQ(gguf_to_hf("blk.x.attn_q.weight", top, layer), "blk.x.attn_q.weight");
  EXPECT_EQ(gguf_to_hf("attn_q.weight", top, layer), "attn_q.weight");
}

}  // namespace
}  // namespace weightcast
