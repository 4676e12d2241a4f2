// libFuzzer target: the GGUF parser and every block dequantizer on arbitrary bytes. Any input
// must end in success or a weightcast::Error.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/gguf.h"
#include "weightcast/weightcast.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    weightcast::check_gguf_bytes(std::as_bytes(std::span(data, size)));
  } catch (const weightcast::Error&) {
  }
  return 0;
}
