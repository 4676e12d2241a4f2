// MappedFile's release of pages read in order: only large runs ending on huge-page boundaries,
// what it dropped reported, and the bytes still readable afterwards.
#include "util/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"

namespace weightcast {
namespace {

constexpr std::size_t kMiB = 1u << 20;

// Resident bytes of the mapping that starts at `base`, from /proc/self/smaps.
std::size_t resident_bytes(const void* base) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first.find('-') != std::string::npos && first.back() != ':') {
      inside = std::stoull(first.substr(0, first.find('-')), nullptr, 16) ==
               reinterpret_cast<std::uintptr_t>(base);
    } else if (inside && first == "Rss:") {
      std::size_t kib = 0;
      words >> kib;
      return kib * 1024;
    }
  }
  ADD_FAILURE() << "no mapping at " << base;
  return 0;
}

class MappedFileRelease : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("mapped");
    std::string bytes(kSize, '\0');
    for (std::size_t i = 0; i < kSize; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
    testing::write_bytes(dir_ / "data.bin", bytes);
    expected_ = std::move(bytes);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static std::uint64_t sum(std::span<const std::byte> bytes) {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < bytes.size(); i += 512) s += static_cast<std::uint8_t>(bytes[i]);
    return s;
  }

  static constexpr std::size_t kSize = 24 * kMiB + 1234;
  std::filesystem::path dir_;
  std::string expected_;
};

TEST_F(MappedFileRelease, DropsNothingBelowTheMinimumRun) {
  MappedFile map(dir_ / "data.bin");
  EXPECT_EQ(map.done_with_read(100, MappedFile::kMinReadRelease / 2, false), 100u);
  EXPECT_EQ(map.done_with_read(kSize, 10, false), kSize);  // past the end: nothing to drop
}

TEST_F(MappedFileRelease, DropsUpToAHugePageBoundaryAndReportsWhere) {
  MappedFile map(dir_ / "data.bin");
  const auto base = reinterpret_cast<std::uintptr_t>(map.bytes().data());
  const std::size_t read = 13 * kMiB + 5;
  const std::size_t end = map.done_with_read(5, read, false);
  EXPECT_GT(end, 5u);
  EXPECT_LE(end, 5 + read);
  EXPECT_EQ((base + end) % MappedFile::kHugePage, 0u);  // never splits a huge page at the end
  EXPECT_GT(end + MappedFile::kHugePage, 5 + read);     // and keeps less than one back
  // The caller offers the rest with the next range; the end of what will be read drops it all.
  const std::size_t page = 4096;
  EXPECT_EQ(map.done_with_read(end, kSize - end, true), kSize / page * page);
}

TEST_F(MappedFileRelease, DroppedPagesLeaveTheMappingAndReadBackUnchanged) {
  MappedFile map(dir_ / "data.bin");
  const auto bytes = map.bytes();
  const std::uint64_t before = sum(bytes);  // every page mapped
  const std::size_t mapped = resident_bytes(bytes.data());
  ASSERT_GE(mapped, 20 * kMiB);
  const std::size_t end = map.done_with_read(0, kSize, true);
  EXPECT_LE(resident_bytes(bytes.data()), mapped - end + 2 * kMiB);
  EXPECT_EQ(sum(bytes), before);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), expected_);
}

}  // namespace
}  // namespace weightcast
