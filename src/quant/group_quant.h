// group-quant (q3f16_*, q4f16_*, q4bf16_*, q4f32_1): symmetric per-group integer quantization
// along the last axis, packed LSB-first into uint32 words (spec 5.2).
#pragma once

#include "quant/scheme.h"

namespace weightcast {

enum class Layout { kNK, kKN };

struct GroupQuantConfig {
  std::string name;
  int bits;
  int group_size;
  DType model_dtype;
  Layout layout;
  bool quantize_embedding;
  bool quantize_final_fc;
};

// The numeric core, exposed for tests and benchmarks. `rows` x `k` elements of `dtype` in,
// `rows` x words uint32 codes and `rows` x groups scales (in `dtype`) out. `rounded_scale`
// selects whether the codes use the scale as stored (NK, embeddings) or, for bfloat16 KN
// linear layers, the unrounded float32 one (spec 5.2.4).
struct GroupKernelArgs {
  DType dtype;
  int bits;
  int group_size;
  bool rounded_scale = true;
  RoundMode round_mode = RoundMode::kTiesEven;
};
void group_quantize_rows(const GroupKernelArgs& args, const void* input, std::size_t rows,
                         std::size_t k, std::uint32_t* q_weight, void* q_scale);

class GroupQuantize final : public Scheme {
 public:
  explicit GroupQuantize(GroupQuantConfig config);
  std::string_view name() const override { return config_.name; }
  std::string_view kind() const override { return "group-quant"; }
  DType model_dtype() const override { return config_.model_dtype; }
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override;
  std::vector<Tensor> compute(const ParamDef& param, Tensor input, ThreadPool& pool,
                              const KernelOptions& options) const override;
  const GroupQuantConfig& config() const { return config_; }

 private:
  bool quantizes(const ParamDef& param) const;
  bool transposes(const ParamDef& param) const;

  GroupQuantConfig config_;
  int elems_per_word_, words_per_group_;
};

}  // namespace weightcast
