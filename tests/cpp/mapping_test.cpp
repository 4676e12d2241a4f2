// The mapping kinds: each one's shape rule and row filler, on small float32 tensors.
#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "map/kinds.h"

namespace weightcast {
namespace {

struct Source {
  std::string name;
  Shape shape;
  std::vector<float> data;
};

struct Mapped {
  Shape shape;
  std::vector<float> data;
};

// The mapped parameter, filled in two row blocks to exercise `begin`.
Mapped mapped(const MappingPtr& mapping, const std::vector<Source>& sources) {
  std::vector<SourceShape> shapes;
  for (const auto& s : sources) shapes.push_back({s.name, s.shape});
  Mapped out;
  out.shape = mapping->shape("p", shapes);
  std::vector<SourcePart> parts;
  for (const auto& s : sources)
    parts.push_back({std::as_bytes(std::span(s.data)), sizeof(float), s.data.size(),
                     static_cast<std::size_t>(s.shape.back()),
                     mapping->element_cast(s.name, DType::kF32, false, DType::kF32)});
  const auto row = static_cast<std::size_t>(out.shape.back());
  const auto rows = static_cast<std::size_t>(numel(out.shape)) / row;
  out.data.resize(rows * row);
  const MappedView view{parts, out.shape, row, sizeof(float)};
  auto* bytes = reinterpret_cast<std::byte*>(out.data.data());
  mapping->fill(view, 0, rows / 2, bytes);
  mapping->fill(view, rows / 2, rows, bytes + rows / 2 * row * sizeof(float));
  return out;
}

TEST(Mapping, ConcatAlongRowsAndColumns) {
  const std::vector<Source> rows{{"a", {2, 2}, {1, 2, 3, 4}}, {"b", {1, 2}, {5, 6}}};
  auto m = mapped(map::concat(0), rows);
  EXPECT_EQ(m.shape, (Shape{3, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const std::vector<Source> cols{{"a", {2, 1}, {1, 2}}, {"b", {2, 2}, {3, 4, 5, 6}}};
  m = mapped(map::concat(1), cols);
  EXPECT_EQ(m.shape, (Shape{2, 3}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 3, 4, 2, 5, 6}));
  EXPECT_THROW(mapped(map::concat(0), cols), Error);
}

TEST(Mapping, StackGroupsOfConcatenatedSources) {
  const std::vector<Source> experts{{"g0", {1, 2}, {1, 2}},
                                    {"u0", {1, 2}, {3, 4}},
                                    {"g1", {1, 2}, {5, 6}},
                                    {"u1", {1, 2}, {7, 8}}};
  const auto m = mapped(map::stack(2), experts);
  EXPECT_EQ(m.shape, (Shape{2, 2, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  const std::vector<Source> uneven{{"g0", {1, 2}, {1, 2}}, {"g1", {2, 2}, {3, 4, 5, 6}}};
  EXPECT_THROW(mapped(map::stack(2), uneven), Error);
  EXPECT_THROW(mapped(map::stack(3), uneven), Error);
}

TEST(Mapping, TransposeAndPermuteRows) {
  const std::vector<Source> conv{{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}};
  auto m = mapped(map::transpose(), conv);
  EXPECT_EQ(m.shape, (Shape{3, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  const auto reverse = map::permute_rows(2, [](std::int64_t r) { return 1 - r; });
  m = mapped(reverse, {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}});
  EXPECT_EQ(m.data, (std::vector<float>{4, 5, 6, 1, 2, 3}));
  m = mapped(reverse, {{"b", {2}, {1, 2}}});  // a 1-D source reorders its elements
  EXPECT_EQ(m.data, (std::vector<float>{2, 1}));
  EXPECT_THROW(mapped(reverse, {{"w", {3, 1}, {1, 2, 3}}}), Error);
}

TEST(Mapping, HeadSliceTakesRowsOfEachHead) {
  // Two heads of three rows; rows [1, 3) of each.
  const std::vector<Source> kv{{"kv", {6, 2}, {0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51}}};
  auto m = mapped(map::head_slice({2, 3, 1, 3, false}), kv);
  EXPECT_EQ(m.shape, (Shape{2, 2, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{10, 11, 20, 21, 40, 41, 50, 51}));
  m = mapped(map::head_slice({2, 3, 1, 3, true}), kv);
  EXPECT_EQ(m.shape, (Shape{2, 2, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{10, 20, 11, 21, 40, 50, 41, 51}));
  EXPECT_THROW(mapped(map::head_slice({3, 3, 1, 3, false}), kv), Error);
}

TEST(Mapping, AddOneBeforeTheCast) {
  const auto m = mapped(map::add_one(), {{"norm", {3}, {0.5f, -1, 2}}});
  EXPECT_EQ(m.data, (std::vector<float>{1.5f, 0, 3}));
}

TEST(Mapping, BlockGridOfScales) {
  const auto plain = map::concat(0)->block_grid("w", {300, 256}, 128, 128);
  EXPECT_EQ(plain.shape, (Shape{3, 2}));
  const auto slice = map::head_slice({2, 256, 128, 256, true});
  const auto grid = slice->block_grid("w_uk", {2, 512, 128}, 128, 128);
  EXPECT_EQ(grid.shape, (Shape{2, 4, 1}));
  EXPECT_THROW(
      map::head_slice({2, 256, 64, 256, false})->block_grid("w_uv", {2, 192, 512}, 128, 128),
      Error);
}

// What a fill from element `first` of a flat parameter reads first: the rest of the part holding
// it, up to `last`; the prefetch of the pipeline's next row block relies on it.
TEST(Mapping, FlatSourceBytesAreThePartHoldingTheFirstElement) {
  const std::vector<float> q{1, 2, 3, 4}, k{5, 6}, v{7, 8};
  std::vector<SourcePart> parts;
  for (const auto* s : {&q, &k, &v})
    parts.push_back({std::as_bytes(std::span(*s)), sizeof(float), s->size(), 2, {}});
  auto floats = [](std::span<const std::byte> b) {
    const auto* f = reinterpret_cast<const float*>(b.data());
    return std::vector<float>(f, f + b.size() / sizeof(float));
  };
  EXPECT_EQ(floats(flat_source_bytes(parts, 0, 8)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(floats(flat_source_bytes(parts, 2, 3)), (std::vector<float>{3}));
  EXPECT_EQ(floats(flat_source_bytes(parts, 4, 6)), (std::vector<float>{5, 6}));
  EXPECT_EQ(floats(flat_source_bytes(parts, 5, 8)), (std::vector<float>{6}));
  EXPECT_EQ(floats(flat_source_bytes(parts, 6, 8)), (std::vector<float>{7, 8}));
  EXPECT_TRUE(flat_source_bytes(parts, 8, 10).empty());
  // A part whose bytes are fewer than its count says (never the case once validated) is clipped.
  parts[2].data = parts[2].data.first(4);
  EXPECT_EQ(floats(flat_source_bytes(parts, 6, 8)), (std::vector<float>{7}));
}

}  // namespace
}  // namespace weightcast
