// The source formats MLC-LLM knows, in its detection order: how each is recognised (by a file's
// name, or in a directory), opened and described by `weightcast inspect`. A new format is its
// reader plus one row of this table.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"

namespace weightcast {

// Opens a GGUF model under its family's HuggingFace names. That knowledge lives with the
// architectures (src/arch/gguf/), which this room does not include: the caller passes it.
using GgufOpener = std::unique_ptr<Checkpoint> (*)(const std::filesystem::path& path);

struct SourceFormat {
  std::string_view name;
  // A file named directly (--source FILE) is of this format when its name ends with one of these.
  std::vector<std::string_view> suffixes;
  // The file to open in a directory holding this format's weights.
  std::optional<std::filesystem::path> (*find)(const std::filesystem::path& dir);
  std::unique_ptr<Checkpoint> (*open)(const std::filesystem::path& path, GgufOpener open_gguf);
  // The file names `weightcast inspect` describes as this format, and how (null: none).
  std::vector<std::string_view> inspect_suffixes;
  std::string (*inspect)(const std::filesystem::path& file);

  bool recognises(const std::filesystem::path& file) const { return ends_with_any(file, suffixes); }
  static bool ends_with_any(const std::filesystem::path& file,
                            const std::vector<std::string_view>& suffixes);
};

// MLC's CHECK_FORMAT_METHODS order: a directory holding several formats is read as the first.
const std::vector<SourceFormat>& source_format_table();
const SourceFormat* find_source_format(std::string_view name);

}  // namespace weightcast
