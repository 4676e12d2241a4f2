// The scheme registry, in MLC-LLM's QUANTIZATION order
// (docs/mlc-format.md#quantization-schemes). A new scheme is one instance and one list entry here;
// a new family also includes its header (quant/<family>.h).
#include "quant/awq.h"
#include "quant/block_scale.h"
#include "quant/ft.h"
#include "quant/group_quant.h"
#include "quant/per_tensor.h"

namespace weightcast {

namespace {
// no-quant: the parameter in the model dtype, unchanged (docs/mlc-format.md#no-quantization).
const StoreAsIs q0f16("q0f16", QuantKind::kNoQuant, DType::kF16);
const StoreAsIs q0bf16("q0bf16", QuantKind::kNoQuant, DType::kBF16);
const StoreAsIs q0f32("q0f32", QuantKind::kNoQuant, DType::kF32);
// name, bits, group size, model dtype, layout, quantize embedding, quantize final fc
const GroupQuantize q3f16_0({"q3f16_0", 3, 40, DType::kF16, Layout::kKN, true, true});
const GroupQuantize q3f16_1({"q3f16_1", 3, 40, DType::kF16, Layout::kNK, true, true});
const GroupQuantize q4f16_0({"q4f16_0", 4, 32, DType::kF16, Layout::kKN, true, true});
const GroupQuantize q4f16_1({"q4f16_1", 4, 32, DType::kF16, Layout::kNK, true, true});
const GroupQuantize q4bf16_0({"q4bf16_0", 4, 32, DType::kBF16, Layout::kKN, true, true});
const GroupQuantize q4bf16_1({"q4bf16_1", 4, 32, DType::kBF16, Layout::kNK, true, true});
const GroupQuantize q4f32_1({"q4f32_1", 4, 32, DType::kF32, Layout::kNK, true, true});
const GroupQuantize q4f16_2({"q4f16_2", 4, 32, DType::kF16, Layout::kNK, false, false});
const AwqQuantize q4f16_autoawq;
const FtQuantize q4f16_ft;
const PerTensorQuantize e5m2_e5m2_f16({"e5m2_e5m2_f16", DType::kF8E5M2, false, false});
const PerTensorQuantize e4m3_e4m3_f16({"e4m3_e4m3_f16", DType::kF8E4M3, true, true});
const PerTensorQuantize e4m3_e4m3_f16_max({"e4m3_e4m3_f16_max_calibrate", DType::kF8E4M3, true,
                                           false});
const BlockScaleQuantize fp8_block("fp8_e4m3fn_bf16_block_scale", false);
const BlockScaleQuantize fp8_block_static("fp8_e4m3fn_bf16_block_scale_static_activation", true);
}  // namespace

const std::vector<const Scheme*>& schemes() {
  static const std::vector<const Scheme*> all = {
      &q0f16,    &q0bf16,        &q0f32,         &q3f16_0,           &q3f16_1,   &q4f16_0,
      &q4f16_1,  &q4bf16_0,      &q4bf16_1,      &q4f32_1,           &q4f16_2,   &q4f16_autoawq,
      &q4f16_ft, &e5m2_e5m2_f16, &e4m3_e4m3_f16, &e4m3_e4m3_f16_max, &fp8_block, &fp8_block_static,
  };
  return all;
}

const Scheme* find_scheme(std::string_view name) {
  for (const auto* s : schemes())
    if (s->name() == name) return s;
  return nullptr;
}

}  // namespace weightcast
