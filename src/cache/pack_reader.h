// `weightcast inspect` of an MLC weight pack (docs/tensor-cache.md): its directory, its
// tensor-cache.json (or -b16.json), or one of its params_shard_*.bin files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace weightcast {

// The pack's records, shards, dtypes and sizes, each shard's size and md5 checked against the
// manifest; nullopt when `path` names no part of a pack (a directory without tensor-cache.json is
// an error: inspect reads files).
std::optional<std::string> inspect_mlc_pack(const std::filesystem::path& path);

}  // namespace weightcast
