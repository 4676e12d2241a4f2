#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace weightcast {

namespace {

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // the reference reader's limit
constexpr std::size_t kMaxRank = 64;                   // beyond any framework's tensors

// What one header entry said, kept small; it is checked when the entry's object closes.
struct RawEntry {
  bool has_dtype = false, dtype_is_string = false;
  std::string dtype;
  bool has_shape = false, shape_is_list = false, shape_bad = false;
  std::vector<std::uint64_t> shape;
  bool has_offsets = false, offsets_is_list = false, offsets_bad = false;
  std::size_t offsets_count = 0;
  std::uint64_t offsets[2] = {0, 0};
};

// Streams the header, keeping only each tensor's dtype, shape and data_offsets: linear time,
// memory proportional to the tensors (never to what else the JSON holds), and no recursion.
// Structural errors are remembered and raised after the parse, so a syntax error anywhere wins
// as it did with a DOM.
class HeaderReader final : public JsonSax {
 public:
  HeaderReader(std::string context, std::size_t data_size)
      : JsonSax(std::move(context)), data_size_(data_size) {}

  std::vector<SafetensorsLayout::Entry> entries;
  bool not_object = false;
  std::string error;

  bool null() override { return value(kOther); }
  bool boolean(bool) override { return value(kOther); }
  bool number_integer(number_integer_t) override { return value(kOther); }
  bool number_unsigned(number_unsigned_t v) override { return value(kUnsigned, v); }
  bool number_float(number_float_t, const string_t&) override { return value(kOther); }
  bool string(string_t& s) override { return value(kString, 0, &s); }
  bool start_object(std::size_t) override { return value(kObject); }
  bool start_array(std::size_t) override { return value(kArray); }
  bool key(string_t& k) override;
  bool end_object() override { return end(); }
  bool end_array() override { return end(); }

 private:
  enum Kind { kUnsigned, kString, kOther, kObject, kArray };
  enum Role { kTop, kEntry, kShape, kOffsets, kIgnored };

  bool value(Kind kind, std::uint64_t u = 0, std::string* s = nullptr);
  bool end();
  void open(Role role) {
    enter();
    roles_.push_back(role);
  }
  void field_value(Kind kind, std::string* s);
  void finish_entry();
  std::string check(SafetensorsLayout::Entry& out) const;

  std::size_t data_size_;
  std::vector<Role> roles_;
  std::string name_, field_;
  RawEntry raw_;
};

bool HeaderReader::key(string_t& k) {
  if (roles_.back() == kTop) name_ = std::move(k);
  if (roles_.back() == kEntry) field_ = std::move(k);
  return true;
}

bool HeaderReader::value(Kind kind, std::uint64_t u, std::string* s) {
  const bool container = kind == kObject || kind == kArray;
  if (roles_.empty()) {  // the document itself
    if (kind != kObject) not_object = true;
    if (container) open(kind == kObject ? kTop : kIgnored);
    return true;
  }
  switch (roles_.back()) {
    case kTop:
      if (kind == kObject && name_ != "__metadata__") {
        raw_ = RawEntry{};
        open(kEntry);
        return true;
      }
      if (name_ != "__metadata__" && error.empty())
        error = fmt::format(
            "tensor \"{}\": header entry needs \"dtype\", \"shape\" and \"data_offsets\"", name_);
      break;
    case kEntry:
      field_value(kind, s);
      return true;
    case kShape:
      if (kind != kUnsigned) raw_.shape_bad = true;
      if (!raw_.shape_bad && raw_.shape.size() <= kMaxRank) raw_.shape.push_back(u);
      break;
    case kOffsets:
      if (raw_.offsets_count < 2) {
        if (kind != kUnsigned) raw_.offsets_bad = true;
        raw_.offsets[raw_.offsets_count] = u;
      }
      ++raw_.offsets_count;
      break;
    case kIgnored:
      break;
  }
  if (container) open(kIgnored);
  return true;
}

// A value inside a tensor's object: the last occurrence of a field wins, as in a DOM.
void HeaderReader::field_value(Kind kind, std::string* s) {
  Role role = kIgnored;
  if (field_ == "dtype") {
    raw_.has_dtype = true;
    raw_.dtype_is_string = kind == kString;
    if (s) raw_.dtype = std::move(*s);
  } else if (field_ == "shape") {
    raw_.has_shape = true;
    raw_.shape_is_list = kind == kArray;
    raw_.shape_bad = false;
    raw_.shape.clear();
    if (kind == kArray) role = kShape;
  } else if (field_ == "data_offsets") {
    raw_.has_offsets = true;
    raw_.offsets_is_list = kind == kArray;
    raw_.offsets_bad = false;
    raw_.offsets_count = 0;
    if (kind == kArray) role = kOffsets;
  }
  if (kind == kObject || kind == kArray) open(role);
}

bool HeaderReader::end() {
  leave();
  const Role role = roles_.back();
  roles_.pop_back();
  if (role == kEntry) finish_entry();
  return true;
}

void HeaderReader::finish_entry() {
  if (!error.empty()) return;  // only the first error is reported; nothing more is kept
  SafetensorsLayout::Entry e;
  error = check(e);
  if (error.empty()) entries.push_back(std::move(e));
}

// The checks, in the order (and with the words) of the DOM reader this replaced.
std::string HeaderReader::check(SafetensorsLayout::Entry& out) const {
  const auto& name = name_;
  const auto& r = raw_;
  if (!r.has_dtype || !r.has_shape || !r.has_offsets)
    return fmt::format(
        "tensor \"{}\": header entry needs \"dtype\", \"shape\" and \"data_offsets\"", name);
  if (!r.dtype_is_string) return fmt::format("tensor \"{}\": dtype is not a string", name);
  const auto dtype = dtype_from_safetensors(r.dtype);
  if (!dtype) return fmt::format("tensor \"{}\": unknown dtype \"{}\"", name, r.dtype);
  if (!r.shape_is_list) return fmt::format("tensor \"{}\": shape is not a list", name);
  Shape shape;
  for (const auto d : r.shape) {
    if (d > static_cast<std::uint64_t>(INT64_MAX))
      return fmt::format("tensor \"{}\": dimension {} is too large", name, d);
    shape.push_back(static_cast<std::int64_t>(d));
  }
  if (r.shape_bad) return fmt::format("tensor \"{}\": shape holds a non-integer or negative", name);
  if (shape.size() > kMaxRank)
    return fmt::format("tensor \"{}\": shape has more than {} dimensions", name, kMaxRank);
  if (!r.offsets_is_list || r.offsets_count != 2 || r.offsets_bad)
    return fmt::format("tensor \"{}\": data_offsets must be two non-negative integers", name);
  const auto begin = r.offsets[0], end = r.offsets[1];
  const auto count = checked_numel(shape);
  std::uint64_t bits = 0;
  if (!count ||
      __builtin_mul_overflow(static_cast<std::uint64_t>(*count), dtype_bits(*dtype), &bits))
    return fmt::format("tensor \"{}\": shape {} overflows", name, shape_str(shape));
  if (bits % 8 != 0)
    return fmt::format("tensor \"{}\": {} x {} is not a whole number of bytes", name, r.dtype,
                       shape_str(shape));
  const std::uint64_t need = bits / 8;
  if (end < begin)
    return fmt::format("tensor \"{}\": data_offsets [{}, {}] end before they begin", name, begin,
                       end);
  if (end > data_size_)
    return fmt::format(
        "tensor \"{}\": data_offsets [{}, {}] run past the end of the file (data section is {} "
        "bytes)",
        name, begin, end, data_size_);
  if (end - begin != need)
    return fmt::format("tensor \"{}\": data_offsets [{}, {}] hold {} bytes, but {} {} needs {}",
                       name, begin, end, end - begin, r.dtype, shape_str(shape), need);
  out = {{name, *dtype, std::move(shape)},
         static_cast<std::size_t>(begin),
         static_cast<std::size_t>(end)};
  return {};
}

// A name given twice keeps its first place and its last value, as a JSON object does.
void merge_duplicates(std::vector<SafetensorsLayout::Entry>& entries) {
  std::vector<std::uint32_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return entries[a].info.name < entries[b].info.name;
  });
  std::vector<bool> gone(entries.size());
  bool any = false;
  for (std::size_t i = 1, head = 0; i < order.size(); ++i) {
    if (entries[order[i]].info.name != entries[order[head]].info.name) {
      head = i;
      continue;
    }
    entries[order[head]] = std::move(entries[order[i]]);
    gone[order[i]] = any = true;
  }
  if (!any) return;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (!gone[i]) entries[kept++] = std::move(entries[i]);
  entries.resize(kept);
}

class SafetensorsFile final : public SourceFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path) : map_(path) {
    auto layout = parse_safetensors(map_.bytes(), map_.path().string());
    data_start_ = layout.data_start;
    tensors_.reserve(layout.entries.size());
    spans_.reserve(layout.entries.size());
    for (auto& e : layout.entries) {
      tensors_.push_back(std::move(e.info));
      spans_.push_back({e.begin, e.end});
    }
  }

  const std::filesystem::path& path() const override { return map_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  std::span<const std::byte> data(std::size_t i) const override {
    return map_.bytes().subspan(data_start_ + spans_[i].first, size(i));
  }
  void prefetch(std::size_t i) const override {
    map_.will_need(data_start_ + spans_[i].first, size(i));
  }
  void release(std::size_t i) const override {
    map_.done_with(data_start_ + spans_[i].first, size(i));
  }
  bool data_outlives_release(std::size_t) const override { return true; }
  void populate_range(std::size_t i, std::size_t offset, std::size_t length) const override {
    if (offset < size(i))
      map_.populate(data_start_ + spans_[i].first + offset, std::min(length, size(i) - offset));
  }
  std::size_t release_range(std::size_t i, std::size_t offset, std::size_t length) const override {
    if (offset >= size(i)) return offset;
    length = std::min(length, size(i) - offset);
    const std::size_t start = data_start_ + spans_[i].first;
    return map_.done_with_read(start + offset, length, offset + length == size(i)) - start;
  }

 private:
  std::size_t size(std::size_t i) const { return spans_[i].second - spans_[i].first; }

  MappedFile map_;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;
};

}  // namespace

SafetensorsLayout parse_safetensors(std::span<const std::byte> bytes, const std::string& label) {
  auto bad = [&]<typename... Args>(fmt::format_string<Args...> f, Args&&... args) {
    fail("{}: {}", label, fmt::format(f, std::forward<Args>(args)...));
  };
  if (bytes.size() < 8)
    bad("truncated safetensors file ({} bytes; the 8-byte header length is missing)", bytes.size());
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian on every supported host
  // The length is not shown: the file may be anything, and its bytes are not echoed.
  if (header_len > kMaxHeaderSize)
    bad("safetensors header length exceeds the {}-byte limit", kMaxHeaderSize);
  if (header_len > bytes.size() - 8)
    bad("safetensors header length {} runs past the end of the file ({} bytes)", header_len,
        bytes.size());
  SafetensorsLayout layout;
  layout.data_start = static_cast<std::size_t>(8 + header_len);
  HeaderReader reader(label + ": invalid safetensors JSON header",
                      bytes.size() - layout.data_start);
  reader.parse(
      {reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(header_len)});
  if (reader.not_object) bad("invalid safetensors header: not a JSON object");
  if (!reader.error.empty()) bad("{}", reader.error);
  auto& entries = layout.entries = std::move(reader.entries);
  merge_duplicates(entries);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end)
      bad("tensors \"{}\" and \"{}\" overlap (data_offsets [{}, {}] and [{}, {}])",
          entries[i - 1].info.name, entries[i].info.name, entries[i - 1].begin, entries[i - 1].end,
          entries[i].begin, entries[i].end);
  }
  return layout;
}

std::unique_ptr<SourceFile> open_safetensors_file(const std::filesystem::path& path) {
  return std::make_unique<SafetensorsFile>(path);
}

std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::filesystem::path& path) {
  return open_file_or_index(path, [](const std::filesystem::path& file, Checkpoint&) {
    return open_safetensors_file(file);
  });
}

}  // namespace weightcast
