// What every source-format reader provides: named tensors with their bytes in place, grouped by
// file, and the weight-map order in which MLC-LLM walks them (docs/mlc-format.md#loading-order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/dtype.h"

namespace weightcast {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
};

// One source file: the tensors it holds, in the order its format iterates them.
class SourceFile {
 public:
  virtual ~SourceFile() = default;
  virtual const std::filesystem::path& path() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  // The raw little-endian bytes of tensor i, C order.
  virtual std::span<const std::byte> data(std::size_t i) const = 0;
  // Hints: the tensor will be read soon / its pages may be dropped.
  virtual void prefetch(std::size_t) const {}
  virtual void release(std::size_t) const {}
  // Bytes [offset, offset + length) of tensor i were read in order and may be dropped: a large
  // parameter releases what it has read as it goes. Returns where what was dropped ends
  // (`offset` when nothing was; sources drop only in large aligned runs, see
  // MappedFile::done_with_read): the caller offers the rest again with its next range.
  virtual std::size_t release_range(std::size_t, std::size_t offset, std::size_t) const {
    return offset;
  }
  // Maps bytes [offset, offset + length) of tensor i ahead of a write() from them.
  virtual void populate_range(std::size_t, std::size_t, std::size_t) const {}
  // Whether data(i) stays valid and unchanged whatever release() is called, on any thread: its
  // bytes are the memory-mapped file's own, and a release only drops pages that a later read maps
  // again. Sources that decode or gather tensors into buffers of their own say no.
  virtual bool data_outlives_release(std::size_t) const { return false; }
  // MLC's torch loader turns bfloat16 tensors into float32 before the mapping runs (which
  // matters where the mapping does arithmetic, e.g. Gemma's norm + 1).
  virtual bool widens_bf16() const { return false; }
};

struct TensorLocation {
  std::size_t file = 0;
  std::size_t index = 0;  // into files[file]->tensors()
};

// A whole checkpoint: its files and the weight map (tensor name -> file), in map order.
class Checkpoint {
 public:
  void add_file(std::unique_ptr<SourceFile> file);
  // Declares `name` as stored in file `file` (a weight-map entry); the file must hold it.
  void map_tensor(const std::string& name, std::size_t file, std::string_view index_path);
  // Maps every tensor of every file, in file order then the file's own order.
  void map_all();

  const std::vector<std::unique_ptr<SourceFile>>& files() const { return files_; }
  std::vector<std::string> warnings;  // what the readers noticed, logged by the pipeline
  const std::vector<std::string>& weight_map_order() const { return order_; }
  const TensorLocation* find(const std::string& name) const;
  const TensorInfo& info(const TensorLocation& loc) const {
    return files_[loc.file]->tensors()[loc.index];
  }

 private:
  std::vector<std::unique_ptr<SourceFile>> files_;
  std::vector<std::string> order_;
  std::unordered_map<std::string, TensorLocation> where_;
  std::vector<std::unordered_map<std::string, std::size_t>> by_name_;  // per file, built lazily
};

// The weight map of an *.index.json ({"weight_map": {tensor: file}}), in key order; a tensor
// named twice keeps its first place and its last file, as Python's json does.
struct WeightMap {
  std::string arena;                   // the tensor names back to back (no per-name allocation)
  std::vector<std::size_t> ends;       // name i is arena[ends[i - 1], ends[i])
  std::vector<std::uint32_t> file_of;  // index into files
  std::vector<std::string> files;      // distinct, by first appearance in the text

  std::size_t size() const { return ends.size(); }
  std::string_view name(std::size_t i) const {
    const std::size_t begin = i ? ends[i - 1] : 0;
    return std::string_view(arena).substr(begin, ends[i] - begin);
  }
  void add(std::string_view name, std::uint32_t file) {
    arena += name;
    ends.push_back(arena.size());
    file_of.push_back(file);
  }
};
WeightMap parse_weight_map(std::string_view text, const std::string& label);
WeightMap read_weight_map(const std::filesystem::path& path);

// A checkpoint from a single weights file, or from an *.index.json naming several; `open_file`
// opens one file of the format (it may add to the checkpoint's warnings).
std::unique_ptr<Checkpoint> open_file_or_index(
    const std::filesystem::path& path,
    const std::function<std::unique_ptr<SourceFile>(const std::filesystem::path&, Checkpoint&)>&
        open_file);

}  // namespace weightcast
