// libFuzzer target: the PyTorch reader (zip container, legacy layout, restricted unpickler,
// tensor placement) on arbitrary bytes. Any input must end in success or a weightcast::Error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/torch_checkpoint.h"
#include "weightcast/weightcast.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> warnings;
  try {
    const auto file =
        weightcast::open_torch_bytes(std::as_bytes(std::span(data, size)), "fuzz.pt", warnings);
    for (std::size_t i = 0; i < file->tensors().size(); ++i) {
      const auto bytes = file->data(i);  // gathers strided views: must stay in bounds
      volatile std::byte sink = bytes.empty() ? std::byte{} : bytes.back();
      (void)sink;
      file->release(i);
    }
  } catch (const weightcast::Error&) {
  }
  return 0;
}
