// A restricted unpickler for PyTorch checkpoints. It understands the opcodes torch.save emits
// (protocols 2 to 5) and builds plain values; it never imports or calls anything. A GLOBAL is
// accepted only from a short allowlist (tensor rebuild functions, storage types, dtypes,
// OrderedDict) and every other one is refused with its name. REDUCE on an allowlisted function
// is interpreted here, in C++. No library offers this (Python's pickle executes code), so it is
// hand-written; every read is bounds-checked and the machine is iterative, so malformed input
// ends in an error, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/dtype.h"

namespace weightcast {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

// A storage reference as persistent_load sees it.
struct PyStorage {
  std::string key;
  DType dtype = DType::kU8;
  std::int64_t numel = -1;       // elements, when the pickle says
  std::int64_t view_offset = 0;  // legacy view storages: offset into the root, in elements
};

struct PyTensor {
  PyStorage storage;
  std::int64_t offset = 0;  // in elements
  Shape shape, stride;
};

struct PyValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kMark
  };
  Kind kind = Kind::kNone;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                                 // str, bytes, or "module.name" of a global
  std::vector<PyRef> items;                      // tuple, list
  std::vector<std::pair<PyRef, PyRef>> entries;  // dict, in insertion order
  PyStorage storage;
  PyTensor tensor;
};

const char* kind_name(PyValue::Kind kind);

class Unpickler {
 public:
  // Maps a persistent id (the tuple torch writes for each storage) to a storage value.
  using PersistentLoad = std::function<PyStorage(const PyValue& pid)>;

  // `label` names the source in errors. What the values may take is bounded by the size of the
  // file holding the pickle (`file_size`, default: the pickle's own): 2 x that + 48 MiB, so a
  // small crafted pickle (ten million ints) is refused long before memory runs out, while a
  // real checkpoint's pickle, tiny next to its tensors, never comes near.
  Unpickler(std::span<const std::byte> data, std::string label, PersistentLoad persistent_load,
            std::size_t file_size = 0);
  ~Unpickler();
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Runs one pickle starting at `offset` up to its STOP; returns the value and sets `offset` to
  // the byte after STOP. Values stay valid while the Unpickler lives.
  PyRef load(std::size_t& offset);

 private:
  PyRef make(PyValue::Kind kind);
  void charge(std::size_t bytes);
  PyRef call(const PyValue& callable, const PyValue& args, int depth);

  std::span<const std::byte> data_;
  std::string label_;
  PersistentLoad persistent_load_;
  std::size_t budget_left_;
  std::vector<PyRef> arena_;  // every value made, so teardown never recurses (see ~Unpickler)
};

}  // namespace weightcast
