// The architecture registry: one line per model type (each defined in its own file), in the
// order the messages list them ("Available ones: [...]").
#include "arch/architecture.h"

// clang-format off
#define WEIGHTCAST_ARCHITECTURES(X) \
  X(kLlama)                         \
  X(kLlama4)                        \
  X(kMistral)                       \
  X(kQwen3)                         \
  X(kQwen2)                         \
  X(kQwen2Moe)                      \
  X(kQwen3Moe)                      \
  X(kMixtral)                       \
  X(kGemma)                         \
  X(kGemma2)                        \
  X(kGemma3)                        \
  X(kGemma3Text)                    \
  X(kStableLm)                      \
  X(kOlmo)                          \
  X(kOlmo2)                         \
  X(kCohere)                        \
  X(kBaichuan)                      \
  X(kMiniCpm)                       \
  X(kStarcoder2)                    \
  X(kPhi3)                          \
  X(kPhi3V)                         \
  X(kInternLm2)                     \
  X(kRwkv5)                         \
  X(kGpt2)                          \
  X(kGptBigCode)                    \
  X(kGptNeox)                       \
  X(kPhi)                           \
  X(kChatGlm)                       \
  X(kEagle)                         \
  X(kBert)                          \
  X(kMedusa)                        \
  X(kDeepseekV2)                    \
  X(kDeepseekV3)                    \
  X(kQwen3Embedding)                \
  X(kQwen35)                        \
  X(kQwen35Text)                    \
  X(kInternLm)                      \
  X(kNemotron)                      \
  X(kBertBge)                       \
  X(kDeepseekMoe)                   \
  X(kMinistral3)                    \
  X(kQwen)                          \
  X(kOrion)                         \
  X(kLlava)                         \
  X(kRwkv6)                         \
  X(kGptJ)                          \
  X(kPhiMsft)
// clang-format on

namespace weightcast {

#define WEIGHTCAST_DECLARE(id) extern const Architecture id;
WEIGHTCAST_ARCHITECTURES(WEIGHTCAST_DECLARE)
#undef WEIGHTCAST_DECLARE

const std::vector<const Architecture*>& architectures() {
#define WEIGHTCAST_ADDRESS(id) &id,
  static const std::vector<const Architecture*> all = {
      WEIGHTCAST_ARCHITECTURES(WEIGHTCAST_ADDRESS)};
#undef WEIGHTCAST_ADDRESS
  return all;
}

}  // namespace weightcast
