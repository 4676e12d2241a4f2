// `weightcast inspect` of an MLC weight pack (docs/tensor-cache.md): its directory, its
// tensor-cache.json (or -b16.json), or one of its params_shard_*.bin files.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "util/error.h"

namespace weightcast {

// Field `key` of a manifest entry, or an error naming the manifest (inspect and verify both read
// manifests that may be anything).
template <typename T>
T manifest_field(const nlohmann::ordered_json& j, const char* key,
                 const std::filesystem::path& manifest) {
  if (!j.is_object() || !j.contains(key))
    fail("{}: not an MLC manifest: an entry has no \"{}\"", manifest.string(), key);
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: not an MLC manifest: \"{}\" has the wrong type", manifest.string(), key);
  }
}

// The pack's records, shards, dtypes and sizes, each shard's size and md5 checked against the
// manifest; nullopt when `path` names no part of a pack (a directory without tensor-cache.json is
// an error: inspect reads files).
std::optional<std::string> inspect_mlc_pack(const std::filesystem::path& path);

}  // namespace weightcast
