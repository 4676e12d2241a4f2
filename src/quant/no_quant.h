// no-quant (q0f16, q0bf16, q0f32): the parameter in the model dtype, unchanged (spec 5.3).
#pragma once

#include "quant/scheme.h"

namespace weightcast {

class NoQuantize final : public StoreAsIs {
 public:
  NoQuantize(std::string name, DType model_dtype) : name_(std::move(name)), dtype_(model_dtype) {}
  std::string_view name() const override { return name_; }
  QuantKind kind() const override { return QuantKind::kNoQuant; }
  DType model_dtype() const override { return dtype_; }

 private:
  std::string name_;
  DType dtype_;
};

}  // namespace weightcast
