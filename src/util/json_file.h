// Reads and parses a JSON file, with errors that name the file.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace weightcast {

nlohmann::ordered_json read_json_file(const std::filesystem::path& path);

}  // namespace weightcast
