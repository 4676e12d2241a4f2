#include "cache/md5_multi.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "cache/shard_hasher.h"
#include "test_util.h"

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

// Md5Lanes picks its engine by the number of lanes fed (scalar for one or two, AVX2 for up to
// eight, AVX-512 beyond): every count, on lanes scattered over the sixteen.
TEST(Md5, AnyNumberOfScatteredLanesMatchesOpenSSL) {
  std::mt19937 rng(3);
  for (int fed = 1; fed <= Md5Lanes::kLanes; ++fed)
    for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
      if (level > simd_level()) continue;
      std::vector<std::vector<std::byte>> data(fed);
      std::array<const std::byte*, Md5Lanes::kLanes> lanes{};
      std::array<int, Md5Lanes::kLanes> input{};
      input.fill(-1);
      for (int i = 0; i < fed; ++i) {
        data[i].resize(64 * 5 + static_cast<std::size_t>(i));
        for (auto& b : data[i]) b = static_cast<std::byte>(rng());
        const int lane = (i * 7 + 3) % Md5Lanes::kLanes;  // 7 is coprime to 16: all distinct
        lanes[lane] = data[i].data(), input[lane] = i;
      }
      Md5Lanes md5;
      md5.update(lanes, 5, level);
      for (int lane = 0; lane < Md5Lanes::kLanes; ++lane) {
        if (input[lane] < 0) continue;
        const auto& in = data[input[lane]];
        EXPECT_EQ(to_hex(md5.finish(lane, {in.data() + 320, in.size() - 320}, in.size())),
                  to_hex(md5_openssl(in)))
            << fed << " lanes fed, level " << static_cast<int>(level);
      }
    }
}

std::vector<std::byte> random_bytes(std::size_t n, std::mt19937& rng) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

// A lane that finishes takes the next input at once (restart) while the others go on.
TEST(Md5, RestartedLanesMatchOpenSSLOnEveryPath) {
  std::mt19937 rng(11);
  std::vector<std::vector<std::byte>> inputs;
  for (int i = 0; i < 40; ++i) inputs.push_back(random_bytes(rng() % 5000, rng));
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    Md5Lanes lanes;
    std::array<int, Md5Lanes::kLanes> input{};
    std::array<std::size_t, Md5Lanes::kLanes> offset{};
    input.fill(-1);
    std::size_t next = 0, finished = 0;
    while (finished < inputs.size()) {
      for (int lane = 0; lane < Md5Lanes::kLanes; ++lane)
        if (input[lane] < 0 && next < inputs.size()) {
          input[lane] = static_cast<int>(next++), offset[lane] = 0;
          lanes.restart(lane);
        }
      std::size_t blocks = 2;
      std::array<const std::byte*, Md5Lanes::kLanes> data{};
      for (int lane = 0; lane < Md5Lanes::kLanes; ++lane) {
        if (input[lane] < 0) continue;
        const auto& in = inputs[input[lane]];
        if ((in.size() - offset[lane]) / 64 == 0) {
          const auto d =
              lanes.finish(lane, {in.data() + offset[lane], in.size() - offset[lane]}, in.size());
          EXPECT_EQ(to_hex(d), to_hex(md5_openssl(in))) << "input " << input[lane];
          input[lane] = -1, ++finished;
          continue;
        }
        blocks = std::min(blocks, (in.size() - offset[lane]) / 64);
      }
      for (int lane = 0; lane < Md5Lanes::kLanes; ++lane)
        if (input[lane] >= 0)
          data[lane] = inputs[input[lane]].data() + offset[lane], offset[lane] += blocks * 64;
      lanes.update(data, blocks, level);
    }
  }
}

// The hasher's digests for more shards than lanes, of sizes that free lanes at different times
// (each freed lane takes the next shard), from the page cache and with O_DIRECT.
TEST(ShardHasher, ManyShardsOfDifferentSizesMatchOpenSSL) {
  const auto dir = testing::temp_dir("hasher");
  std::mt19937 rng(5);
  std::vector<std::vector<std::byte>> shards;
  for (std::size_t i = 0; i < 37; ++i) {
    const std::size_t size = i % 7 == 0 ? (3u << 20) + rng() % 100000 : rng() % 300000;
    shards.push_back(random_bytes(size, rng));
    std::ofstream(dir / fmt::format("s{}.bin", i), std::ios::binary)
        .write(reinterpret_cast<const char*>(shards.back().data()),
               static_cast<std::streamsize>(size));
  }
  for (bool direct : {false, true}) {
    ShardHasher hasher;
    for (std::size_t i = 0; i < shards.size(); ++i)
      hasher.add(i, dir / fmt::format("s{}.bin", i), direct && i % 2 == 1);
    const auto digests = hasher.finish();
    ASSERT_EQ(digests.size(), shards.size());
    for (std::size_t i = 0; i < shards.size(); ++i)
      EXPECT_EQ(digests[i], to_hex(md5_openssl(shards[i]))) << "shard " << i;
  }
  std::filesystem::remove_all(dir);
}

// Shards followed while another thread writes them (the hasher hashing each as it grows), beside
// complete ones: every digest is the file's. Then a hasher destroyed while it follows a shard
// that never completes returns at once.
TEST(ShardHasher, FollowedShardsMatchOpenSSL) {
  const auto dir = testing::temp_dir("hasher-follow");
  std::mt19937 rng(9);
  std::vector<std::vector<std::byte>> shards;
  for (std::size_t size : {(9u << 20) + 4097u, 5u << 20, 300000u, (13u << 20) + 1u, 70000u})
    shards.push_back(random_bytes(size, rng));
  const auto path = [&](std::size_t i) { return dir / fmt::format("f{}.bin", i); };
  for (std::size_t i : {2u, 4u})  // complete before they are added
    std::ofstream(path(i), std::ios::binary)
        .write(reinterpret_cast<const char*>(shards[i].data()),
               static_cast<std::streamsize>(shards[i].size()));
  // Three shards growing at once, hashed beside each other; then one alone, hashed once 2 MiB
  // of it wait.
  for (const bool alone : {false, true}) {
    ShardHasher hasher(false, 2u << 20);
    std::vector<std::thread> writers;
    for (std::size_t i : alone ? std::vector<std::size_t>{3} : std::vector<std::size_t>{0, 1, 3}) {
      std::ofstream(path(i), std::ios::binary);  // created empty, as the writer's shards are
      auto followed = hasher.follow(path(i));
      writers.emplace_back([&, i, followed] {
        std::ofstream out(path(i), std::ios::binary);
        for (std::size_t at = 0; at < shards[i].size();) {
          const std::size_t n = std::min<std::size_t>(shards[i].size() - at, (1u << 20) + 333);
          out.write(reinterpret_cast<const char*>(shards[i].data() + at),
                    static_cast<std::streamsize>(n));
          out.flush();
          at += n;
          hasher.grown(*followed, at);
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        out.close();
        hasher.add(i, path(i), false, followed);
      });
    }
    if (!alone) {
      hasher.add(2, path(2));
      hasher.add(4, path(4));
    }
    for (auto& t : writers) t.join();
    const auto digests = hasher.finish();
    ASSERT_EQ(digests.size(), alone ? 4u : shards.size());
    for (std::size_t i = 0; i < digests.size(); ++i)
      if (!alone || i == 3) {
        EXPECT_EQ(digests[i], to_hex(md5_openssl(shards[i]))) << "shard " << i;
      }
  }
  {
    ShardHasher abandoned;
    auto followed = abandoned.follow(path(0));
    abandoned.grown(*followed, 8u << 20);
  }  // returns: the destructor stops the hasher however far it got
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace weightcast
