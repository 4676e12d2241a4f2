#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "weightcast/weightcast.h"

namespace weightcast {
namespace {

using testing::safetensors_bytes;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::temp_dir("st"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `bytes` and returns the error message opening it produces ("" if none).
  std::string error_of(const std::string& bytes) {
    const auto path = dir_ / "model.safetensors";
    testing::write_bytes(path, bytes);
    try {
      open_safetensors_checkpoint(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(SafetensorsTest, ReadsTensorsInDataOffsetOrder) {
  const std::string header =
      R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}})";
  const auto path = dir_ / "model.safetensors";
  testing::write_bytes(
      path, safetensors_bytes(header, std::string("\x00\x00\x80\x3f\x00\x3c\x00\xc0", 8)));
  auto ckpt = open_safetensors_checkpoint(path);
  ASSERT_EQ(ckpt->weight_map_order(), (std::vector<std::string>{"a", "b"}));
  const auto* b = ckpt->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(ckpt->info(*b).dtype, DType::kF16);
  EXPECT_EQ(ckpt->info(*b).shape, Shape{2});
  const auto data = ckpt->files()[b->file]->data(b->index);
  ASSERT_EQ(data.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(data[1]), 0x3C);
}

TEST_F(SafetensorsTest, RejectsTruncatedFile) {
  EXPECT_NE(error_of(std::string("\x05\x00", 2)).find("truncated safetensors file (2 bytes"),
            std::string::npos);
}

TEST_F(SafetensorsTest, RejectsHeaderLengthPastEnd) {
  std::string bytes = safetensors_bytes("{}", "");
  bytes[0] = 100;
  EXPECT_NE(error_of(bytes).find("header length 100 runs past the end of the file (10 bytes)"),
            std::string::npos);
}

TEST_F(SafetensorsTest, RejectsHugeHeaderLength) {
  std::string bytes = safetensors_bytes("{}", "");
  bytes[7] = 1;
  EXPECT_NE(error_of(bytes).find("exceeds the 100000000-byte limit"), std::string::npos);
}

TEST_F(SafetensorsTest, RejectsInvalidJson) {
  EXPECT_NE(error_of(safetensors_bytes("{\"a\": [", "")).find("invalid safetensors JSON header"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors_bytes("[1]", "")).find("not a JSON object"), std::string::npos);
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  EXPECT_NE(
      error_of(safetensors_bytes(R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "x"))
          .find("tensor \"w\": unknown dtype \"Q4\""),
      std::string::npos);
}

TEST_F(SafetensorsTest, RejectsSpanPastEnd) {
  EXPECT_NE(error_of(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                       "1234"))
                .find("run past the end of the file (data section is 4 bytes)"),
            std::string::npos);
}

TEST_F(SafetensorsTest, RejectsSpanThatDisagreesWithShape) {
  EXPECT_NE(error_of(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                       "12345678"))
                .find("hold 8 bytes, but F32 (3,) needs 12"),
            std::string::npos);
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  EXPECT_NE(error_of(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                       "12345678"))
                .find("overlap"),
            std::string::npos);
}

TEST_F(SafetensorsTest, ReadsSubByteDtypesAndRejectsPartialBytes) {
  const auto path = dir_ / "model.safetensors";
  testing::write_bytes(
      path, safetensors_bytes(R"({"w":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}})", "ab"));
  auto ckpt = open_safetensors_checkpoint(path);
  EXPECT_EQ(ckpt->info(*ckpt->find("w")).dtype, DType::kF4E2M1);
  EXPECT_NE(
      error_of(safetensors_bytes(R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab"))
          .find("is not a whole number of bytes"),
      std::string::npos);
}

TEST_F(SafetensorsTest, RejectsShapeOverflow) {
  EXPECT_NE(
      error_of(safetensors_bytes(
                   R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
                   "1234"))
          .find("overflows"),
      std::string::npos);
}

TEST_F(SafetensorsTest, IndexNamingMissingShardIsAnError) {
  testing::write_bytes(dir_ / "model.safetensors.index.json",
                       R"({"weight_map": {"w": "model-00001-of-00002.safetensors"}})");
  try {
    open_safetensors_checkpoint(dir_ / "model.safetensors.index.json");
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("model-00001-of-00002.safetensors, which does not exist"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace weightcast
