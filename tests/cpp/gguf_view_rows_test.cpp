// The view's row regrouping (GgufTensorName::rows, used by GPT-NeoX, InternLM2 and DeepSeek's
// kv_b_proj) on an in-memory part: after concatenation and un-permutation, before anything else.
#include <gtest/gtest.h>

#include <cstring>

#include "arch/gguf/view_source.h"
#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {
namespace {

class RowsPart final : public SourceFile {
 public:
  void add(std::string name, Shape shape, std::vector<float> values) {
    infos_.push_back({std::move(name), DType::kF32, std::move(shape)});
    bytes_.emplace_back(values.size() * 4);
    std::memcpy(bytes_.back().data(), values.data(), bytes_.back().size());
  }
  void add_f16(std::string name, Shape shape, const std::vector<float>& values) {
    infos_.push_back({std::move(name), DType::kF16, std::move(shape)});
    bytes_.emplace_back(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto h = f32_to_f16(values[i]);
      std::memcpy(bytes_.back().data() + 2 * i, &h, 2);
    }
  }
  const std::filesystem::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  std::span<const std::byte> data(std::size_t i) const override { return bytes_[i]; }

 private:
  std::filesystem::path path_ = "rows.gguf";
  std::vector<TensorInfo> infos_;
  std::vector<std::vector<std::byte>> bytes_;
};

std::vector<float> floats(std::span<const std::byte> b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

TEST(GgufViewRows, RegroupsTheConcatenatedRows) {
  auto part = std::make_unique<RowsPart>();
  part->add("q", {4, 2}, {0, 1, 4, 5, 2, 3, 6, 7});  // one head, halves interleaved
  part->add("k", {2, 2}, {8, 9, 10, 11});
  part->add("x", {3}, {1, 2, 3});
  const auto reverse = [](std::int64_t r) { return 5 - r; };
  const auto view = open_view_part(std::move(part), [&](const std::string& g) {
    GgufTensorName n{g == "x" ? "x" : "qk"};
    if (g == "q") n.unpermute_heads = 1;
    if (g != "x") n.concat_order = g == "q" ? 0 : 1;
    if (g == "k") n.rows = reverse;  // any member may carry it
    if (g == "x") n.rows = [](std::int64_t r) { return (r + 1) % 3; };
    return n;
  });
  ASSERT_EQ(view->tensors().size(), 2u);
  EXPECT_EQ(view->tensors()[0].shape, (Shape{6, 2}));
  // q un-permuted: rows 0..3 = [0 1] [2 3] [4 5] [6 7]; then k's two rows; then reversed.
  EXPECT_EQ(floats(view->data(0)), (std::vector<float>{10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1}));
  EXPECT_EQ(floats(view->data(1)), (std::vector<float>{2, 3, 1}));
}

TEST(GgufViewRows, ARowOutOfRangeIsAnError) {
  auto part = std::make_unique<RowsPart>();
  part->add("x", {2}, {1, 2});
  const auto view = open_view_part(std::move(part), [](const std::string& g) {
    GgufTensorName n{g};
    n.rows = [](std::int64_t r) { return r + 1; };
    return n;
  });
  EXPECT_THROW(view->data(0), ValueError);
}

// DeepSeek's split kv_b_proj: k_b [heads, rank, nope] (float16, each head transposed) and v_b
// [heads, v, rank] (float32) back into [heads * (nope + v), rank], per head its nope rows then
// its v rows, as float32.
TEST(GgufViewRows, Transposes3dPerHeadFlattensAndWidens) {
  auto part = std::make_unique<RowsPart>();
  part->add_f16("k_b", {2, 3, 1}, {1, 2, 3, 4, 5, 6});  // 2 heads, rank 3, nope 1
  part->add("v_b", {2, 1, 3}, {7, 8, 9, 10, 11, 12});   // v 1
  const auto view = open_view_part(std::move(part), [](const std::string& g) {
    GgufTensorName n{"kv_b"};
    n.transpose = g == "k_b";
    n.flatten = true;
    n.concat_order = g == "k_b" ? 0 : 1;
    n.rows = [](std::int64_t r) { return r % 2 == 0 ? r / 2 : 2 + r / 2; };
    return n;
  });
  ASSERT_EQ(view->tensors().size(), 1u);
  EXPECT_EQ(view->tensors()[0].shape, (Shape{4, 3}));
  EXPECT_EQ(view->tensors()[0].dtype, DType::kF32);
  EXPECT_EQ(floats(view->data(0)), (std::vector<float>{1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12}));
}

TEST(GgufViewRows, ATransposeOf4dIsRefused) {
  auto part = std::make_unique<RowsPart>();
  part->add("x", {1, 1, 1, 2}, {1, 2});
  EXPECT_THROW(open_view_part(std::move(part),
                              [](const std::string& g) {
                                GgufTensorName n{g};
                                n.transpose = true;
                                return n;
                              }),
               ValueError);
}

}  // namespace
}  // namespace weightcast
