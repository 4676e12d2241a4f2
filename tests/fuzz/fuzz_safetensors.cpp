// libFuzzer target: the safetensors header reader and the *.index.json weight-map reader on
// arbitrary bytes. The first byte picks the reader: even runs the rest as a .safetensors file,
// odd as an index (and, through the same JSON layer, as a config.json). Any input must end in
// success or a weightcast::Error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "formats/checkpoint.h"
#include "formats/safetensors.h"
#include "util/json_file.h"
#include "weightcast/weightcast.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto rest = std::as_bytes(std::span(data + 1, size - 1));
  try {
    if (data[0] % 2 == 0) {
      const auto layout = weightcast::parse_safetensors(rest, "fuzz.safetensors");
      for (const auto& e : layout.entries) {  // every span must lie inside the file
        const auto bytes = rest.subspan(layout.data_start + e.begin, e.end - e.begin);
        volatile std::byte sink = bytes.empty() ? std::byte{} : bytes.back();
        (void)sink;
      }
    } else {
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      try {
        const auto map = weightcast::parse_weight_map(text, "fuzz.index.json");
        for (const auto id : map.file_of)
          if (id >= map.files.size()) __builtin_trap();
      } catch (const weightcast::Error&) {
      }
      (void)weightcast::parse_json(text, "fuzz/config.json");
    }
  } catch (const weightcast::Error&) {
  }
  return 0;
}
