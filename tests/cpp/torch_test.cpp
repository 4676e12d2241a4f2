#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/pickle.h"
#include "formats/torch_checkpoint.h"
#include "util/float_bits.h"
#include "weightcast/weightcast.h"

namespace weightcast {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(WEIGHTCAST_SOURCE_DIR) / "tests/fixtures/torch";

double element(DType t, const std::byte* p, std::size_t i) {
  auto load = [&](auto v) {
    std::memcpy(&v, p + i * sizeof(v), sizeof(v));
    return v;
  };
  switch (t) {
    case DType::kF32:
      return load(float{});
    case DType::kF64:
      return load(double{});
    case DType::kF16:
      return f16_to_f32(load(std::uint16_t{}));
    case DType::kBF16:
      return bf16_to_f32(load(std::uint16_t{}));
    case DType::kI64:
      return static_cast<double>(load(std::int64_t{}));
    case DType::kI32:
      return load(std::int32_t{});
    case DType::kI16:
      return load(std::int16_t{});
    case DType::kI8:
      return load(std::int8_t{});
    case DType::kU8:
      return load(std::uint8_t{});
    case DType::kBool:
      return load(std::uint8_t{});
    default:
      return NAN;
  }
}

class TorchSpecial : public ::testing::TestWithParam<const char*> {};

// Every dtype, shared storages, a transposed view, a view with an offset and a None entry, as
// written by the real torch.save, against the values torch itself reported (special.json).
TEST_P(TorchSpecial, TensorsEqualWhatTorchSaved) {
  std::ifstream in(kFixtures / "special.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto expected = nlohmann::ordered_json::parse(text.str());
  std::vector<std::string> warnings;
  const auto file = open_torch_file(kFixtures / GetParam(), warnings);
  EXPECT_EQ(warnings, std::vector<std::string>{"Encountered None param, skipping it: none"});
  ASSERT_EQ(file->tensors().size(), expected.size());
  std::size_t i = 0;
  for (const auto& [name, want] : expected.items()) {
    const auto& info = file->tensors()[i];
    EXPECT_EQ(info.name, name);
    EXPECT_EQ(std::string(tvm_name(info.dtype)), want["dtype"].get<std::string>()) << name;
    EXPECT_EQ(info.shape, want["shape"].get<Shape>()) << name;
    const auto data = file->data(i);
    const auto& values = want["values"];
    ASSERT_EQ(data.size(), values.size() * dtype_size(info.dtype)) << name;
    for (std::size_t k = 0; k < values.size(); ++k)
      ASSERT_EQ(element(info.dtype, data.data(), k), values[k].get<double>())
          << name << "[" << k << "]";
    file->release(i);
    ++i;
  }
}
INSTANTIATE_TEST_SUITE_P(ZipAndLegacy, TorchSpecial,
                         ::testing::Values("special.pt", "special-legacy.pt"));

std::string unpickle_error(const std::string& bytes) {
  Unpickler u(std::as_bytes(std::span(bytes)), "test.pkl",
              [](const PyValue&) { return PyStorage{}; });
  std::size_t pos = 0;
  try {
    u.load(pos);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Unpickler, MalformedInputIsAnErrorNotACrash) {
  EXPECT_NE(unpickle_error("\x80\x02.").find("0 values left at STOP"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02\x30.").find("stack underflow"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02\xff.").find("opcode 0xff"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02h\x07.").find("memo index 7 out of range"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02X\xff\xff\xff\x7f").find("runs past the end"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02").find("truncated pickle"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02"
                           "cos\nsystem\n.")
                .find("refusing global os.system"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02(]\x31\x30.").find("stack underflow"), std::string::npos);
}

TEST(Unpickler, DeeplyNestedListsDoNotOverflowTheStack) {
  using namespace std::string_literals;
  // 100,000 nested lists (far deeper than a recursive teardown survives, within the memory a
  // pickle of this size may take) built top-down through the memo (each appended into the previous
  // one after that one was already nested): teardown must not recurse.
  std::string p =
      "\x80\x02]\x94"
      "0"s;  // EMPTY_LIST, MEMOIZE -> memo 0, POP
  for (std::uint32_t i = 0; i < 100000; ++i) {
    p += 'j';  // LONG_BINGET i
    p.append(reinterpret_cast<const char*>(&i), 4);
    p += "]\x94"
         "a0"s;  // EMPTY_LIST, MEMOIZE (i + 1), APPEND into list i, POP list i
  }
  p += "j\x00\x00\x00\x00."s;
  EXPECT_EQ(unpickle_error(p), "");
  // And bottom-up: MARK MARK ... LIST LIST ...
  std::string chain = "\x80\x02"s + std::string(100000, '(') + std::string(100000, 'l') + ".";
  EXPECT_EQ(unpickle_error(chain), "");
}

}  // namespace
}  // namespace weightcast
