#include "quant/awq.h"

#include "map/kinds.h"
#include "quant/targets.h"
#include "util/error.h"

namespace weightcast {

ModelDef AwqQuantize::adapt(ModelDef model) const {
  if (model.tensor_parallel_shards > 1)
    fail<NotImplementedError>("q4f16_autoawq cannot be pre-sharded for tensor parallelism");
  std::vector<ParamDef> params;
  for (auto& p : model.params) {
    if (!quantizes_linear(p)) {
      params.push_back(std::move(p));
      continue;
    }
    if (p.shape.size() != 2 || p.shape[0].symbolic() || p.shape[1].symbolic())
      fail<NotImplementedError>("{}: AWQ needs a linear layer of known size", p.name);
    const std::int64_t out = p.shape[0].value, in = p.shape[1].value;
    if (out % 8 != 0 || in % kGroupSize != 0)
      fail("{}: AWQ needs out_features divisible by 8 and in_features by {} (got {} x {})", p.name,
           kGroupSize, out, in);
    struct Part {
      const char* suffix;
      Dim rows, cols;
      DType dtype;
    };
    const Part parts[] = {{"qweight", {in, {}}, {out / 8, {}}, DType::kU32},
                          {"qzeros", {in / kGroupSize, {}}, {out / 8, {}}, DType::kU32},
                          {"scales", {in / kGroupSize, {}}, {out, {}}, DType::kF16}};
    for (const auto& part : parts) {
      ParamDef q;
      q.name = module_part(p.name, part.suffix);
      q.shape = {part.rows, part.cols};
      q.dtype = part.dtype;
      for (const auto& src : p.sources) q.sources.push_back(module_part(src, part.suffix));
      if (q.sources.size() > 1) q.mapping = map::concat(1);
      params.push_back(std::move(q));
    }
  }
  model.params = std::move(params);
  return model;
}

void AwqQuantize::check(const ParamDef& param, const Shape& mapped, int) const {
  if (!(param.name.ends_with(".qzeros") || param.name.ends_with(".scales")) || mapped.empty())
    return;
  const std::int64_t expected_rows = param.shape[0].value;
  if (mapped[0] != expected_rows && mapped[0] > 0) {
    const std::int64_t in = expected_rows * kGroupSize;
    fail("{}: {} rows mean an AWQ group size of {}; q4f16_autoawq supports group size {} only",
         param.name, mapped[0],
         in % mapped[0] == 0 ? std::to_string(in / mapped[0]) : "(not whole)", kGroupSize);
  }
}

}  // namespace weightcast
