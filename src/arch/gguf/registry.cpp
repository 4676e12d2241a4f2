// The GGUF view registry: one line per general.architecture, each view in its own file.
#include "arch/gguf/view.h"

namespace weightcast {

extern const GgufView kLlamaGguf;

const std::vector<const GgufView*>& gguf_views() {
  // clang-format off
  static const std::vector<const GgufView*> all = {
      &kLlamaGguf,
  };
  // clang-format on
  return all;
}

}  // namespace weightcast
