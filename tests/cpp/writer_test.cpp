#include "cache/tensor_cache_writer.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "cache/md5_multi.h"
#include "test_util.h"
#include "util/buffer_pool.h"
#include "weightcast/weightcast.h"

namespace weightcast {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

// No staging folder or lock file left in `dir`.
bool clean(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) == 0 || name == kLockFileName) return false;
  }
  return true;
}

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::temp_dir("writer"); }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(WriterTest, OutOfBandRuleMatchesTvmjs) {
  const std::size_t mib = 1 << 20;
  std::vector<std::byte> buf(20 * mib, std::byte{1});
  auto bytes = [&](std::size_t n) { return std::span<const std::byte>(buf.data(), n); };
  {
    TensorCacheWriter w(dir_ / "out");
    w.append("A", DType::kU8, {10 << 20}, bytes(10 * mib));
    w.append("B", DType::kU8, {20 << 20}, bytes(20 * mib));  // 30 MiB pending: still fits
    buf.resize(17 * mib + 1);
    w.append("C", DType::kU8, {17 << 20}, bytes(17 * mib));  // would overflow, >= 16 MiB: own shard
    w.append("D", DType::kU8, {1 << 20}, bytes(1 * mib));    // joins the untouched pending
    w.append("E", DType::kU8, {2 << 20}, bytes(2 * mib));    // overflows: pending is flushed
    EXPECT_FALSE(fs::exists(dir_ / "out" / kManifestName));  // nothing visible before commit
    EXPECT_EQ(w.commit({{"ParamSize", 5}}), 3u);
  }
  const auto m = read_json(dir_ / "out" / kManifestName);
  ASSERT_EQ(m["records"].size(), 3u);
  auto names = [&](int shard) {
    std::vector<std::string> v;
    for (auto& r : m["records"][shard]["records"]) v.push_back(r["name"]);
    return v;
  };
  EXPECT_EQ(names(0), (std::vector<std::string>{"C"}));
  EXPECT_EQ(names(1), (std::vector<std::string>{"A", "B", "D"}));
  EXPECT_EQ(names(2), (std::vector<std::string>{"E"}));
  EXPECT_EQ(m["records"][1]["records"][2]["byteOffset"], 30 * mib);
  EXPECT_EQ(m["records"][1]["nbytes"], 31 * mib);
  EXPECT_EQ(fs::file_size(dir_ / "out" / "params_shard_1.bin"), 31 * mib);
  EXPECT_TRUE(clean(dir_ / "out"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / kB16ManifestName));  // no float32 records
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The same records through ordinary and O_DIRECT writes: every shard and the manifest are the
// same bytes, and each md5 (read back through the page cache or past it) is the file's.
TEST_F(WriterTest, DirectWritesAreTheSameBytesAsBufferedOnes) {
  const std::size_t mib = 1 << 20;
  std::mt19937 rng(7);
  // Page-aligned (pooled) and unaligned data; sizes that are not whole pages.
  Buffer pooled = allocate_buffer(40 * mib);
  for (std::size_t i = 0; i < 40 * mib; ++i) pooled[i] = static_cast<std::byte>(rng());
  const std::byte* unaligned = pooled.get() + 3;
  // `keep`: the writes are handed over with a keepalive, so they finish on the writer's threads
  // after the calls return (as convert's do); without, each call returns once written.
  auto write_all = [&](const fs::path& out, bool direct, TensorCacheWriter::Keepalive keep = {}) {
    TensorCacheWriter w(out, /*sync=*/false, direct);
    auto add = [&](const char* name, const std::byte* data, std::size_t n) {
      w.append(name, DType::kU8, {static_cast<std::int64_t>(n)}, {data, n}, keep);
    };
    add("small", unaligned, 5);
    add("odd", unaligned + 5, 3000017);
    add("big", pooled.get(), 30 * mib);  // overflows, >= 16 MiB: shard 0, page-aligned
    add("mid", unaligned + 9, 15 * mib);
    const std::size_t streamed = 33 * mib + 123;  // shard 1
    w.begin_streamed("streamed", DType::kU8, {static_cast<std::int64_t>(streamed)}, streamed);
    // An aligned whole-page piece, an unaligned one, then the aligned rest.
    w.write_streamed({pooled.get(), 8 * mib}, keep);
    w.write_streamed({unaligned + 7, 1000}, keep);
    w.write_streamed({pooled.get(), streamed - 8 * mib - 1000}, keep);
    w.end_streamed();
    add("mid2", unaligned + 1, 15 * mib);           // overflows: shard 2 is small..mid
    add("near-cap", unaligned + 2, 17 * mib - 10);  // joins mid2: 32 MiB - 10
    add("tail", unaligned + 11, 4095);              // overflows: shard 3, then a shard of 4095
    // Shard 4, large enough to be hashed while it is written (when buffered), in pieces that end
    // inside pages and inside the hasher's windows.
    const std::size_t followed = 2 * 32 * mib + 4097;
    w.begin_streamed("followed", DType::kU8, {static_cast<std::int64_t>(followed)}, followed);
    for (std::size_t at = 0; at < followed;) {
      const std::size_t n = std::min<std::size_t>(followed - at, 3 * mib + 1001);
      w.write_streamed({unaligned + at % mib, n}, keep);
      at += n;
    }
    w.end_streamed();  // the tail's shard is 5
    return w.commit({});
  };
  EXPECT_EQ(write_all(dir_ / "buffered", false), 6u);
  EXPECT_EQ(write_all(dir_ / "direct", true), 6u);
  const auto kept = std::make_shared<int>(0);
  EXPECT_EQ(write_all(dir_ / "handed-over", false, kept), 6u);
  EXPECT_EQ(kept.use_count(), 1);  // every write done and its keepalive let go
  EXPECT_EQ(write_all(dir_ / "direct-handed-over", true, kept), 6u);
  for (const char* run : {"buffered", "direct", "handed-over", "direct-handed-over"}) {
    const auto manifest = read_json(dir_ / run / kManifestName);
    EXPECT_EQ(manifest, read_json(dir_ / "buffered" / kManifestName)) << run;
    for (const auto& shard : manifest["records"]) {
      const std::string path = shard["dataPath"];
      const std::string bytes = file_bytes(dir_ / run / path);
      EXPECT_EQ(bytes.size(), shard["nbytes"].get<std::size_t>()) << run << " " << path;
      EXPECT_EQ(bytes, file_bytes(dir_ / "buffered" / path)) << run << " " << path;
      EXPECT_EQ(shard["md5sum"], to_hex(md5_openssl(std::as_bytes(std::span(bytes)))))
          << run << " " << path;
    }
    EXPECT_TRUE(clean(dir_ / run)) << run;
  }
}

// Records generated block by block on the writer's threads (append_generated) are the bytes that
// append() writes for the same data, buffered and direct, in the pending shard, a shard of their
// own and with a last block shorter than the rest; `after` runs once per record, after its
// last block.
TEST_F(WriterTest, GeneratedRecordsAreTheBytesOfAppendedOnes) {
  const std::size_t mib = 1 << 20;
  std::vector<std::byte> data(40 * mib);
  std::mt19937 rng(11);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  const std::vector<std::pair<std::string, std::size_t>> records = {
      {"small", 1000}, {"odd", 3 * mib + 17}, {"own", 30 * mib + 4093}, {"big", 33 * mib + 5}};
  auto write_all = [&](const fs::path& out, bool direct, bool generated) {
    TensorCacheWriter w(out, /*sync=*/false, direct);
    std::atomic<int> after{0};
    std::size_t at = 0;
    for (const auto& [name, n] : records) {
      const std::byte* src = data.data() + at;
      const Shape shape = {static_cast<std::int64_t>(n)};
      if (!generated) {
        w.append(name, DType::kU8, shape, {src, n});
      } else {
        const auto fill = [src](std::size_t offset, std::span<std::byte> block) {
          std::memcpy(block.data(), src + offset, block.size());
        };
        w.append_generated(
            name, DType::kU8, shape, n, 512 * 1024 + 8, fill, [&after] { ++after; },
            std::make_shared<int>(0));
      }
      at += 1 << 10;  // overlapping slices: every record different
    }
    const auto shards = w.commit({});
    if (generated) {
      EXPECT_EQ(after.load(), static_cast<int>(records.size()));
    }
    return shards;
  };
  EXPECT_EQ(write_all(dir_ / "appended", false, false), 3u);
  for (const bool direct : {false, true}) {
    const fs::path out = dir_ / (direct ? "direct" : "buffered");
    EXPECT_EQ(write_all(out, direct, true), 3u);
    const auto manifest = read_json(out / kManifestName);
    EXPECT_EQ(manifest, read_json(dir_ / "appended" / kManifestName));
    for (const auto& shard : manifest["records"]) {
      const std::string path = shard["dataPath"];
      EXPECT_EQ(file_bytes(out / path), file_bytes(dir_ / "appended" / path)) << path;
    }
  }
}

// A write that fails on one of the writer's threads (here past RLIMIT_FSIZE, with SIGXFSZ
// ignored, so write() returns EFBIG) comes back as the run's error; nothing is published, the
// staging folder goes, and the writer lets go of every buffer it was handed.
TEST_F(WriterTest, AFailedWriteOnAWriterThreadIsAnErrorAndPublishesNothing) {
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{20u << 20, old.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::vector<std::byte> buf(30u << 20, std::byte{3});
  const auto kept = std::make_shared<int>(0);
  std::string error;
  try {
    TensorCacheWriter w(dir_ / "out", /*sync=*/false);
    for (int i = 0; i < 6; ++i)
      w.append("r" + std::to_string(i), DType::kU8, {30 << 20}, buf, kept);
    w.commit({});
  } catch (const IOError& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_NE(error.find("write failed"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "out" / kManifestName));
  EXPECT_TRUE(clean(dir_ / "out"));
  EXPECT_EQ(kept.use_count(), 1);
}

TEST_F(WriterTest, RerunRemovesStaleShardsAndManifests) {
  fs::create_directories(dir_ / "out");
  for (const char* f : {"params_shard_0.bin", "params_shard_7.bin", kB16ManifestName, "notes.txt"})
    testing::write_bytes(dir_ / "out" / f, "old");
  {
    TensorCacheWriter w(dir_ / "out");
    const std::byte b[4] = {};
    w.append("x", DType::kU32, {1}, b);
    w.commit({});
  }
  EXPECT_EQ(fs::file_size(dir_ / "out" / "params_shard_0.bin"), 4u);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "params_shard_7.bin"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / kB16ManifestName));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "notes.txt"));  // not ours: left alone
}

TEST_F(WriterTest, AbandonedWriterLeavesEarlierOutputIntact) {
  fs::create_directories(dir_ / "out");
  testing::write_bytes(dir_ / "out" / kManifestName, "{}");
  testing::write_bytes(dir_ / "out" / "params_shard_0.bin", "old");
  {
    TensorCacheWriter w(dir_ / "out");
    const std::byte b[4] = {};
    w.append("x", DType::kU32, {1}, b);
  }  // destroyed without commit, as on an error
  EXPECT_TRUE(clean(dir_ / "out"));
  EXPECT_EQ(fs::file_size(dir_ / "out" / "params_shard_0.bin"), 3u);
  EXPECT_TRUE(fs::exists(dir_ / "out" / kManifestName));
}

TEST_F(WriterTest, Float32IsEncodedAsBf16AndGetsTheB16Manifest) {
  Tensor t = Tensor::allocate("f", DType::kF32, {2});
  t.as<float>()[0] = 1.0f;
  t.as<float>()[1] = -2.0f;
  ThreadPool pool(2);
  const Tensor enc = encode_for_cache(std::move(t), pool);
  ASSERT_EQ(enc.nbytes, 4u);
  EXPECT_EQ(enc.as<std::uint16_t>()[0], 0x3F80);
  EXPECT_EQ(enc.as<std::uint16_t>()[1], 0xC000);
  {
    TensorCacheWriter w(dir_ / "out");
    w.append("f", DType::kF32, enc.shape, enc.bytes());
    w.commit({});
  }
  const auto m = read_json(dir_ / "out" / kManifestName);
  EXPECT_EQ(m["records"][0]["records"][0]["dtype"], "float32");
  EXPECT_EQ(m["records"][0]["records"][0]["format"], "f32-to-bf16");
  const auto b16 = read_json(dir_ / "out" / kB16ManifestName);
  EXPECT_EQ(b16["records"][0]["records"][0]["dtype"], "bfloat16");
  EXPECT_EQ(b16["records"][0]["records"][0]["format"], "raw");
}

TEST_F(WriterTest, OneWriterPerDirectory) {
  TensorCacheWriter first(dir_ / "out");
  try {
    TensorCacheWriter second(dir_ / "out");
    FAIL() << "a second writer locked the same directory";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another weightcast run (pid " +
                                         std::to_string(::getpid()) + ")"),
              std::string::npos)
        << e.what();
  }
  TensorCacheWriter elsewhere(dir_ / "other");  // other directories are not affected
}

TEST_F(WriterTest, StagingOfAKilledRunIsRemoved) {
  fs::create_directories(dir_ / "out" / ".weightcast-staging-1-0000abcd");
  fs::create_directories(dir_ / "out" / ".weightcast-staging");  // an older version's
  testing::write_bytes(dir_ / "out" / ".weightcast-staging" / "params_shard_0.bin", "x");
  testing::write_bytes(dir_ / "out" / kLockFileName, "1\n");  // its lock died with it
  {
    TensorCacheWriter w(dir_ / "out");
    const std::byte b[4] = {};
    w.append("x", DType::kU32, {1}, b);
    w.commit({});
  }
  EXPECT_TRUE(clean(dir_ / "out"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / kManifestName));
}

TEST_F(WriterTest, OutputPathThatIsAFileIsAnError) {
  testing::write_bytes(dir_ / "file", "x");
  EXPECT_THROW(TensorCacheWriter(dir_ / "file"), IOError);
}

}  // namespace
}  // namespace weightcast
