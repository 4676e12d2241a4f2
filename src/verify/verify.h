// `weightcast verify` (docs/verify.md): an MLC weight pack checked against its manifest, every
// record decoded, and each parameter optionally compared with the checkpoint it came from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/dtype.h"
#include "util/mapped_file.h"

namespace weightcast {

// One failed check; `check` is a stable keyword (docs/verify.md#checks).
struct Problem {
  std::string check, shard, record, message;
};

struct ShardCheck {
  std::string file;
  std::size_t nbytes = 0;  // as the manifest says
  std::optional<std::size_t> size;
  std::string md5, md5_expected;  // md5 empty when not computed (missing or wrong size)
  std::size_t records = 0;
  std::unique_ptr<MappedFile> map;  // null when missing
};

struct NonFinite {
  std::uint64_t nan = 0, inf = 0;
};

struct RecordCheck {
  std::string name, dtype_name, format;
  std::optional<DType> dtype;
  Shape shape;
  std::size_t shard = 0, offset = 0, nbytes = 0;
  bool readable = false;  // inside its shard file, of the size its shape and dtype give
  std::span<const std::byte> data;
  NonFinite values;
  std::uint64_t bad_codes = 0;  // group-quantized codes out of range
};

// Each parameter compared with its sources (--against).
struct ParamCheck {
  std::string name;
  std::vector<std::string> records, sources;
  std::uint64_t numel = 0;
  NonFinite source, decoded;
  double rel_l2 = 0, max_abs = 0;
};

struct PackCheck {
  std::filesystem::path manifest;
  std::string quantization;  // the scheme used to decode, "" when none is known
  std::vector<ShardCheck> shards;
  std::vector<RecordCheck> records;
  std::map<std::string, std::size_t> by_name;
  std::vector<ParamCheck> params;
  std::vector<Problem> problems;
};

// Reads the manifest of `pack` (a directory or a manifest file), checks every shard and record,
// and decodes every record; `quantization` ("" when unknown) says how group codes are packed.
PackCheck check_pack(const std::filesystem::path& pack, const std::string& quantization);

// Re-runs the conversion plan of `source` (the scheme named, else the first whose plan matches
// the pack's records) and compares each parameter's decoded records with its sources.
void compare_with_source(PackCheck& pack, const std::filesystem::path& source,
                         const std::string& quantization, unsigned threads);

// Group quantization as the decoder needs it: bits per code and the group size.
struct GroupCodes {
  int bits = 4, group_size = 32;
};
// The code width a pack's group-quantized words suggest when no scheme is named: 4 when some word
// uses its top two bits (3-bit packing leaves them 0), else 3.
int guess_code_bits(const PackCheck& pack);
// The group packing of a scheme name ("q4f16_1"), nullopt for others.
std::optional<GroupCodes> group_codes(const std::string& quantization);

// Element `i` of a record of `dtype` (float32 stored as bfloat16 words when `f32_as_bf16`), as a
// double, for the dtypes decodable() accepts (floats, FP8, integers).
bool decodable(DType dtype);
double decode_element(DType dtype, bool f32_as_bf16, const std::byte* data, std::size_t i);
std::size_t stored_element_size(DType dtype, const std::string& format);

}  // namespace weightcast
