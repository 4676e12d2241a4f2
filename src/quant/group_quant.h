// group-quant (q3f16_*, q4f16_*, q4bf16_*, q4f32_1): symmetric per-group integer quantization
// along the last axis, packed LSB-first into uint32 words (docs/mlc-format.md#group-quantization).
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
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override;
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions& options) const override;
  void check(const ParamDef& param, const Shape& mapped, int shards) const override;
  // Row blocks in NK layouts only: KN transposes the whole q_weight.
  Production production(const ParamDef& p) const override {
    if (!quantizes(p)) return Production::kAsIs;
    return transposes(p) ? Production::kWhole : Production::kRowBlocks;
  }
  std::vector<Tensor> start_rows(const ParamDef& param, const ParamRows& input) const override;
  void compute_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                    std::size_t end, std::byte* first, std::vector<Tensor>& rest, ThreadPool& pool,
                    const KernelOptions& options) const override;

 private:
  bool quantizes(const ParamDef& param) const;
  bool transposes(const ParamDef& param) const;
  // Quantizes input rows [begin, end) into `weight` and `scale`, which point at row `begin`; or,
  // with `kn_stride` (the KN layout), into column r - begin of `weight` and `scale`, whose rows
  // hold kn_stride elements.
  void quantize_rows(const ParamDef& param, const ParamRows& input, std::size_t begin,
                     std::size_t end, std::uint32_t* weight, std::byte* scale, ThreadPool& pool,
                     const KernelOptions& options, std::size_t kn_stride = 0) const;
  // The q_scale tensor in row order ([rows..., groups]), or transposed for the KN layout.
  Tensor scale_tensor(const ParamDef& param, const ParamRows& input, bool kn = false) const;

  GroupQuantConfig config_;
  int elems_per_word_, words_per_group_;
};

}  // namespace weightcast
