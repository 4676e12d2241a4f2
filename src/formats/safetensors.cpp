#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/mapped_file.h"

namespace weightcast {

namespace {

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // the reference reader's limit

struct Span {
  std::size_t begin = 0, end = 0;
};

class SafetensorsFile final : public SourceFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path) : map_(path) { parse(); }

  const std::filesystem::path& path() const override { return map_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  std::span<const std::byte> data(std::size_t i) const override {
    return map_.bytes().subspan(data_start_ + spans_[i].begin, spans_[i].end - spans_[i].begin);
  }
  void prefetch(std::size_t i) const override {
    map_.will_need(data_start_ + spans_[i].begin, spans_[i].end - spans_[i].begin);
  }
  void release(std::size_t i) const override {
    map_.done_with(data_start_ + spans_[i].begin, spans_[i].end - spans_[i].begin);
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> f, Args&&... args) const {
    fail("{}: {}", map_.path().string(), fmt::format(f, std::forward<Args>(args)...));
  }

  void parse() {
    const auto bytes = map_.bytes();
    if (bytes.size() < 8)
      bad("truncated safetensors file ({} bytes; the 8-byte header length is missing)",
          bytes.size());
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);  // little-endian on every supported host
    if (header_len > kMaxHeaderSize)
      bad("safetensors header length {} exceeds the {}-byte limit", header_len, kMaxHeaderSize);
    if (header_len > bytes.size() - 8)
      bad("safetensors header length {} runs past the end of the file ({} bytes)", header_len,
          bytes.size());
    data_start_ = 8 + header_len;
    const std::size_t data_size = bytes.size() - data_start_;
    const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);

    nlohmann::ordered_json header;
    try {
      header = nlohmann::ordered_json::parse(text, text + header_len);
    } catch (const nlohmann::json::exception& e) {
      bad("invalid safetensors JSON header: {}", e.what());
    }
    if (!header.is_object()) bad("invalid safetensors header: not a JSON object");

    struct Entry {
      TensorInfo info;
      Span span;
    };
    std::vector<Entry> entries;
    for (const auto& [name, desc] : header.items()) {
      if (name == "__metadata__") continue;
      if (!desc.is_object() || !desc.contains("dtype") || !desc.contains("shape") ||
          !desc.contains("data_offsets"))
        bad("tensor \"{}\": header entry needs \"dtype\", \"shape\" and \"data_offsets\"", name);
      const auto& dt = desc["dtype"];
      if (!dt.is_string()) bad("tensor \"{}\": dtype is not a string", name);
      const auto dtype = dtype_from_safetensors(dt.get<std::string>());
      if (!dtype) bad("tensor \"{}\": unknown dtype \"{}\"", name, dt.get<std::string>());
      Shape shape;
      if (!desc["shape"].is_array()) bad("tensor \"{}\": shape is not a list", name);
      for (const auto& d : desc["shape"]) {
        if (!d.is_number_unsigned())
          bad("tensor \"{}\": shape holds a non-integer or negative", name);
        if (d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
          bad("tensor \"{}\": dimension {} is too large", name, d.get<std::uint64_t>());
        shape.push_back(d.get<std::int64_t>());
      }
      const auto& off = desc["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
          !off[1].is_number_unsigned())
        bad("tensor \"{}\": data_offsets must be two non-negative integers", name);
      const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
      const auto count = checked_numel(shape);
      std::uint64_t bits = 0;
      if (!count ||
          __builtin_mul_overflow(static_cast<std::uint64_t>(*count), dtype_bits(*dtype), &bits))
        bad("tensor \"{}\": shape {} overflows", name, shape_str(shape));
      if (bits % 8 != 0)
        bad("tensor \"{}\": {} x {} is not a whole number of bytes", name, dt.get<std::string>(),
            shape_str(shape));
      const std::uint64_t need = bits / 8;
      if (end < begin)
        bad("tensor \"{}\": data_offsets [{}, {}] end before they begin", name, begin, end);
      if (end > data_size)
        bad("tensor \"{}\": data_offsets [{}, {}] run past the end of the file (data section is "
            "{} bytes)",
            name, begin, end, data_size);
      if (end - begin != need)
        bad("tensor \"{}\": data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", name, begin,
            end, end - begin, dt.get<std::string>(), shape_str(shape), need);
      entries.push_back({{name, *dtype, std::move(shape)}, {begin, end}});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.span.begin != b.span.begin ? a.span.begin < b.span.begin : a.span.end < b.span.end;
    });
    for (std::size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].span.begin < entries[i - 1].span.end)
        bad("tensors \"{}\" and \"{}\" overlap (data_offsets [{}, {}] and [{}, {}])",
            entries[i - 1].info.name, entries[i].info.name, entries[i - 1].span.begin,
            entries[i - 1].span.end, entries[i].span.begin, entries[i].span.end);
    }
    for (auto& e : entries) {
      tensors_.push_back(std::move(e.info));
      spans_.push_back(e.span);
    }
  }

  MappedFile map_;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::vector<Span> spans_;
};

}  // namespace

std::unique_ptr<SourceFile> open_safetensors_file(const std::filesystem::path& path) {
  return std::make_unique<SafetensorsFile>(path);
}

std::unique_ptr<Checkpoint> open_safetensors_checkpoint(const std::filesystem::path& path) {
  return open_file_or_index(path, [](const std::filesystem::path& file, Checkpoint&) {
    return open_safetensors_file(file);
  });
}

}  // namespace weightcast
