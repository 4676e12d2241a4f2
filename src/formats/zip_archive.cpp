#include "formats/zip_archive.h"

#include <cstdint>
#include <cstring>

#include "util/error.h"

namespace weightcast {

namespace {

constexpr std::uint32_t kEocdSig = 0x06054b50, kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50, kCentralSig = 0x02014b50;
constexpr std::uint32_t kLocalSig = 0x04034b50;

// Little-endian field reads with a bounds check on every access.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& label) : b_(bytes), label_(label) {}
  template <typename T>
  T at(std::size_t offset) const {
    if (offset > b_.size() || b_.size() - offset < sizeof(T))
      fail("{}: corrupt zip archive: a record at offset {} runs past the end ({} bytes)", label_,
           offset, b_.size());
    T v;
    std::memcpy(&v, b_.data() + offset, sizeof(T));
    return v;
  }
  std::string string(std::size_t offset, std::size_t n) const {
    if (offset > b_.size() || b_.size() - offset < n)
      fail("{}: corrupt zip archive: a name at offset {} runs past the end", label_, offset);
    return {reinterpret_cast<const char*>(b_.data() + offset), n};
  }

 private:
  std::span<const std::byte> b_;
  const std::string& label_;
};

}  // namespace

ZipArchive::ZipArchive(std::span<const std::byte> bytes, std::string label)
    : bytes_(bytes), label_(std::move(label)) {
  const Reader r(bytes_, label_);
  if (bytes_.size() < 22) fail("{}: not a zip archive (too short)", label_);
  // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
  std::size_t eocd = std::string::npos;
  const std::size_t lowest = bytes_.size() > 65557 ? bytes_.size() - 65557 : 0;
  for (std::size_t p = bytes_.size() - 22 + 1; p-- > lowest;)
    if (r.at<std::uint32_t>(p) == kEocdSig) {
      eocd = p;
      break;
    }
  if (eocd == std::string::npos)
    fail("{}: not a zip archive, or truncated (no end-of-central-directory record)", label_);
  std::uint64_t count = r.at<std::uint16_t>(eocd + 10);
  std::uint64_t cd_size = r.at<std::uint32_t>(eocd + 12);
  std::uint64_t cd_offset = r.at<std::uint32_t>(eocd + 16);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (eocd < 20 || r.at<std::uint32_t>(eocd - 20) != kZip64LocatorSig)
      fail("{}: corrupt zip archive: ZIP64 locator missing", label_);
    const auto z = r.at<std::uint64_t>(eocd - 20 + 8);
    if (r.at<std::uint32_t>(z) != kZip64EocdSig)
      fail("{}: corrupt zip archive: bad ZIP64 end record", label_);
    count = r.at<std::uint64_t>(z + 32);
    cd_size = r.at<std::uint64_t>(z + 40);
    cd_offset = r.at<std::uint64_t>(z + 48);
  }
  if (cd_offset > bytes_.size() || cd_size > bytes_.size() - cd_offset)
    fail("{}: corrupt zip archive: central directory [{}, +{}) lies outside the file", label_,
         cd_offset, cd_size);
  if (count > cd_size / 46) fail("{}: corrupt zip archive: {} entries cannot fit", label_, count);

  std::size_t p = cd_offset;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (r.at<std::uint32_t>(p) != kCentralSig)
      fail("{}: corrupt zip archive: bad central directory entry {}", label_, i);
    const auto method = r.at<std::uint16_t>(p + 10);
    std::uint64_t csize = r.at<std::uint32_t>(p + 20), usize = r.at<std::uint32_t>(p + 24);
    const std::size_t name_len = r.at<std::uint16_t>(p + 28),
                      extra_len = r.at<std::uint16_t>(p + 30);
    const std::size_t comment_len = r.at<std::uint16_t>(p + 32);
    std::uint64_t local = r.at<std::uint32_t>(p + 42);
    Entry e;
    e.name = r.string(p + 46, name_len);
    // ZIP64 extra field: the 64-bit values of whichever fields hold 0xFFFFFFFF, in order.
    for (std::size_t x = p + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const auto id = r.at<std::uint16_t>(x), len = r.at<std::uint16_t>(x + 2);
      if (id == 0x0001) {
        std::size_t f = x + 4;
        if (usize == 0xFFFFFFFF) usize = r.at<std::uint64_t>(f), f += 8;
        if (csize == 0xFFFFFFFF) csize = r.at<std::uint64_t>(f), f += 8;
        if (local == 0xFFFFFFFF) local = r.at<std::uint64_t>(f);
      }
      x += 4 + len;
    }
    if (method != 0)
      fail(
          "{}: entry {} is compressed (method {}); only stored entries are supported, as "
          "torch.save writes them",
          label_, e.name, method);
    if (csize != usize) fail("{}: corrupt zip archive: entry {} sizes disagree", label_, e.name);
    if (r.at<std::uint32_t>(local) != kLocalSig)
      fail("{}: corrupt zip archive: bad local header for {}", label_, e.name);
    const std::uint64_t data =
        local + 30 + r.at<std::uint16_t>(local + 26) + r.at<std::uint16_t>(local + 28);
    if (data > bytes_.size() || usize > bytes_.size() - data)
      fail("{}: entry {} ([{}, +{})) runs past the end of the archive ({} bytes)", label_, e.name,
           data, usize, bytes_.size());
    e.data_offset = data;
    e.size = usize;
    entries_.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
}

const ZipArchive::Entry* ZipArchive::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace weightcast
