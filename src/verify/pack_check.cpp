// The pack alone: manifest against shards, then every record decoded (docs/verify.md#checks).
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "cache/md5_multi.h"
#include "cache/pack_reader.h"
#include "cache/tensor_cache_writer.h"
#include "util/error.h"
#include "util/float_bits.h"
#include "util/json_file.h"
#include "verify/verify.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

using Json = nlohmann::ordered_json;

fs::path manifest_path(const fs::path& pack) {
  std::error_code ec;
  if (!fs::is_directory(pack, ec)) return pack;
  for (const char* name : {kManifestName, "ndarray-cache.json"})
    if (fs::is_regular_file(pack / name, ec)) return pack / name;
  fail("{} holds no {} (nor the older ndarray-cache.json): not an MLC weight pack", pack.string(),
       kManifestName);
}

// An IEEE-style minifloat of `e` exponent and `m` mantissa bits; `fn`: no infinities, only the
// all-ones pattern is NaN (e4m3fn).
double minifloat(std::uint32_t bits, int e, int m, bool fn) {
  const bool neg = (bits >> (e + m)) & 1;
  const std::uint32_t exp = (bits >> m) & ((1u << e) - 1), man = bits & ((1u << m) - 1);
  const int bias = (1 << (e - 1)) - 1;
  const std::uint32_t top = (1u << e) - 1;
  double v;
  if (fn && exp == top && man == ((1u << m) - 1)) return std::nan("");
  if (!fn && exp == top) return man ? std::nan("") : (neg ? -INFINITY : INFINITY);
  if (exp == 0)
    v = std::ldexp(static_cast<double>(man), 1 - bias - m);
  else
    v = std::ldexp(static_cast<double>(man | (1u << m)), static_cast<int>(exp) - bias - m);
  return neg ? -v : v;
}

template <typename T>
T load(const std::byte* p, std::size_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}

void open_shard(PackCheck& pack, ShardCheck& s, const fs::path& dir) {
  std::error_code ec;
  const auto file = dir / s.file;
  const auto shard = s.file;
  if (!fs::is_regular_file(file, ec)) {
    pack.problems.push_back({"shard_missing", shard, "", fmt::format("{} does not exist", shard)});
    return;
  }
  s.map = std::make_unique<MappedFile>(file);
  s.size = s.map->size();
  if (*s.size != s.nbytes) {
    pack.problems.push_back(
        {"shard_size", shard, "",
         fmt::format("{} holds {} bytes, the manifest says {}", shard, *s.size, s.nbytes)});
    return;
  }
  s.md5 = to_hex(md5_openssl(s.map->bytes()));
  if (!s.md5_expected.empty() && s.md5 != s.md5_expected)
    pack.problems.push_back(
        {"md5", shard, "",
         fmt::format("{}: md5 {} but the manifest says {}", shard, s.md5, s.md5_expected)});
}

void add_record(PackCheck& pack, const Json& r, std::size_t k) {
  const auto& m = pack.manifest;
  RecordCheck rec;
  rec.name = manifest_field<std::string>(r, "name", m);
  rec.dtype_name = manifest_field<std::string>(r, "dtype", m);
  rec.format = r.value("format", std::string("raw"));
  rec.shape = manifest_field<Shape>(r, "shape", m);
  rec.nbytes = manifest_field<std::size_t>(r, "nbytes", m);
  rec.offset = r.value("byteOffset", std::size_t{0});
  rec.shard = k;
  rec.dtype = dtype_from_tvm_name(rec.dtype_name);
  const auto& s = pack.shards[k];
  const auto problem = [&](const char* check, std::string msg) {
    pack.problems.push_back({check, s.file, rec.name, fmt::format("{}: {}", rec.name, msg)});
  };
  const auto n = checked_numel(rec.shape);
  if (!rec.dtype) {
    problem("record_dtype", fmt::format("unknown dtype \"{}\"", rec.dtype_name));
  } else if (!n || *n < 0 ||
             static_cast<std::size_t>(*n) * stored_element_size(*rec.dtype, rec.format) !=
                 rec.nbytes) {
    problem("record_nbytes", fmt::format("nbytes {} does not match shape {} of {} ({})", rec.nbytes,
                                         shape_str(rec.shape), rec.dtype_name, rec.format));
  } else if (rec.offset > s.nbytes || rec.nbytes > s.nbytes - rec.offset) {
    problem("record_bounds", fmt::format("bytes [{}, {}) lie past the end of {} ({} bytes)",
                                         rec.offset, rec.offset + rec.nbytes, s.file, s.nbytes));
  } else if (s.size && (rec.offset > *s.size || rec.nbytes > *s.size - rec.offset)) {
    problem("record_bounds", fmt::format("bytes [{}, {}) lie past the end of the file {} ({} "
                                         "bytes on disk)",
                                         rec.offset, rec.offset + rec.nbytes, s.file, *s.size));
  } else if (s.map) {
    rec.readable = true;
    rec.data = s.map->bytes().subspan(rec.offset, rec.nbytes);
  }
  if (pack.by_name.contains(rec.name)) problem("record_duplicate", "named twice in the manifest");
  pack.by_name.emplace(rec.name, pack.records.size());
  pack.records.push_back(std::move(rec));
}

// Counts NaN and infinity among the record's values.
void count_values(RecordCheck& r) {
  if (!r.readable || !decodable(*r.dtype) || *r.dtype < DType::kF16) return;
  const bool bf16 = r.format == "f32-to-bf16";
  const std::size_t n = r.nbytes / stored_element_size(*r.dtype, r.format);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = decode_element(*r.dtype, bf16, r.data.data(), i);
    r.values.nan += std::isnan(v);
    r.values.inf += std::isinf(v);
  }
}

// A group-quantized q_weight: a uint32 "X.q_weight" next to a floating "X.q_scale".
bool is_group_weight(const PackCheck& pack, const RecordCheck& r) {
  const std::string suffix = ".q_weight";
  if (r.dtype != DType::kU32 || !r.name.ends_with(suffix)) return false;
  const auto it = pack.by_name.find(r.name.substr(0, r.name.size() - suffix.size()) + ".q_scale");
  return it != pack.by_name.end() && pack.records[it->second].dtype >= DType::kF16;
}

}  // namespace

// Without a scheme name: 3-bit codes leave the top two bits of every word 0, 4-bit codes almost
// never do.
int guess_code_bits(const PackCheck& pack) {
  for (const auto& r : pack.records) {
    if (!r.readable || !is_group_weight(pack, r)) continue;
    for (std::size_t i = 0; i < r.nbytes / 4; ++i)
      if (load<std::uint32_t>(r.data.data(), i) >> 30) return 4;
  }
  return 3;
}

namespace {

void check_codes(PackCheck& pack, int bits) {
  const std::uint32_t max_code = (1u << bits) - 2, mask = (1u << bits) - 1;
  const int per_word = 32 / bits;
  for (auto& r : pack.records) {
    if (!r.readable || !is_group_weight(pack, r)) continue;
    for (std::size_t i = 0; i < r.nbytes / 4; ++i) {
      const auto w = load<std::uint32_t>(r.data.data(), i);
      for (int k = 0; k < per_word; ++k) r.bad_codes += ((w >> (k * bits)) & mask) > max_code;
      if (per_word * bits < 32) r.bad_codes += (w >> (per_word * bits)) != 0;
    }
    if (r.bad_codes)
      pack.problems.push_back(
          {"code_range", pack.shards[r.shard].file, r.name,
           fmt::format("{}: {} {}-bit codes out of range [0, {}] (or unused bits set)", r.name,
                       r.bad_codes, bits, max_code)});
  }
}

}  // namespace

std::size_t stored_element_size(DType dtype, const std::string& format) {
  return dtype == DType::kF32 && format == "f32-to-bf16" ? 2 : dtype_size(dtype);
}

bool decodable(DType t) {
  return t <= DType::kF8E5M2;
}

double decode_element(DType t, bool f32_as_bf16, const std::byte* p, std::size_t i) {
  switch (t) {
    case DType::kBool:
    case DType::kU8:
      return load<std::uint8_t>(p, i);
    case DType::kI8:
      return load<std::int8_t>(p, i);
    case DType::kU16:
      return load<std::uint16_t>(p, i);
    case DType::kI16:
      return load<std::int16_t>(p, i);
    case DType::kU32:
      return load<std::uint32_t>(p, i);
    case DType::kI32:
      return load<std::int32_t>(p, i);
    case DType::kU64:
      return static_cast<double>(load<std::uint64_t>(p, i));
    case DType::kI64:
      return static_cast<double>(load<std::int64_t>(p, i));
    case DType::kF16:
      return f16_to_f32(load<std::uint16_t>(p, i));
    case DType::kBF16:
      return bf16_to_f32(load<std::uint16_t>(p, i));
    case DType::kF32:
      return f32_as_bf16 ? bf16_to_f32(load<std::uint16_t>(p, i)) : load<float>(p, i);
    case DType::kF64:
      return load<double>(p, i);
    case DType::kF8E4M3:
      return minifloat(load<std::uint8_t>(p, i), 4, 3, true);
    case DType::kF8E5M2:
      return minifloat(load<std::uint8_t>(p, i), 5, 2, false);
    default:
      fail("internal error: {} is not decodable", tvm_name(t));
  }
}

std::optional<GroupCodes> group_codes(const std::string& q) {
  // q<bits>f<..>_<0|1|2>: MLC's group-quant names (docs/mlc-format.md#quantization-schemes).
  if (q.size() < 2 || q[0] != 'q' || (q[1] != '3' && q[1] != '4') || q.ends_with("awq") ||
      q.ends_with("_ft"))
    return std::nullopt;
  if (q[1] == '3') return GroupCodes{3, 40};
  return GroupCodes{4, 32};
}

PackCheck check_pack(const fs::path& pack_path, const std::string& quantization) {
  PackCheck pack;
  pack.manifest = manifest_path(pack_path);
  pack.quantization = quantization;
  const auto manifest = read_json_file(pack.manifest);
  const auto dir =
      pack.manifest.parent_path().empty() ? fs::path(".") : pack.manifest.parent_path();
  const auto shards = manifest_field<Json>(manifest, "records", pack.manifest);
  if (!shards.is_array())
    fail("{}: not an MLC manifest: \"records\" is not a list", pack.manifest.string());
  pack.shards.resize(shards.size());
  for (std::size_t k = 0; k < shards.size(); ++k) {
    auto& s = pack.shards[k];
    s.file = manifest_field<std::string>(shards[k], "dataPath", pack.manifest);
    s.nbytes = manifest_field<std::size_t>(shards[k], "nbytes", pack.manifest);
    s.md5_expected = shards[k].value("md5sum", std::string());
    if (s.file.find('/') != std::string::npos || s.file == "..")
      fail("{}: shard path {} leaves the pack's directory", pack.manifest.string(), s.file);
    open_shard(pack, s, dir);
    const auto recs = manifest_field<Json>(shards[k], "records", pack.manifest);
    s.records = recs.size();
    for (const auto& r : recs) add_record(pack, r, k);
  }
  for (auto& r : pack.records) {
    count_values(r);
    if (r.values.nan || r.values.inf)
      pack.problems.push_back(
          {"nonfinite", pack.shards[r.shard].file, r.name,
           fmt::format("{}: {} NaN, {} infinite values", r.name, r.values.nan, r.values.inf)});
  }
  const auto codes = group_codes(quantization);
  check_codes(pack, codes ? codes->bits : guess_code_bits(pack));
  return pack;
}

}  // namespace weightcast
