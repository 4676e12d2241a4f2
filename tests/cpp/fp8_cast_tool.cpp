// Test helper for tests/python/test_fp8_cast.py: reads float32 values (native byte order) from
// argv[1] and writes four code files: <argv[2]>.{e4m3,e5m2}.{cpu,cuda}, one byte per value, from
// the two float32 -> FP8 casts of the per-tensor schemes. The Python test checks them against its
// own model of each rule.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "util/float_bits.h"

int main(int argc, char** argv) {
  using weightcast::Fp8Cast;
  if (argc != 3) {
    std::fprintf(stderr, "usage: fp8_cast_tool VALUES.f32 OUT_PREFIX\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  if (!in.is_open() || in.bad() || bytes.size() % sizeof(float) != 0) {
    std::fprintf(stderr, "fp8_cast_tool: cannot read %s as float32 values\n", argv[1]);
    return 1;
  }
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  for (const auto* format : {"e4m3", "e5m2"})
    for (const auto cast : {Fp8Cast::kTvmCpu, Fp8Cast::kNearestEven}) {
      std::string codes(values.size(), '\0');
      for (std::size_t i = 0; i < values.size(); ++i)
        codes[i] =
            static_cast<char>(format[1] == '4' ? weightcast::f32_to_fp8_e4m3fn(values[i], cast)
                                               : weightcast::f32_to_fp8_e5m2(values[i], cast));
      const std::string path =
          std::string(argv[2]) + "." + format + (cast == Fp8Cast::kTvmCpu ? ".cpu" : ".cuda");
      std::ofstream out(path, std::ios::binary);
      out.write(codes.data(), static_cast<std::streamsize>(codes.size()));
      if (!out) {
        std::fprintf(stderr, "fp8_cast_tool: cannot write %s\n", path.c_str());
        return 1;
      }
    }
  return 0;
}
