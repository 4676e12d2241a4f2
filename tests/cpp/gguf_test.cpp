#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <bit>
#include <fstream>
#include <vector>

#include "util/mapped_file.h"

namespace weightcast {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(WEIGHTCAST_SOURCE_DIR) / "tests/fixtures/gguf";

// Every block type, random blocks written by gguf-py, against gguf.quants.dequantize's float32
// output, bit for bit (blocks-expected.f32, made by scripts/make_gguf_fixtures.py).
TEST(Gguf, DequantizationMatchesGgufPyBitForBit) {
  const MappedFile map(kFixtures / "blocks.gguf");
  const GgufFile file(map.bytes(), "blocks.gguf");
  std::ifstream in(kFixtures / "blocks-expected.f32", std::ios::binary);
  std::vector<float> expected((std::istreambuf_iterator<char>(in)), {});
  in.seekg(0);
  expected.resize(std::filesystem::file_size(kFixtures / "blocks-expected.f32") / 4);
  in.read(reinterpret_cast<char*>(expected.data()),
          static_cast<std::streamsize>(expected.size() * 4));
  ASSERT_EQ(file.tensors().size(), 11u);
  std::size_t at = 0;
  for (const auto& t : file.tensors()) {
    const std::size_t n = t.ne[0] * t.ne[1];
    std::vector<float> out(n);
    dequantize_ggml(t.type, file.data(t).data(), out.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[i]),
                std::bit_cast<std::uint32_t>(expected[at + i]))
          << t.name << "[" << i << "]: " << out[i] << " vs " << expected[at + i];
    at += n;
  }
  EXPECT_EQ(at, expected.size());
}

}  // namespace
}  // namespace weightcast
