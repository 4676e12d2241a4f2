// no-quant (q0f16, q0bf16, q0f32): the parameter in the model dtype, unchanged (spec 5.3).
#pragma once

#include "quant/scheme.h"

namespace weightcast {

class NoQuantize final : public Scheme {
 public:
  NoQuantize(std::string name, DType model_dtype) : name_(std::move(name)), dtype_(model_dtype) {}
  std::string_view name() const override { return name_; }
  std::string_view kind() const override { return "no-quant"; }
  DType model_dtype() const override { return dtype_; }
  std::vector<OutputDef> outputs(const ParamDef& param, const ExpectedShape& shape) const override {
    return {{param.name, shape, dtype_}};
  }
  std::vector<Tensor> compute(const ParamDef& param, const ParamRows& input, ThreadPool& pool,
                              const KernelOptions&) const override {
    std::vector<Tensor> out;
    out.push_back(materialize(param.name, input, pool));
    return out;
  }

 private:
  std::string name_;
  DType dtype_;
};

}  // namespace weightcast
