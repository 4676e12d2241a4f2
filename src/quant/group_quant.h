// group-quant (q3f16_*, q4f16_*, q4bf16_*, q4f32_1): symmetric per-group integer quantization
// along the last axis, packed LSB-first into uint32 words (spec 5.2).
#pragma once

#include "quant/kernels/group_kernel.h"
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

class GroupQuantize final : public Scheme {
 public:
  explicit GroupQuantize(GroupQuantConfig config);
  std::string_view name() const override { return config_.name; }
  std::string_view kind() const override { return "group-quant"; }
  DType model_dtype() const override { return config_.model_dtype; }
  bool stores_as_is(const ParamDef& p) const override { return !quantizes(p); }
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override;
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions& options) const override;
  void check_sharding(const ParamDef& param, const ExpectedShape& shape, int shards) const override;
  const GroupQuantConfig& config() const { return config_; }

 private:
  bool quantizes(const ParamDef& param) const;
  bool transposes(const ParamDef& param) const;

  GroupQuantConfig config_;
  int elems_per_word_, words_per_group_;
};

}  // namespace weightcast
