// verify --against: each parameter rebuilt from the checkpoint by the conversion's own plan and
// mapping (in float32), compared with its records decoded (docs/verify.md#against-a-source).
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "convert/pipeline.h"
#include "convert/source_rows.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "verify/verify.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

struct Candidate {
  Resolved resolved;
  Plan plan;
};

Candidate plan_for(const fs::path& source, const std::string& quantization) {
  const ConvertRequest request{source, quantization, "auto", "cpu", "auto", "auto", {}, 0, false};
  Candidate c{resolve(request, [](const std::string&) {}), {}};
  c.plan =
      make_plan(c.resolved.model, *c.resolved.checkpoint, *c.resolved.scheme, std::size_t{1} << 62);
  return c;
}

// "" when every planned record is in the pack with its shape and dtype, and nothing else is.
std::string mismatch(const PackCheck& pack, const Plan& plan) {
  std::size_t planned = 0;
  for (const auto& p : plan.params)
    for (const auto& o : p.outputs) {
      ++planned;
      const auto it = pack.by_name.find(o.name);
      if (it == pack.by_name.end()) return fmt::format("the pack has no record {}", o.name);
      const auto& r = pack.records[it->second];
      Shape shape;
      for (const auto& d : o.shape) shape.push_back(d.value);
      if (r.shape != shape || r.dtype != o.dtype)
        return fmt::format("{} is {} {} in the pack, {} {} in the plan", o.name, r.dtype_name,
                           shape_str(r.shape), tvm_name(o.dtype), shape_str(shape));
    }
  if (planned != pack.records.size())
    return fmt::format("the pack has {} records, the plan {}", pack.records.size(), planned);
  return {};
}

// The named scheme's plan, else the first scheme (registry order) whose plan is the pack's.
Candidate matching_plan(PackCheck& pack, const fs::path& source, const std::string& named) {
  if (!named.empty()) {
    auto c = plan_for(source, named);
    if (const auto why = mismatch(pack, c.plan); !why.empty())
      pack.problems.push_back({"plan_mismatch", "", "", fmt::format("{}: {}", named, why)});
    return c;
  }
  std::string reasons;
  for (const auto& name : quantization_names()) {
    try {
      auto c = plan_for(source, name);
      const auto why = mismatch(pack, c.plan);
      if (why.empty()) return c;
      reasons += fmt::format("; {}: {}", name, why);
    } catch (const Error& e) {
      reasons += fmt::format("; {}: {}", name, e.what());
    }
  }
  fail("no quantization scheme's plan of {} gives this pack's records (pass --quantization){}",
       source.string(), reasons);
}

// Group-quantized records back to values: (code - M) * scale, along the last axis of `shape`.
std::vector<double> dequantize(const RecordCheck& q, const RecordCheck& s, const Shape& shape,
                               GroupCodes codes, bool kn) {
  const auto K = static_cast<std::size_t>(shape.back());
  const std::size_t rows = static_cast<std::size_t>(numel(shape)) / K;
  const std::size_t gs = static_cast<std::size_t>(codes.group_size), G = (K + gs - 1) / gs;
  const std::size_t E = static_cast<std::size_t>(32 / codes.bits), S = gs / E;
  const std::uint32_t mask = (1u << codes.bits) - 1;
  const double M = (1 << (codes.bits - 1)) - 1;
  const bool bf16 = s.format == "f32-to-bf16";
  std::vector<double> out(rows * K);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < K; ++k) {
      const std::size_t w = k / E, g = k / gs;
      const std::size_t wi = kn ? w * rows + r : r * S * G + w;
      const std::size_t si = kn ? g * rows + r : r * G + g;
      std::uint32_t word;
      std::memcpy(&word, q.data.data() + wi * 4, 4);
      const auto code = (word >> ((k % E) * static_cast<std::size_t>(codes.bits))) & mask;
      out[r * K + k] =
          (static_cast<double>(code) - M) * decode_element(*s.dtype, bf16, s.data.data(), si);
    }
  return out;
}

// KN layouts store linear weights' records transposed ([S*G, N] and [G, N]), embeddings not:
// told apart by the shapes, which cannot fit both layouts (that needs S*G == N == G).
bool transposed(const RecordCheck& q, const RecordCheck& s, const Shape& shape) {
  return shape.size() == 2 && s.shape.size() == 2 && s.shape[1] == shape[0] &&
         q.shape[1] == shape[0] && !(s.shape[0] == shape[0] && q.shape[0] == shape[0]);
}

std::vector<double> decode_all(const RecordCheck& r, double scale = 1.0) {
  const std::size_t n = r.nbytes / stored_element_size(*r.dtype, r.format);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = decode_element(*r.dtype, r.format == "f32-to-bf16", r.data.data(), i) * scale;
  return out;
}

// The parameter's values as the pack stores them; nullopt when its records are not all
// readable or the scheme's packing is not one decoded here.
std::optional<std::vector<double>> decoded(const PackCheck& pack, const PlannedParam& p,
                                           const std::string& scheme) {
  std::vector<const RecordCheck*> recs;
  for (const auto& o : p.outputs) {
    const auto it = pack.by_name.find(o.name);
    if (it == pack.by_name.end() || !pack.records[it->second].readable) return std::nullopt;
    const auto& r = pack.records[it->second];
    Shape planned;
    for (const auto& d : o.shape) planned.push_back(d.value);
    if (r.shape != planned || !decodable(*r.dtype)) return std::nullopt;  // plan_mismatch
    recs.push_back(&r);
  }
  const auto& first = *recs.front();
  if (recs.size() == 1 && first.name == p.def->name) return decode_all(first);
  if (first.dtype == DType::kU32 && first.name.ends_with(".q_weight") && recs.size() == 2) {
    const auto codes = group_codes(scheme);
    if (!codes) return std::nullopt;
    return dequantize(first, *recs[1], p.shape, *codes, transposed(first, *recs[1], p.shape));
  }
  if (first.dtype >= DType::kF8E4M3 && first.name.ends_with(".q_weight")) {
    const double scale = recs.size() > 1 ? decode_all(*recs[1]).at(0) : 1.0;
    return decode_all(first, scale);
  }
  return std::nullopt;
}

// The mapped parameter in float32 (or its own dtype: AWQ's words, FP8 checkpoints' codes).
std::vector<double> reference(const PlannedParam& p, const Checkpoint& ckpt, ThreadPool& pool) {
  const DType dtype = p.def->dtype.value_or(DType::kF32);
  const SourceRows rows(p, ckpt, dtype);
  const Tensor t = materialize(p.def->name, rows, pool);
  RecordCheck view;
  view.dtype = dtype;
  view.format = "raw";
  view.data = t.bytes();
  view.nbytes = t.nbytes;
  return decode_all(view);
}

void compare(ParamCheck& c, const std::vector<double>& ref, const std::vector<double>& dec) {
  double diff2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double a = ref[i], b = dec[i];
    c.source.nan += std::isnan(a);
    c.source.inf += std::isinf(a);
    c.decoded.nan += std::isnan(b);
    c.decoded.inf += std::isinf(b);
    if (!std::isfinite(a) || !std::isfinite(b)) continue;
    const double d = b - a;
    diff2 += d * d;
    ref2 += a * a;
    c.max_abs = std::max(c.max_abs, std::fabs(d));
  }
  c.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0.0);
}

}  // namespace

void compare_with_source(PackCheck& pack, const fs::path& source, const std::string& quantization,
                         unsigned threads) {
  const auto c = matching_plan(pack, source, quantization);
  pack.quantization = std::string(c.resolved.scheme->name());
  ThreadPool pool(threads);
  const auto& ckpt = *c.resolved.checkpoint;
  for (const auto& p : c.plan.params) {
    if (p.shards > 1)
      fail("{}: pre-sharded parameters (tensor_parallel_shards > 1) are not compared", p.def->name);
    ParamCheck check;
    check.name = p.def->name;
    for (const auto& o : p.outputs) check.records.push_back(o.name);
    for (const auto& loc : p.sources) check.sources.push_back(ckpt.info(loc).name);
    check.numel = static_cast<std::uint64_t>(numel(p.shape));
    const auto dec = decoded(pack, p, pack.quantization);
    if (!dec || dec->size() != check.numel) {
      check.rel_l2 = check.max_abs = NAN;  // not compared: unreadable or undecodable records
      pack.params.push_back(std::move(check));
      continue;
    }
    compare(check, reference(p, ckpt, pool), *dec);
    if (check.source.nan || check.source.inf)
      pack.problems.push_back({"source_nonfinite", "", check.name,
                               fmt::format("{}: its sources hold {} NaN, {} infinite values",
                                           check.name, check.source.nan, check.source.inf)});
    pack.params.push_back(std::move(check));
  }
}

}  // namespace weightcast
