// PyTorch checkpoints (pytorch_model.bin, *.pt): the zip container of torch.save since 1.6 and
// the legacy format before it, read through the restricted unpickler. Storages are read in place
// from the mapping; only non-contiguous views are gathered, lazily, one tensor at a time.
#include "formats/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>

#include "formats/pickle.h"
#include "formats/safetensors.h"
#include "formats/zip_archive.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

using K = PyValue::Kind;

std::optional<DType> storage_dtype(const std::string& type) {
  static const std::map<std::string, DType, std::less<>> table = {
      {"torch.FloatStorage", DType::kF32},     {"torch.HalfStorage", DType::kF16},
      {"torch.BFloat16Storage", DType::kBF16}, {"torch.DoubleStorage", DType::kF64},
      {"torch.LongStorage", DType::kI64},      {"torch.IntStorage", DType::kI32},
      {"torch.ShortStorage", DType::kI16},     {"torch.CharStorage", DType::kI8},
      {"torch.ByteStorage", DType::kU8},       {"torch.BoolStorage", DType::kBool},
      {"torch.UntypedStorage", DType::kU8},    {"torch.storage.UntypedStorage", DType::kU8},
  };
  auto it = table.find(type);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

// ('storage', storage_type, key, location, numel[, view_metadata]), as torch's persistent_id
// writes it. Legacy files add view metadata (view_key, offset, size) for storage views.
PyStorage parse_storage_pid(const PyValue& pid, const std::string& label) {
  const auto& t = pid.items;
  if (pid.kind != K::kTuple || t.size() < 5 || t[0]->kind != K::kStr || t[0]->s != "storage" ||
      t[1]->kind != K::kGlobal || (t[2]->kind != K::kStr && t[2]->kind != K::kInt) ||
      t[4]->kind != K::kInt)
    fail("{}: malformed storage reference in the pickle", label);
  PyStorage st;
  const auto dtype = storage_dtype(t[1]->s);
  if (!dtype) fail("{}: unsupported storage type {}", label, t[1]->s);
  st.dtype = *dtype;
  st.key = t[2]->kind == K::kStr ? t[2]->s : std::to_string(t[2]->i);
  st.numel = t[4]->i;
  if (t.size() >= 6 && t[5]->kind == K::kTuple) {
    const auto& v = t[5]->items;
    if (v.size() != 3 || v[1]->kind != K::kInt) fail("{}: malformed storage view reference", label);
    st.view_offset = v[1]->i;
  }
  if (st.numel < 0 || st.view_offset < 0) fail("{}: negative storage size or offset", label);
  return st;
}

struct Placed {
  TensorInfo info;
  std::span<const std::byte> storage;  // the whole storage the tensor views
  std::int64_t offset = 0;             // elements into it
  Shape stride;
  bool contiguous = true;
};

class TorchFile final : public SourceFile {
 public:
  bool widens_bf16() const override { return true; }
  TorchFile(const fs::path& path, std::vector<std::string>& warnings)
      : TorchFile(std::make_unique<MappedFile>(path), {}, path, warnings) {}
  TorchFile(std::unique_ptr<MappedFile> map, std::span<const std::byte> bytes, const fs::path& path,
            std::vector<std::string>& warnings)
      : map_(std::move(map)), bytes_(map_ ? map_->bytes() : bytes), path_(path) {
    const std::string label = path.string();
    if (bytes_.size() >= 4 && std::memcmp(bytes_.data(), "PK\x03\x04", 4) == 0)
      read_zip(label, warnings);
    else
      read_legacy(label, warnings);
  }

  const fs::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }

  std::span<const std::byte> data(std::size_t i) const override {
    const auto& p = placed_[i];
    const std::size_t elem = dtype_size(p.info.dtype);
    const auto n = static_cast<std::size_t>(numel(p.info.shape));
    if (p.contiguous) return p.storage.subspan(static_cast<std::size_t>(p.offset) * elem, n * elem);
    auto& buf = gathered_[i];
    if (!buf) buf = gather(p, n, elem);
    return {buf.get(), n * elem};
  }
  void release(std::size_t i) const override {
    gathered_.erase(i);
    const auto& p = placed_[i];
    if (map_)
      map_->done_with(static_cast<std::size_t>(p.storage.data() - bytes_.data()), p.storage.size());
  }

 private:
  // Copies a strided view into C order.
  static std::unique_ptr<std::byte[]> gather(const Placed& p, std::size_t n, std::size_t elem) {
    auto out = std::make_unique_for_overwrite<std::byte[]>(n * elem);
    const std::size_t rank = p.info.shape.size();
    std::vector<std::int64_t> index(rank, 0);
    for (std::size_t k = 0; k < n; ++k) {
      std::int64_t src = p.offset;
      for (std::size_t d = 0; d < rank; ++d) src += index[d] * p.stride[d];
      std::memcpy(out.get() + k * elem, p.storage.data() + static_cast<std::size_t>(src) * elem,
                  elem);
      for (std::size_t d = rank; d-- > 0;) {
        if (++index[d] < p.info.shape[d]) break;
        index[d] = 0;
      }
    }
    return out;
  }

  void read_zip(const std::string& label, std::vector<std::string>& warnings) {
    const ZipArchive zip(bytes_, label);
    const ZipArchive::Entry* pickle = nullptr;
    for (const auto& e : zip.entries())
      if (e.name == "data.pkl" || e.name.ends_with("/data.pkl")) {
        pickle = &e;
        break;
      }
    if (!pickle) fail("{}: not a PyTorch checkpoint: the zip holds no data.pkl", label);
    const std::string prefix = pickle->name.substr(0, pickle->name.size() - 8);
    if (const auto* order = zip.find(prefix + "byteorder")) {
      const auto d = zip.data(*order);
      const std::string value(reinterpret_cast<const char*>(d.data()), d.size());
      if (value != "little")
        fail("{}: byteorder is \"{}\"; only little-endian checkpoints are supported", label, value);
    }
    auto load_storage = [&](const PyValue& pid) { return parse_storage_pid(pid, label); };
    Unpickler unpickler(zip.data(*pickle), label, load_storage, bytes_.size());
    std::size_t pos = 0;
    const PyRef root = unpickler.load(pos);
    place_all(*root, label, warnings, [&](const PyStorage& st) {
      const auto* entry = zip.find(prefix + "data/" + st.key);
      if (!entry) fail("{}: storage key \"{}\" does not exist in the archive", label, st.key);
      return zip.data(*entry);
    });
  }

  // Before PyTorch 1.6: magic number, protocol version and system info pickles, the object
  // pickle, the sorted storage keys, then each storage as an int64 count and its raw bytes.
  void read_legacy(const std::string& label, std::vector<std::string>& warnings) {
    const auto bytes = bytes_;
    auto load_storage = [&](const PyValue& pid) { return parse_storage_pid(pid, label); };
    Unpickler unpickler(bytes, label, load_storage);
    std::size_t pos = 0;
    const PyRef magic = unpickler.load(pos);
    static const std::string kMagic = std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
    if (magic->kind != K::kInt || magic->s != kMagic)
      fail("{}: not a PyTorch checkpoint (neither a zip archive nor the legacy format)", label);
    const PyRef version = unpickler.load(pos);
    if (version->kind != K::kInt || version->i != 1001)
      fail("{}: unsupported legacy PyTorch protocol version", label);
    const PyRef sys_info = unpickler.load(pos);
    if (sys_info->kind == K::kDict)
      for (const auto& [k, v] : sys_info->entries)
        if (k->kind == K::kStr && k->s == "little_endian" && v->kind == K::kBool && !v->b)
          fail("{}: written on a big-endian machine; only little-endian checkpoints are supported",
               label);
    const PyRef root = unpickler.load(pos);
    const PyRef keys = unpickler.load(pos);
    if (keys->kind != K::kList) fail("{}: malformed legacy checkpoint: no storage key list", label);
    // The storages follow in key-list order; their dtypes come from the object pickle.
    std::unordered_map<std::string, DType> dtypes;
    collect_storage_dtypes(*root, dtypes);
    std::unordered_map<std::string, std::span<const std::byte>> storages;
    for (const auto& k : keys->items) {
      if (k->kind != K::kStr)
        fail("{}: malformed legacy checkpoint: a storage key is not a string", label);
      if (bytes.size() - pos < 8)
        fail("{}: truncated legacy checkpoint: storage {} is missing", label, k->s);
      std::int64_t count = 0;
      std::memcpy(&count, bytes.data() + pos, 8);
      pos += 8;
      const auto it = dtypes.find(k->s);
      const std::size_t elem = it == dtypes.end() ? 1 : dtype_size(it->second);
      if (count < 0 || static_cast<std::uint64_t>(count) > (bytes.size() - pos) / elem)
        fail("{}: legacy storage {} claims {} elements, more than the file holds", label, k->s,
             count);
      storages[k->s] = bytes.subspan(pos, static_cast<std::size_t>(count) * elem);
      pos += static_cast<std::size_t>(count) * elem;
    }
    place_all(*root, label, warnings, [&](const PyStorage& st) {
      auto it = storages.find(st.key);
      if (it == storages.end())
        fail("{}: storage key \"{}\" does not exist in the file", label, st.key);
      const std::size_t off = static_cast<std::size_t>(st.view_offset) * dtype_size(st.dtype);
      if (off > it->second.size()) fail("{}: storage view {} starts past its root", label, st.key);
      return it->second.subspan(off);
    });
  }

  static void collect_storage_dtypes(const PyValue& root,
                                     std::unordered_map<std::string, DType>& out) {
    if (root.kind != K::kDict) return;
    for (const auto& [k, v] : root.entries)
      if (v->kind == K::kTensor) out.emplace(v->tensor.storage.key, v->tensor.storage.dtype);
  }

  template <typename StorageBytes>
  void place_all(const PyValue& root, const std::string& label, std::vector<std::string>& warnings,
                 StorageBytes storage_bytes) {
    if (root.kind != K::kDict)
      fail("{}: expected a state dict (name -> tensor), found a {}", label, kind_name(root.kind));
    for (const auto& [key, value] : root.entries) {
      if (key->kind != K::kStr)
        fail("{}: a state-dict key is a {}, not a string", label, kind_name(key->kind));
      if (value->kind == K::kNone) {
        warnings.push_back("Encountered None param, skipping it: " + key->s);
        continue;
      }
      if (value->kind != K::kTensor)
        fail("{}: state-dict entry \"{}\" is a {}, not a tensor", label, key->s,
             kind_name(value->kind));
      placed_.push_back(place(key->s, value->tensor, storage_bytes(value->tensor.storage), label));
      infos_.push_back(placed_.back().info);
    }
  }

  static Placed place(const std::string& name, const PyTensor& t,
                      std::span<const std::byte> storage, const std::string& label) {
    Placed p;
    p.info = {name, t.storage.dtype, t.shape};
    p.storage = storage;
    p.offset = t.offset;
    p.stride = t.stride;
    const std::size_t elem = dtype_size(t.storage.dtype);
    if (t.shape.size() != t.stride.size())
      fail("{}: tensor \"{}\" has {} sizes but {} strides", label, name, t.shape.size(),
           t.stride.size());
    if (t.offset < 0) fail("{}: tensor \"{}\" has a negative storage offset", label, name);
    // The furthest element the view touches must lie inside the storage.
    std::int64_t last = t.offset, expect = 1;
    bool empty = false;
    for (std::size_t d = t.shape.size(); d-- > 0;) {
      if (t.shape[d] < 0 || t.stride[d] < 0)
        fail("{}: tensor \"{}\" has a negative size or stride", label, name);
      if (t.shape[d] == 0) empty = true;
      std::int64_t reach = 0;
      if (t.shape[d] > 0 && (__builtin_mul_overflow(t.shape[d] - 1, t.stride[d], &reach) ||
                             __builtin_add_overflow(last, reach, &last)))
        fail("{}: tensor \"{}\" has a shape/stride that overflows", label, name);
      if (t.shape[d] != 1 && t.stride[d] != expect) p.contiguous = false;
      if (__builtin_mul_overflow(expect, std::max<std::int64_t>(t.shape[d], 1), &expect))
        fail("{}: tensor \"{}\" is too large", label, name);
    }
    if (!checked_numel(t.shape)) fail("{}: tensor \"{}\" is too large", label, name);
    const std::uint64_t storage_elems = storage.size() / elem;
    if (!empty && static_cast<std::uint64_t>(last) >= storage_elems)
      fail("{}: tensor \"{}\" reaches element {} of a storage of {} ({}, offset {})", label, name,
           last, storage_elems, shape_str(t.shape), t.offset);
    if (empty) p.contiguous = true, p.offset = 0;
    return p;
  }

  std::unique_ptr<MappedFile> map_;  // null when reading caller-owned bytes
  std::span<const std::byte> bytes_;
  fs::path path_;
  std::vector<TensorInfo> infos_;
  std::vector<Placed> placed_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<std::byte[]>> gathered_;
};

}  // namespace

std::unique_ptr<SourceFile> open_torch_file(const fs::path& path,
                                            std::vector<std::string>& warnings) {
  return std::make_unique<TorchFile>(path, warnings);
}

std::unique_ptr<SourceFile> open_torch_bytes(std::span<const std::byte> bytes,
                                             const std::string& label,
                                             std::vector<std::string>& warnings) {
  return std::make_unique<TorchFile>(nullptr, bytes, label, warnings);
}

std::unique_ptr<Checkpoint> open_torch_checkpoint(const fs::path& path) {
  return open_file_or_index(path, [](const fs::path& file, Checkpoint& ckpt) {
    return open_torch_file(file, ckpt.warnings);
  });
}

}  // namespace weightcast
