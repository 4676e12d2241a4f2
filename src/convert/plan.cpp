#include "convert/plan.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "cache/tensor_cache_writer.h"
#include "map/cast.h"
#include "map/mapping.h"
#include "util/error.h"

namespace weightcast {

namespace {

constexpr std::size_t kListed = 5;  // missing names shown in an error

// MLC's check_parameter_usage: missing sources are an error, unexpected ones a warning.
std::vector<std::string> check_usage(const ModelDef& model, const Checkpoint& ckpt) {
  std::set<std::string> missing;
  std::unordered_set<std::string> used(model.unused_sources.begin(), model.unused_sources.end());
  for (const auto& p : model.params)
    for (const auto& s : p.sources) {
      used.insert(s);
      if (!ckpt.find(s)) missing.insert(s);
    }
  if (!missing.empty()) {
    // MLC lists them all; a whole model's worth (a plain checkpoint read as AWQ) is one screen.
    std::vector<std::string> shown(
        missing.begin(),
        std::next(missing.begin(), std::min<std::size_t>(missing.size(), kListed)));
    if (missing.size() > kListed)
      shown.push_back(fmt::format("and {} more", missing.size() - kListed));
    fail("The following extern parameters do not exist in the weight files:\n  {}",
         fmt::join(shown, "\n  "));
  }
  std::vector<std::string> unused;
  for (const auto& name : ckpt.weight_map_order())
    if (!used.count(name)) unused.push_back(name);
  std::sort(unused.begin(), unused.end());
  return unused;
}

// MLC's _loading_order: files by first appearance in the weight map, names in map order, each
// MLC parameter at the first source that feeds it.
std::vector<const ParamDef*> loading_order(const ModelDef& model, const Checkpoint& ckpt) {
  std::unordered_map<std::string, std::vector<const ParamDef*>> users;
  for (const auto& p : model.params)
    for (const auto& s : p.sources) users[s].push_back(&p);
  std::vector<std::vector<const std::string*>> by_file(ckpt.files().size());
  for (const auto& name : ckpt.weight_map_order()) by_file[ckpt.find(name)->file].push_back(&name);
  std::vector<const ParamDef*> order;
  std::unordered_set<const ParamDef*> seen;
  std::vector<std::size_t> file_order;  // files in order of first appearance
  std::vector<bool> listed(ckpt.files().size());
  for (const auto& name : ckpt.weight_map_order()) {
    const auto f = ckpt.find(name)->file;
    if (!listed[f]) listed[f] = true, file_order.push_back(f);
  }
  for (auto f : file_order)
    for (const auto* name : by_file[f]) {
      auto it = users.find(*name);
      if (it == users.end()) continue;
      for (const auto* p : it->second)
        if (seen.insert(p).second) order.push_back(p);
    }
  return order;
}

Shape mapped_shape(const ParamDef& def, const std::vector<TensorLocation>& sources,
                   const Checkpoint& ckpt) {
  std::vector<SourceShape> shapes;
  for (const auto& loc : sources) {
    const auto& info = ckpt.info(loc);
    shapes.push_back({info.name, info.shape});
  }
  return mapping_or_identity(def.mapping).shape(def.name, shapes);
}

Shape values(const ExpectedShape& shape) {
  Shape out;
  for (const auto& d : shape) out.push_back(d.value);
  return out;
}

// MLC's _check_param, run ahead of time on the planned shapes
// (docs/mlc-format.md#parameter-checks).
void check_output(const OutputDef& actual, const OutputDef& expected) {
  bool ok = actual.shape.size() == expected.shape.size();
  for (std::size_t i = 0; ok && i < expected.shape.size(); ++i)
    ok = expected.shape[i].symbolic() || expected.shape[i].value == actual.shape[i].value;
  if (!ok)
    fail("Parameter {} has shape {}, but expected {}", actual.name, shape_str(values(actual.shape)),
         expected_shape_str(expected.shape));
  if (actual.dtype != expected.dtype)
    fail("Parameter {} has dtype {}, but expected {}", actual.name, tvm_name(actual.dtype),
         tvm_name(expected.dtype));
}

// The records of a parameter pre-sharded `t` ways, each checked against the expected ones.
std::vector<OutputDef> shard_outputs(const ParamDef& def, const std::vector<OutputDef>& full,
                                     const std::vector<OutputDef>& expected, int t) {
  std::vector<OutputDef> out;
  for (std::size_t i = 0; i < full.size(); ++i) {
    if (!full[i].split) {  // stored once, whole
      check_output(full[i], expected[i]);
      out.push_back(full[i]);
      continue;
    }
    auto piece = full[i];
    auto& d = piece.shape.at(static_cast<std::size_t>(def.shard->dim)).value;
    if (d % t != 0)
      fail("Parameter {} has shape {}, which does not split into {} shards along axis {}",
           piece.name, expected_shape_str(piece.shape), t, def.shard->dim);
    d /= t;
    for (int k = 0; k < t; ++k) {
      auto shard_out = piece;
      shard_out.name = fmt::format("{}_shard-{}", piece.name, k);
      auto shard_expected = expected[i];
      shard_expected.name = shard_out.name;
      check_output(shard_out, shard_expected);
      out.push_back(std::move(shard_out));
    }
  }
  return out;
}

// Whether the first record is streamed: a single piece, produced as is or by row blocks, that
// would be large enough to be worth never holding whole.
bool streams(const PlannedParam& p, std::size_t stream_from) {
  const bool as_is = p.production == Production::kAsIs && p.outputs.size() == 1;
  if (p.shards != 1 || !(as_is || p.production == Production::kRowBlocks)) return false;
  const auto& first = p.outputs.front();
  if (p.shape.empty() || first.shape.empty()) return false;
  const auto row_size = static_cast<std::size_t>(p.shape.back());
  const std::size_t rows = row_size == 0 ? 0 : static_cast<std::size_t>(numel(p.shape)) / row_size;
  const auto row_bytes =
      static_cast<std::size_t>(first.shape.back().value) * cache_element_size(first.dtype);
  return rows * row_bytes >= std::max(stream_from, kShardCapBytes);
}

// The records of parameter `def`, whose mapped shape `p.shape` is known, checked against the
// expected ones, and how they will be produced.
void plan_outputs(PlannedParam& p, const Scheme& scheme, int t, std::size_t stream_from) {
  const auto& def = *p.def;
  const auto full_outputs = scheme.outputs(def, concrete(p.shape));
  const auto expected = scheme.outputs(def, def.shape);
  scheme.check(def, p.shape, t);
  for (const auto& o : full_outputs) p.splits.push_back(o.split);
  if (t > 1 && def.shard) {
    // The loader produces the whole tensor; each record is split after quantization.
    p.shard = def.shard;
    p.shards = t;
    p.outputs = shard_outputs(def, full_outputs, expected, t);
  } else {
    p.outputs = full_outputs;
    // Replicated under pre-sharding: compare against the whole expected shape.
    for (std::size_t i = 0; i < expected.size(); ++i) check_output(p.outputs[i], expected[i]);
  }
  p.production = scheme.production(def);
  p.streamed = streams(p, stream_from);
}

// Whether a parameter stored as mapped is, in the cache, its sources' bytes laid end to end: one
// record, a flat concatenation (or one source as is), and an element cast that keeps every byte
// (the same dtype, or bfloat16 into float32, which the cache stores as bfloat16 again:
// docs/tensor-cache.md#float32-as-bfloat16). Readers that widen bfloat16 hand over other bytes.
bool passes_through(const PlannedParam& p, const Checkpoint& ckpt, const Scheme& scheme) {
  if (p.production != Production::kAsIs || p.shards != 1 || p.outputs.size() != 1 ||
      p.sources.empty() || !mapping_or_identity(p.def->mapping).concatenates_flat(p.sources.size()))
    return false;
  const DType out = p.outputs.front().dtype;
  if (p.def->dtype.value_or(scheme.model_dtype()) != out) return false;
  std::size_t bytes = 0;
  for (const auto& loc : p.sources) {
    const auto& info = ckpt.info(loc);
    if (ckpt.files()[loc.file]->widens_bf16() ||
        !(info.dtype == out || (info.dtype == DType::kBF16 && out == DType::kF32)))
      return false;
    bytes += static_cast<std::size_t>(numel(info.shape)) * dtype_size(info.dtype);
  }
  return bytes == static_cast<std::size_t>(numel(p.shape)) * cache_element_size(out);
}

PlannedParam plan_param(const ParamDef& def, const Checkpoint& ckpt, const Scheme& scheme, int t,
                        std::size_t stream_from) {
  PlannedParam p;
  p.def = &def;
  for (const auto& s : def.sources) {
    p.sources.push_back(*ckpt.find(s));
    const auto& info = ckpt.info(p.sources.back());
    const DType target = def.dtype.value_or(scheme.model_dtype());
    if (!can_cast(info.dtype, target))
      fail<NotImplementedError>("Parameter {}: source {} has dtype {}, which cannot be cast to {}",
                                def.name, s, tvm_name(info.dtype), tvm_name(target));
  }
  p.shape = mapped_shape(def, p.sources, ckpt);
  plan_outputs(p, scheme, t, stream_from);
  p.passes_through = passes_through(p, ckpt, scheme);
  if (p.passes_through) p.streamed = false;  // it holds no bytes, however large
  return p;
}

// Stats.total_param_num: a file is counted each time it is (re)loaded, every tensor of it
// except those declared unused.
std::int64_t count_params(const Plan& plan, const ModelDef& model, const Checkpoint& ckpt) {
  std::int64_t total = 0;
  const std::unordered_set<std::string> declared_unused(model.unused_sources.begin(),
                                                        model.unused_sources.end());
  std::vector<std::int64_t> file_params(ckpt.files().size(), 0);
  for (std::size_t f = 0; f < ckpt.files().size(); ++f)
    for (const auto& t : ckpt.files()[f]->tensors())
      if (!declared_unused.count(t.name)) file_params[f] += numel(t.shape);
  std::set<std::size_t> loaded;
  for (const auto& p : plan.params) {
    std::set<std::size_t> required;
    for (const auto& s : p.sources) required.insert(s.file);
    if (std::includes(loaded.begin(), loaded.end(), required.begin(), required.end())) continue;
    std::erase_if(loaded, [&](std::size_t f) { return !required.count(f); });
    for (auto f : required)
      if (loaded.insert(f).second) total += file_params[f];
  }
  return total;
}

}  // namespace

Plan make_plan(const ModelDef& model, const Checkpoint& ckpt, const Scheme& scheme,
               std::size_t stream_from) {
  Plan plan;
  plan.unused = check_usage(model, ckpt);
  for (const auto* def : loading_order(model, ckpt))
    plan.params.push_back(
        plan_param(*def, ckpt, scheme, model.tensor_parallel_shards, stream_from));
  if (plan.params.size() != model.params.size()) {
    std::vector<std::string> never;
    for (const auto& p : model.params)
      if (std::none_of(plan.params.begin(), plan.params.end(),
                       [&](auto& q) { return q.def == &p; }))
        never.push_back(p.name);
    fail("Parameter not found in source: {}", fmt::join(never, ", "));
  }
  plan.total_params = count_params(plan, model, ckpt);
  return plan;
}

Plan make_plan_from_config(const ModelDef& model, const Scheme& scheme, std::size_t stream_from) {
  Plan plan;
  plan.config_only = true;
  for (const auto& def : model.params) {
    PlannedParam p;
    p.def = &def;
    p.shape = values(def.shape);  // the expected shape; a symbol's value is the config's
    plan_outputs(p, scheme, model.tensor_parallel_shards, stream_from);
    // No sources to count: the parameters' own elements stand in for MLC's source count.
    plan.total_params += numel(p.shape);
    plan.params.push_back(std::move(p));
  }
  return plan;
}

}  // namespace weightcast
