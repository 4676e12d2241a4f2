// `weightcast inspect`'s description of one file, per format (rows of formats/format_table.h).
#pragma once

#include <filesystem>
#include <string>

namespace weightcast {

std::string inspect_gguf(const std::filesystem::path& file);
std::string inspect_safetensors(const std::filesystem::path& file);
std::string inspect_torch(const std::filesystem::path& file);

}  // namespace weightcast
