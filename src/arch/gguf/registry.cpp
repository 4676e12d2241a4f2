// The GGUF view registry: one line per general.architecture, each view in its own file.
#include "arch/gguf/view.h"

namespace weightcast {

// gguf-a's families (llama.cpp, qwen.cpp, gemma.cpp, phi.cpp)
extern const GgufView kLlamaGguf, kQwen2Gguf, kQwen2MoeGguf, kQwen3Gguf, kQwen3MoeGguf, kGemmaGguf,
    kGemma2Gguf, kGemma3Gguf, kPhi2Gguf, kPhi3Gguf;
// gguf-b's families (one file each)
extern const GgufView kGpt2Gguf, kGptNeoxGguf, kStarcoder2Gguf, kStableLmGguf, kOlmoGguf,
    kOlmo2Gguf, kInternLm2Gguf, kCommandRGguf, kMiniCpmGguf, kBaichuanGguf, kNemotronGguf,
    kChatGlmGguf;
// gguf-deepseek2 (deepseek2.cpp)
extern const GgufView kDeepseek2Gguf;

const std::vector<const GgufView*>& gguf_views() {
  // clang-format off
  static const std::vector<const GgufView*> all = {
      &kLlamaGguf, &kQwen2Gguf, &kQwen2MoeGguf, &kQwen3Gguf, &kQwen3MoeGguf,
      &kGemmaGguf, &kGemma2Gguf, &kGemma3Gguf, &kPhi2Gguf, &kPhi3Gguf,
      &kGpt2Gguf, &kGptNeoxGguf, &kStarcoder2Gguf, &kStableLmGguf, &kOlmoGguf, &kOlmo2Gguf,
      &kInternLm2Gguf, &kCommandRGguf, &kMiniCpmGguf, &kBaichuanGguf, &kNemotronGguf, &kChatGlmGguf,
      &kDeepseek2Gguf,
  };
  // clang-format on
  return all;
}

}  // namespace weightcast
