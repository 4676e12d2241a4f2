#include "convert/plan.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "convert/cast.h"
#include "util/error.h"

namespace weightcast {

namespace {

// MLC's check_parameter_usage: missing sources are an error, unexpected ones a warning.
std::vector<std::string> check_usage(const ModelDef& model, const Checkpoint& ckpt) {
  std::set<std::string> missing;
  std::unordered_set<std::string> used(model.unused_sources.begin(), model.unused_sources.end());
  for (const auto& p : model.params)
    for (const auto& s : p.sources) {
      used.insert(s);
      if (!ckpt.find(s)) missing.insert(s);
    }
  if (!missing.empty())
    fail("The following extern parameters do not exist in the weight files:\n  {}",
         fmt::join(missing, "\n  "));
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
  const auto& first = ckpt.info(sources.front());
  if (def.combine == Combine::kTranspose) {
    if (first.shape.size() != 2)
      fail("Parameter {}: {} has shape {}, but a 2-D tensor is needed to transpose it", def.name,
           first.name, shape_str(first.shape));
    return {first.shape[1], first.shape[0]};
  }
  if (def.combine == Combine::kHeadSlice) {
    const auto& hs = def.head_slice;
    if (first.shape.size() != 2 || first.shape[0] != hs.heads * hs.rows_per_head)
      fail("Parameter {}: {} has shape {}, but [{} x {}, *] is needed to split it per head",
           def.name, first.name, shape_str(first.shape), hs.heads, hs.rows_per_head);
    const auto rows = hs.end - hs.begin, cols = first.shape[1];
    return hs.transpose ? Shape{hs.heads, cols, rows} : Shape{hs.heads, rows, cols};
  }
  if (def.combine == Combine::kPermuteRows) {
    if (first.shape.empty() || first.shape[0] != def.permutation.rows)
      fail("Parameter {}: {} has shape {}, but {} rows are needed to reorder them", def.name,
           first.name, shape_str(first.shape), def.permutation.rows);
    return first.shape;
  }
  if (def.combine == Combine::kIdentity || (sources.size() == 1 && def.combine != Combine::kStack))
    return first.shape;
  const std::size_t axis = def.combine == Combine::kConcatAxis1 ? 1 : 0;
  Shape out = first.shape;
  if (out.size() <= axis)
    fail("Parameter {}: cannot concatenate {} along axis {}", def.name, first.name, axis);
  std::vector<std::int64_t> rows{first.shape[axis]};
  for (std::size_t i = 1; i < sources.size(); ++i) {
    const auto& s = ckpt.info(sources[i]);
    bool same = s.shape.size() == out.size();
    for (std::size_t d = 0; same && d < out.size(); ++d) same = d == axis || s.shape[d] == out[d];
    if (!same)
      fail("Parameter {}: cannot concatenate {} {} with {} {} along axis {}", def.name, first.name,
           shape_str(first.shape), s.name, shape_str(s.shape), axis);
    out[axis] += s.shape[axis];
    rows.push_back(s.shape[axis]);
  }
  if (def.combine != Combine::kStack) return out;
  // Every group (expert) must contribute the same rows, or np.stack fails.
  const auto groups = static_cast<std::size_t>(def.stack);
  if (groups == 0 || sources.size() % groups != 0)
    fail("Parameter {}: {} sources do not form {} equal groups", def.name, sources.size(), groups);
  const std::size_t per = sources.size() / groups;
  for (std::size_t g = 1; g < groups; ++g)
    for (std::size_t k = 0; k < per; ++k)
      if (rows[g * per + k] != rows[k])
        fail("Parameter {}: cannot stack {} {} with {} {}", def.name, first.name,
             shape_str(first.shape), ckpt.info(sources[g * per + k]).name,
             shape_str(ckpt.info(sources[g * per + k]).shape));
  out[0] /= static_cast<std::int64_t>(groups);
  out.insert(out.begin(), static_cast<std::int64_t>(groups));
  return out;
}

// MLC's _check_param, run ahead of time on the planned shapes (spec 2.4).
void check_output(const OutputDef& actual, const OutputDef& expected, const Shape& actual_shape) {
  bool ok = actual.shape.size() == expected.shape.size();
  for (std::size_t i = 0; ok && i < expected.shape.size(); ++i)
    ok = expected.shape[i].symbolic() || expected.shape[i].value == actual.shape[i].value;
  if (!ok)
    fail("Parameter {} has shape {}, but expected {}", actual.name, shape_str(actual_shape),
         expected_shape_str(expected.shape));
  if (actual.dtype != expected.dtype)
    fail("Parameter {} has dtype {}, but expected {}", actual.name, tvm_name(actual.dtype),
         tvm_name(expected.dtype));
}

}  // namespace

Plan make_plan(const ModelDef& model, const Checkpoint& ckpt, const Scheme& scheme) {
  Plan plan;
  plan.unused = check_usage(model, ckpt);
  for (const auto* def : loading_order(model, ckpt)) {
    PlannedParam p;
    p.def = def;
    for (const auto& s : def->sources) {
      p.sources.push_back(*ckpt.find(s));
      const auto& info = ckpt.info(p.sources.back());
      const DType target = def->dtype.value_or(scheme.model_dtype());
      if (!can_cast(info.dtype, target))
        fail<NotImplementedError>(
            "Parameter {}: source {} has dtype {}, which cannot be cast to {}", def->name, s,
            tvm_name(info.dtype), tvm_name(target));
    }
    p.shape = mapped_shape(*def, p.sources, ckpt);
    scheme.check_mapped(*def, p.shape);
    const int t = model.tensor_parallel_shards;
    const auto full_outputs = scheme.outputs(*def, concrete(p.shape));
    const auto expected = scheme.outputs(*def, def->shape);
    if (t > 1) scheme.check_sharding(*def, def->shape, t);
    if (t > 1 && def->shard) {
      // The loader produces the whole tensor; each output is split after quantization.
      p.shard = def->shard;
      p.shards = t;
      for (std::size_t i = 0; i < full_outputs.size(); ++i) {
        if (!scheme.splits_output(i)) {  // stored once, whole
          Shape actual_shape;
          for (const auto& dim : full_outputs[i].shape) actual_shape.push_back(dim.value);
          check_output(full_outputs[i], expected[i], actual_shape);
          p.outputs.push_back(full_outputs[i]);
          continue;
        }
        auto piece = full_outputs[i];
        auto& d = piece.shape.at(static_cast<std::size_t>(def->shard->dim)).value;
        if (d % t != 0)
          fail("Parameter {} has shape {}, which does not split into {} shards along axis {}",
               piece.name, expected_shape_str(piece.shape), t, def->shard->dim);
        d /= t;
        for (int k = 0; k < t; ++k) {
          auto shard_out = piece;
          shard_out.name = fmt::format("{}_shard-{}", piece.name, k);
          auto shard_expected = expected[i];
          shard_expected.name = shard_out.name;
          Shape actual_shape;
          for (const auto& dim : shard_out.shape) actual_shape.push_back(dim.value);
          check_output(shard_out, shard_expected, actual_shape);
          p.outputs.push_back(std::move(shard_out));
        }
      }
    } else {
      p.outputs = full_outputs;
      // Replicated under pre-sharding: compare against the whole expected shape.
      for (std::size_t i = 0; i < expected.size(); ++i) {
        Shape actual_shape;
        for (const auto& d : p.outputs[i].shape) actual_shape.push_back(d.value);
        check_output(p.outputs[i], expected[i], actual_shape);
      }
    }
    plan.params.push_back(std::move(p));
  }
  if (plan.params.size() != model.params.size()) {
    std::vector<std::string> never;
    for (const auto& p : model.params)
      if (std::none_of(plan.params.begin(), plan.params.end(),
                       [&](auto& q) { return q.def == &p; }))
        never.push_back(p.name);
    fail("Parameter not found in source: {}", fmt::join(never, ", "));
  }

  // Stats.total_param_num: a file is counted each time it is (re)loaded, every tensor of it
  // except those declared unused.
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
      if (loaded.insert(f).second) plan.total_params += file_params[f];
  }
  return plan;
}

}  // namespace weightcast
