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
  QuantKind kind() const override { return QuantKind::kGroupQuant; }
  DType model_dtype() const override { return config_.model_dtype; }
  bool stores_as_is(const ParamDef& p) const override { return !quantizes(p); }
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override;
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions& options) const override;
  void check_sharding(const ParamDef& param, const ExpectedShape& shape, int shards) const override;
  // NK layouts only: KN transposes the whole q_weight.
  bool computes_rows(const ParamDef& p) const override { return quantizes(p) && !transposes(p); }
  std::vector<Tensor> start_rows(const ParamDef& param, const ParamRows& input) const override;
  void compute_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                    std::size_t end, std::byte* first, std::vector<Tensor>& rest, ThreadPool& pool,
                    const KernelOptions& options) const override;
  const GroupQuantConfig& config() const { return config_; }

 private:
  bool quantizes(const ParamDef& param) const;
  bool transposes(const ParamDef& param) const;
  // Quantizes input rows [begin, end) into `weight` and `scale`, which point at row `begin`.
  void quantize_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                     std::size_t end, std::uint32_t* weight, std::byte* scale, ThreadPool& pool,
                     const KernelOptions& options) const;
  // The q_scale tensor in row order ([rows..., groups]), before any KN transpose.
  Tensor scale_tensor(const ParamDef& param, const ParamRows& input) const;

  GroupQuantConfig config_;
  int elems_per_word_, words_per_group_;
};

}  // namespace weightcast
