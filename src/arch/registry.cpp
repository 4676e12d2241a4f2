// The architecture registry: one line per model type, each defined in its own file.
#include "arch/architecture.h"

namespace weightcast {

extern const Architecture kLlama;

const std::vector<const Architecture*>& architectures() {
  static const std::vector<const Architecture*> all = {
      &kLlama,
  };
  return all;
}

}  // namespace weightcast
