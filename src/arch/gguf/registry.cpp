// The GGUF view registry: one line per general.architecture, each view in its own file.
#include "arch/gguf/view.h"

namespace weightcast {

extern const GgufView kLlamaGguf;
extern const GgufView kGpt2Gguf;
extern const GgufView kGptNeoxGguf;
extern const GgufView kStarcoder2Gguf;
extern const GgufView kStableLmGguf;
extern const GgufView kOlmoGguf;
extern const GgufView kOlmo2Gguf;
extern const GgufView kInternLm2Gguf;
extern const GgufView kCommandRGguf;
extern const GgufView kMiniCpmGguf;
extern const GgufView kBaichuanGguf;
extern const GgufView kNemotronGguf;

const std::vector<const GgufView*>& gguf_views() {
  // clang-format off
  static const std::vector<const GgufView*> all = {
      &kLlamaGguf,
      &kGpt2Gguf,
      &kGptNeoxGguf,
      &kStarcoder2Gguf,
      &kStableLmGguf,
      &kOlmoGguf,
      &kOlmo2Gguf,
      &kInternLm2Gguf,
      &kCommandRGguf,
      &kMiniCpmGguf,
      &kBaichuanGguf,
      &kNemotronGguf,
  };
  // clang-format on
  return all;
}

}  // namespace weightcast
