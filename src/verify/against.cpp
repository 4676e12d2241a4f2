// verify --against: each parameter rebuilt from the checkpoint by the conversion's own plan and
// mapping (in float32), compared with its records decoded (docs/verify.md#against-a-source).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

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
  const ConvertRequest request{source, quantization, "auto", "cpu", "auto", "auto", {},
                               0,      false,        {},     false};
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

// The named scheme's plan, else the first scheme (registry order) whose plan is the pack's. Plans
// alone cannot tell 3-bit groups of 40 from 4-bit groups of 32 where ceil(K/40) == ceil(K/32) for
// every K (small models): the codes' width decides between such twins.
Candidate matching_plan(PackCheck& pack, const fs::path& source, const std::string& named) {
  if (!named.empty()) {
    auto c = plan_for(source, named);
    if (const auto why = mismatch(pack, c.plan); !why.empty())
      pack.problems.push_back({"plan_mismatch", "", "", fmt::format("{}: {}", named, why)});
    return c;
  }
  std::string reasons;
  std::optional<Candidate> first;
  for (const auto& name : quantization_names()) {
    try {
      auto c = plan_for(source, name);
      const auto why = mismatch(pack, c.plan);
      reasons += fmt::format("; {}: {}", name, why.empty() ? "matches" : why);
      if (!why.empty()) continue;
      const auto codes = group_codes(name);
      if (!codes || codes->bits == guess_code_bits(pack)) return c;
      if (!first) first = std::move(c);
    } catch (const Error& e) {
      reasons += fmt::format("; {}: {}", name, e.what());
    }
  }
  if (first) return std::move(*first);
  fail("no quantization scheme's plan of {} gives this pack's records (pass --quantization){}",
       source.string(), reasons);
}

// Writes rows [begin, end) of the parameter, as its records store it, to `out` (doubles).
using RowDecoder = std::function<void(std::size_t begin, std::size_t end, double* out)>;

// Group-quantized records back to values: (code - M) * scale, along the last axis (K).
RowDecoder dequantize(const RecordCheck& q, const RecordCheck& s, std::size_t K, std::size_t rows,
                      GroupCodes codes, bool kn) {
  return [&q, &s, K, rows, codes, kn](std::size_t begin, std::size_t end, double* out) {
    const std::size_t gs = static_cast<std::size_t>(codes.group_size), G = (K + gs - 1) / gs;
    const std::size_t E = static_cast<std::size_t>(32 / codes.bits), S = gs / E;
    const std::uint32_t mask = (1u << codes.bits) - 1;
    const double M = (1 << (codes.bits - 1)) - 1;
    const bool bf16 = s.format == "f32-to-bf16";
    for (std::size_t r = begin; r < end; ++r)
      for (std::size_t k = 0; k < K; ++k) {
        const std::size_t w = k / E, g = k / gs;
        const std::size_t wi = kn ? w * rows + r : r * S * G + w;
        const std::size_t si = kn ? g * rows + r : r * G + g;
        std::uint32_t word;
        std::memcpy(&word, q.data.data() + wi * 4, 4);
        const auto code = (word >> ((k % E) * static_cast<std::size_t>(codes.bits))) & mask;
        *out++ =
            (static_cast<double>(code) - M) * decode_element(*s.dtype, bf16, s.data.data(), si);
      }
  };
}

// A record decoded element by element (times `scale`: per-tensor FP8), K elements per row.
RowDecoder plain(const RecordCheck& r, std::size_t K, double scale = 1.0) {
  return [&r, K, scale](std::size_t begin, std::size_t end, double* out) {
    const bool bf16 = r.format == "f32-to-bf16";
    for (std::size_t i = begin * K; i < end * K; ++i)
      *out++ = decode_element(*r.dtype, bf16, r.data.data(), i) * scale;
  };
}

// KN layouts store linear weights' records transposed ([S*G, N] and [G, N]), embeddings not:
// told apart by the shapes, which cannot fit both layouts (that needs S*G == N == G).
bool transposed(const RecordCheck& q, const RecordCheck& s, const Shape& shape) {
  return shape.size() == 2 && s.shape.size() == 2 && s.shape[1] == shape[0] &&
         q.shape[1] == shape[0] && !(s.shape[0] == shape[0] && q.shape[0] == shape[0]);
}

// How to read the parameter's values back from its records; nullopt when they are not all
// readable with their planned shapes, or the scheme's packing is not one decoded here.
std::optional<RowDecoder> decoder(const PackCheck& pack, const PlannedParam& p,
                                  const std::string& scheme, std::size_t K, std::size_t rows) {
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
  if (recs.size() == 1 && first.name == p.def->name) return plain(first, K);
  if (first.dtype == DType::kU32 && first.name.ends_with(".q_weight") && recs.size() == 2) {
    const auto codes = group_codes(scheme);
    if (!codes) return std::nullopt;
    return dequantize(first, *recs[1], K, rows, *codes, transposed(first, *recs[1], p.shape));
  }
  if (first.dtype >= DType::kF8E4M3 && first.name.ends_with(".q_weight")) {
    const auto& s = *recs[recs.size() > 1 ? 1 : 0];  // q_scale (then the calibration one)
    const double scale = recs.size() > 1
                             ? decode_element(*s.dtype, s.format == "f32-to-bf16", s.data.data(), 0)
                             : 1.0;
    return plain(first, K, scale);
  }
  return std::nullopt;
}

// One block of rows' share of the figures, summed in block order (deterministic).
struct Partial {
  NonFinite source, decoded;
  double diff2 = 0, ref2 = 0, max_abs = 0;
};

Partial compare_rows(const SourceRows& rows, const RowDecoder& decode, std::size_t begin,
                     std::size_t end) {
  const std::size_t n = (end - begin) * rows.row_size();
  std::vector<std::byte> raw(n * dtype_size(rows.dtype()));
  rows.fill(begin, end, raw.data());
  std::vector<double> dec(n);
  decode(begin, end, dec.data());
  Partial c;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = decode_element(rows.dtype(), false, raw.data(), i), b = dec[i];
    c.source.nan += std::isnan(a);
    c.source.inf += std::isinf(a);
    c.decoded.nan += std::isnan(b);
    c.decoded.inf += std::isinf(b);
    if (!std::isfinite(a) || !std::isfinite(b)) continue;
    const double d = b - a;
    c.diff2 += d * d;
    c.ref2 += a * a;
    c.max_abs = std::max(c.max_abs, std::fabs(d));
  }
  return c;
}

// The mapped parameter (in float32, or its own dtype: AWQ's words, FP8 checkpoints' codes)
// against its records, a block of rows at a time on every thread: memory stays flat.
void compare(ParamCheck& check, const PlannedParam& p, const Checkpoint& ckpt,
             const RowDecoder& decode, ThreadPool& pool) {
  const SourceRows rows(p, ckpt, p.def->dtype.value_or(DType::kF32));
  const std::size_t block = std::max<std::size_t>(1, (std::size_t{1} << 18) / rows.row_size());
  std::vector<Partial> parts((rows.rows() + block - 1) / block);
  pool.parallel_for(parts.size(), 1, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      parts[i] = compare_rows(rows, decode, i * block, std::min(rows.rows(), (i + 1) * block));
  });
  double diff2 = 0, ref2 = 0;
  for (const auto& c : parts) {
    check.source.nan += c.source.nan;
    check.source.inf += c.source.inf;
    check.decoded.nan += c.decoded.nan;
    check.decoded.inf += c.decoded.inf;
    diff2 += c.diff2;
    ref2 += c.ref2;
    check.max_abs = std::max(check.max_abs, c.max_abs);
  }
  check.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0.0);
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
    const std::size_t K = p.shape.empty() ? 1 : static_cast<std::size_t>(p.shape.back());
    const auto decode = K ? decoder(pack, p, pack.quantization, K, check.numel / K) : std::nullopt;
    if (!decode) {
      check.rel_l2 = check.max_abs = NAN;  // not compared: unreadable or undecodable records
      pack.params.push_back(std::move(check));
      continue;
    }
    compare(check, p, ckpt, *decode, pool);
    if (check.source.nan || check.source.inf)
      pack.problems.push_back({"source_nonfinite", "", check.name,
                               fmt::format("{}: its sources hold {} NaN, {} infinite values",
                                           check.name, check.source.nan, check.source.inf)});
    pack.params.push_back(std::move(check));
  }
}

}  // namespace weightcast
