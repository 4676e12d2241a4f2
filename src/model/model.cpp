#include "model/model.h"

#include <fmt/ranges.h>

#include "map/kinds.h"
#include "util/error.h"

namespace weightcast {

std::string_view quant_kind_name(QuantKind kind) {
  switch (kind) {
    case QuantKind::kNoQuant:
      return "no-quant";
    case QuantKind::kGroupQuant:
      return "group-quant";
    case QuantKind::kAwq:
      return "awq";
    case QuantKind::kPerTensor:
      return "per-tensor-quant";
    case QuantKind::kBlockScale:
      return "block-scale-quant";
    case QuantKind::kFt:
      return "ft-quant";
  }
  return "unknown";
}

std::string expected_shape_str(const ExpectedShape& shape) {
  std::vector<std::string> parts;
  for (const auto& d : shape) parts.push_back(d.symbolic() ? d.symbol : std::to_string(d.value));
  if (parts.size() == 1) return fmt::format("({},)", parts[0]);
  return fmt::format("({})", fmt::join(parts, ", "));
}

ExpectedShape concrete(const Shape& shape) {
  ExpectedShape out;
  for (auto d : shape) out.push_back({d, {}});
  return out;
}

bool is_moe_gate(const ParamDef& p) {
  constexpr std::string_view suffix = ".weight";
  std::string_view module = p.name;
  if (module.ends_with(suffix)) module.remove_suffix(suffix.size());
  return module.ends_with("gate") && !p.shape.empty() && !p.shape[0].symbolic() &&
         p.shape[0].value <= 256;
}

namespace {
const std::string& or_default(const std::string& s, const std::string& fallback) {
  return s.empty() ? fallback : s;
}
}  // namespace

void ModelDef::check_size(std::size_t new_sources) {
  source_count += new_sources;
  if (params.size() >= kMaxParams || source_count > kMaxSources)
    fail(
        "config.json describes more than {} parameters or {} source tensors, which no checkpoint "
        "has: check its layer and expert counts",
        kMaxParams, kMaxSources);
}

ParamDef& ModelDef::add(std::string name, ExpectedShape shape, ParamRole role,
                        std::vector<std::string> sources, std::optional<ShardStrategy> shard) {
  check_size(sources.size());
  ParamDef p;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.role = role;
  if (sources.size() > 1) p.mapping = map::concat(0);
  p.sources = std::move(sources);
  p.shard = std::move(shard);
  return params.emplace_back(std::move(p));
}

AddedParams ModelDef::added_since(std::size_t first) {
  return {&params[first], params.size() > first + 1 ? &params[first + 1] : nullptr};
}

AddedParams ModelDef::linear(const std::string& name, std::int64_t out, std::int64_t in,
                             const std::vector<std::string>& sources,
                             const LinearOptions& options) {
  const auto first = params.size();
  const auto& shard = options.shard;
  std::vector<std::string> weights, biases;
  for (const auto& s : sources) weights.push_back(s + ".weight"), biases.push_back(s + ".bias");
  add(name + ".weight", {num(out), num(in)}, ParamRole::kLinearWeight, weights, shard);
  if (options.bias) {
    std::optional<ShardStrategy> bias_shard;
    if (shard && shard->dim == 0) bias_shard = shard;
    add(name + ".bias", {num(out)}, ParamRole::kOther, biases, bias_shard);
  }
  return added_since(first);
}

AddedParams ModelDef::norm(const std::string& name, std::int64_t dim, const NormOptions& options) {
  const auto first = params.size();
  const auto& src = or_default(options.source, name);
  add(name + ".weight", {num(dim)}, ParamRole::kOther, {src + ".weight"}).mapping =
      options.add_one ? map::add_one() : nullptr;
  if (options.bias) add(name + ".bias", {num(dim)}, ParamRole::kOther, {src + ".bias"});
  return added_since(first);
}

ParamDef& ModelDef::experts(const std::string& name, std::int64_t experts, std::int64_t out,
                            std::int64_t in, std::vector<std::string> sources,
                            std::optional<ShardStrategy> shard) {
  auto& p = add(name + ".weight", {num(experts), num(out), num(in)}, ParamRole::kExperts,
                std::move(sources), std::move(shard));
  p.mapping = map::stack(experts);
  return p;
}

AddedParams ModelDef::final_fc(const std::string& name, Dim vocab, std::int64_t hidden,
                               const FinalFcOptions& options) {
  const auto first = params.size();
  const auto& src = or_default(options.source, name);
  add(name + ".weight", {vocab, num(hidden)}, ParamRole::kLinearWeight, {src + ".weight"})
      .final_fc = true;
  if (options.bias) add(name + ".bias", {vocab}, ParamRole::kOther, {src + ".bias"});
  return added_since(first);
}

}  // namespace weightcast
