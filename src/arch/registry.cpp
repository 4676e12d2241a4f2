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
extern const Architecture kGemma3;
extern const Architecture kGemma3Text;
extern const Architecture kStableLm;
extern const Architecture kOlmo;
extern const Architecture kOlmo2;
extern const Architecture kCohere;
extern const Architecture kBaichuan;
extern const Architecture kMiniCpm;
extern const Architecture kStarcoder2;
extern const Architecture kPhi3;
extern const Architecture kInternLm2;
extern const Architecture kGpt2;
extern const Architecture kGptBigCode;
extern const Architecture kGptNeox;
extern const Architecture kPhi;
extern const Architecture kChatGlm;
extern const Architecture kDeepseekV2;
extern const Architecture kDeepseekV3;
extern const Architecture kQwen3Embedding;
extern const Architecture kInternLm;
extern const Architecture kNemotron;
extern const Architecture kDeepseekMoe;

const std::vector<const Architecture*>& architectures() {
  // clang-format off
  static const std::vector<const Architecture*> all = {
      &kLlama,
      &kMistral,
      &kQwen3,
      &kQwen2,
      &kQwen2Moe,
      &kQwen3Moe,
      &kMixtral,
      &kGemma,
      &kGemma2,
      &kGemma3,
      &kGemma3Text,
      &kStableLm,
      &kOlmo,
      &kOlmo2,
      &kCohere,
      &kBaichuan,
      &kMiniCpm,
      &kStarcoder2,
      &kPhi3,
      &kInternLm2,
      &kGpt2,
      &kGptBigCode,
      &kGptNeox,
      &kPhi,
      &kChatGlm,
      &kDeepseekV2,
      &kDeepseekV3,
      &kQwen3Embedding,
      &kInternLm,
      &kNemotron,
      &kDeepseekMoe,
  };
  // clang-format on
  return all;
}

}  // namespace weightcast
