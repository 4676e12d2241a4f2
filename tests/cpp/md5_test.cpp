#include "cache/md5_multi.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace weightcast {
namespace {

// Hashes each input through the lanes the way ShardHasher does: lockstep whole blocks, then the
// tails; compares with OpenSSL.
void check_lanes(const std::vector<std::vector<std::byte>>& inputs, SimdLevel level) {
  Md5Lanes lanes;
  std::vector<std::size_t> offset(inputs.size(), 0);
  std::vector<bool> done(inputs.size(), false);
  for (;;) {
    std::size_t blocks = 3;  // small rounds, so lanes finish at different rounds
    bool any = false;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (done[i]) continue;
      const std::size_t left = (inputs[i].size() - offset[i]) / 64;
      if (left == 0) {
        const auto d = lanes.finish(static_cast<int>(i),
                                    {inputs[i].data() + offset[i], inputs[i].size() - offset[i]},
                                    inputs[i].size());
        EXPECT_EQ(to_hex(d), to_hex(md5_openssl(inputs[i])))
            << "lane " << i << " size " << inputs[i].size();
        done[i] = true;
        continue;
      }
      blocks = std::min(blocks, left);
      any = true;
    }
    if (!any) break;
    std::array<const std::byte*, Md5Lanes::kLanes> data{};
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (!done[i]) data[i] = inputs[i].data() + offset[i], offset[i] += blocks * 64;
    lanes.update(data, blocks, level);
  }
}

TEST(Md5, KnownVector) {
  const std::string abc = "abc";
  EXPECT_EQ(to_hex(md5_openssl(std::as_bytes(std::span(abc)))), "900150983cd24fb0d6963f7d28e17f72");
  Md5Lanes lanes;
  EXPECT_EQ(to_hex(lanes.finish(0, std::as_bytes(std::span(abc)), 3)),
            "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Md5, SixteenLanesOfDifferentLengthsMatchOpenSSLOnEveryPath) {
  std::mt19937 rng(7);
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    std::vector<std::vector<std::byte>> inputs;
    for (std::size_t len : {0u, 55u, 56u, 64u, 119u, 128u, 1000u, 4096u + 17u, 63u, 65u, 192u, 640u,
                            2048u, 3u, 320u, 777u}) {
      std::vector<std::byte> v(len);
      for (auto& b : v) b = static_cast<std::byte>(rng());
      inputs.push_back(std::move(v));
    }
    check_lanes(inputs, level);
    inputs.resize(11);  // lanes 11-15 idle, and lanes 8-10 alone in their half
    check_lanes(inputs, level);
    inputs.resize(3);  // the upper half idle throughout
    check_lanes(inputs, level);
  }
}

}  // namespace
}  // namespace weightcast
