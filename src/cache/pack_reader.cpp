#include "cache/pack_reader.h"

#include <fmt/format.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "cache/md5_multi.h"
#include "cache/tensor_cache_writer.h"
#include "util/error.h"
#include "util/fault_point.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

bool is_shard_name(const std::string& name) {
  static const std::regex re(R"(params_shard_\d+\.bin)");
  return std::regex_match(name, re);
}

// The manifest a path points at, or "" when the path is no part of a pack.
fs::path manifest_of(const fs::path& path) {
  std::error_code ec;
  const auto name = path.filename().string();
  if (fs::is_directory(path, ec)) {
    if (fs::is_regular_file(path / kManifestName, ec)) return path / kManifestName;
    fail(
        "{} is a directory without {}: inspect reads a checkpoint file (.gguf, .safetensors, "
        ".bin, .pt) or an MLC weight pack",
        path.string(), kManifestName);
  }
  if (name == kManifestName || name == kB16ManifestName) return path;
  if (is_shard_name(name)) {
    const auto dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (fs::is_regular_file(dir / kManifestName, ec)) return dir / kManifestName;
    fail("{} is named as a shard of an MLC weight pack, but {} has no {} to describe it",
         path.string(), dir.string(), kManifestName);
  }
  return {};
}

// "ok", or what is wrong with the shard on disk.
std::string shard_status(const fs::path& file, std::size_t nbytes, const std::string& md5) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return "MISSING";
  const auto size = fs::file_size(file, ec);
  if (ec || size != nbytes) return fmt::format("SIZE {} (manifest: {})", size, nbytes);
  const MappedFile map(file);
  const auto digest = to_hex(md5_openssl(map.bytes()));
  check_mapped_files();
  return digest == md5 ? "ok" : "MD5 MISMATCH";
}

struct DtypeTotal {
  std::size_t records = 0, bytes = 0;
};

std::string describe(const fs::path& manifest_path) {
  const auto manifest = read_json_file(manifest_path);
  const auto dir =
      manifest_path.parent_path().empty() ? fs::path(".") : manifest_path.parent_path();
  const auto shards = manifest_field<nlohmann::ordered_json>(manifest, "records", manifest_path);
  if (!shards.is_array())
    fail("{}: not an MLC manifest: \"records\" is not a list", manifest_path.string());
  std::string rows, shard_rows;
  std::map<std::string, DtypeTotal> dtypes;
  std::size_t records = 0, total = 0, bad = 0;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const auto& shard = shards[k];
    const auto data_path = manifest_field<std::string>(shard, "dataPath", manifest_path);
    const auto nbytes = manifest_field<std::size_t>(shard, "nbytes", manifest_path);
    const auto recs = manifest_field<nlohmann::ordered_json>(shard, "records", manifest_path);
    if (data_path.find('/') != std::string::npos || data_path == "..")
      fail("{}: shard path {} leaves the pack's directory", manifest_path.string(), data_path);
    const auto status = shard_status(dir / data_path, nbytes,
                                     manifest_field<std::string>(shard, "md5sum", manifest_path));
    bad += status != "ok";
    total += nbytes;
    shard_rows += fmt::format("  {:<24} {:>12} {:>6}  {}\n", data_path, nbytes, recs.size(),
                              status == "ok" ? "md5 ok" : status);
    for (const auto& r : recs) {
      const auto dtype = manifest_field<std::string>(r, "dtype", manifest_path);
      const auto bytes = manifest_field<std::size_t>(r, "nbytes", manifest_path);
      auto& d = dtypes[dtype];
      ++d.records;
      d.bytes += bytes;
      ++records;
      rows += fmt::format("  {:<48} {:<10} {:<20} {:>12} {:>6} {:>12}\n",
                          manifest_field<std::string>(r, "name", manifest_path), dtype,
                          r.contains("shape") ? r["shape"].dump() : "?", bytes, k,
                          r.value("byteOffset", std::size_t{0}));
    }
  }
  std::string out = fmt::format(
      "{}: MLC weight pack, {} records in {} shards, {} bytes; {}\n", manifest_path.string(),
      records, shards.size(), total,
      bad == 0 ? "every shard matches its size and md5"
               : fmt::format("{} of {} shards DO NOT match the manifest", bad, shards.size()));
  if (manifest.contains("metadata") && manifest["metadata"].is_object())
    for (const auto& [k, v] : manifest["metadata"].items())
      out += fmt::format("  {} = {}\n", k, v.dump());
  out += "dtypes:\n";
  for (const auto& [dtype, d] : dtypes)
    out += fmt::format("  {:<10} {:>6} records {:>14} bytes\n", dtype, d.records, d.bytes);
  out += fmt::format("shards:\n  {:<24} {:>12} {:>6}  {}\n", "file", "bytes", "recs", "status");
  out += shard_rows;
  out += fmt::format("records:\n  {:<48} {:<10} {:<20} {:>12} {:>6} {:>12}\n", "name", "dtype",
                     "shape", "bytes", "shard", "offset");
  return out + rows;
}

}  // namespace

std::optional<std::string> inspect_mlc_pack(const fs::path& path) {
  fault_point("inspect");
  const auto manifest = manifest_of(path);
  if (manifest.empty()) return std::nullopt;
  return describe(manifest);
}

}  // namespace weightcast
