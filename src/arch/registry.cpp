// The architecture registry: one line per model type, each defined in its own file.
#include "arch/architecture.h"

namespace weightcast {

extern const Architecture kLlama;
extern const Architecture kQwen3;
extern const Architecture kMistral;

const std::vector<const Architecture*>& architectures() {
  static const std::vector<const Architecture*> all = {
      &kLlama,
      &kMistral,
      &kQwen3,
  };
  return all;
}

}  // namespace weightcast
