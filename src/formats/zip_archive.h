// A read-only view of an uncompressed ("stored") ZIP archive, ZIP64 included: the container that
// torch.save writes since PyTorch 1.6. Entries are spans into the caller's mapping; every offset
// and length is checked against the archive's bounds. Compressed entries are refused.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace weightcast {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    std::size_t data_offset = 0;  // from the start of the archive
    std::size_t size = 0;
  };

  // `label` names the archive in errors (its path).
  ZipArchive(std::span<const std::byte> bytes, std::string label);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(std::string_view name) const;
  std::span<const std::byte> data(const Entry& e) const {
    return bytes_.subspan(e.data_offset, e.size);
  }

 private:
  std::span<const std::byte> bytes_;
  std::string label_;
  std::vector<Entry> entries_;
};

}  // namespace weightcast
