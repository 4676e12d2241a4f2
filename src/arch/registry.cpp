// The architecture registry: one line per model type, each defined in its own file.
#include "arch/architecture.h"

namespace weightcast {

extern const Architecture kLlama;
extern const Architecture kQwen3;
extern const Architecture kMistral;
extern const Architecture kQwen2;
extern const Architecture kQwen2Moe;
extern const Architecture kQwen3Moe;
extern const Architecture kMixtral;
extern const Architecture kGemma;
extern const Architecture kGemma2;

const std::vector<const Architecture*>& architectures() {
  static const std::vector<const Architecture*> all = {
      &kLlama, &kMistral, &kQwen3, &kQwen2, &kQwen2Moe, &kQwen3Moe, &kMixtral, &kGemma, &kGemma2,
  };
  return all;
}

}  // namespace weightcast
