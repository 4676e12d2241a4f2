#include "dequant/requant_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/float_bits.h"

namespace weightcast {

void RequantReport::add(const std::string& name, double error2, double norm2) {
  std::lock_guard lock(mutex_);
  auto& s = sums_[name];
  s.first += error2;
  s.second += norm2;
}

RequantReport::Summary RequantReport::summarize() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<double, std::string>> errors;
  for (const auto& [name, s] : sums_)
    errors.emplace_back(s.second > 0 ? std::sqrt(s.first / s.second) : 0.0, name);
  if (errors.empty()) return {};
  std::sort(errors.begin(), errors.end());
  const auto n = errors.size();
  const double median =
      n % 2 ? errors[n / 2].first : (errors[n / 2 - 1].first + errors[n / 2].first) / 2;
  return {n, median, errors.back().first, errors.back().second};
}

std::string RequantReport::line(const Summary& s) {
  if (s.count == 0) return {};
  return fmt::format(
      "Requantization error (relative L2 of each requantized parameter against its dequantized "
      "source) over {} parameters: median {:.4f}, worst {:.4f} ({})",
      s.count, s.median, s.worst, s.worst_name);
}

namespace {

float element(const std::byte* p, DType t) {
  std::uint16_t h;
  switch (t) {
    case DType::kF16:
      std::memcpy(&h, p, 2);
      return f16_to_f32(h);
    case DType::kBF16:
      std::memcpy(&h, p, 2);
      return bf16_to_f32(h);
    default:
      float f;
      std::memcpy(&f, p, 4);
      return f;
  }
}

class MeasuredScheme final : public Scheme {
 public:
  MeasuredScheme(const Scheme& inner, std::shared_ptr<RequantReport> report,
                 std::unordered_set<std::string> dequantized)
      : Scheme(std::string(inner.name()), inner.kind(), inner.model_dtype()),
        inner_(inner),
        report_(std::move(report)),
        dequantized_(std::move(dequantized)) {}

  std::vector<OutputDef> outputs(const ParamDef& p, const ExpectedShape& s) const override {
    return inner_.outputs(p, s);
  }
  ModelDef adapt(ModelDef model) const override { return inner_.adapt(std::move(model)); }
  void check(const ParamDef& p, const Shape& mapped, int shards) const override {
    inner_.check(p, mapped, shards);
  }
  Production production(const ParamDef& p) const override { return inner_.production(p); }
  std::vector<Tensor> start_rows(const ParamDef& p, const ParamRows& in) const override {
    return inner_.start_rows(p, in);
  }
  void compute_rows(const ParamDef& p, const ParamRows& in, std::size_t begin, std::size_t end,
                    std::byte* first, std::vector<Tensor>& rest, ThreadPool& pool,
                    const KernelOptions& options) const override {
    inner_.compute_rows(p, in, begin, end, first, rest, pool, options);
    if (!rest.empty()) measure(p, in, begin, end, first, rest[0]);
  }
  std::vector<Tensor> compute(const ParamDef& p, const ParamRows& in, ThreadPool& pool,
                              const KernelOptions& options) const override {
    auto records = inner_.compute(p, in, pool, options);
    // NK: q_weight has one row per input row (experts stack them: [experts, rows, words]).
    if (records.size() == 2 && !records[0].shape.empty() &&
        numel(records[0].shape) / records[0].shape.back() == static_cast<std::int64_t>(in.rows()))
      measure(p, in, 0, in.rows(), records[0].buffer.get(), records[1]);
    return records;
  }

 private:
  // Rows [begin, end) of an NK q_weight (`weight` points at row begin) and the whole q_scale.
  void measure(const ParamDef& p, const ParamRows& in, std::size_t begin, std::size_t end,
               const std::byte* weight, const Tensor& scale) const {
    // MLC's group-quant schemes: 4 bits in groups of 32, 3 bits in groups of 40; the "_0" ones
    // (KN) transpose q_weight and are not measured.
    const int bits = name()[1] - '0';
    if (!from_dequantized(p) || kind() != QuantKind::kGroupQuant || name().ends_with("_0") ||
        (bits != 3 && bits != 4) || scale.shape.empty())
      return;
    const std::size_t cols = in.row_size(), groups = static_cast<std::size_t>(scale.shape.back());
    const std::size_t per_word = 32 / static_cast<std::size_t>(bits), group = bits == 3 ? 40 : 32;
    const std::size_t group_words = (group + per_word - 1) / per_word;
    if (static_cast<std::size_t>(numel(scale.shape)) != in.rows() * groups ||
        groups != (cols + group - 1) / group)
      return;
    const float max_int = static_cast<float>((1 << (bits - 1)) - 1);
    const auto esize = dtype_size(in.dtype()), ssize = dtype_size(scale.dtype);
    std::vector<std::byte> row(cols * esize);
    double error2 = 0, norm2 = 0;
    for (std::size_t r = begin; r < end; ++r) {
      in.fill(r, r + 1, row.data());
      const std::byte* w = weight + (r - begin) * groups * group_words * 4;
      for (std::size_t j = 0; j < cols; ++j) {
        const std::size_t g = j / group, k = j % group;
        std::uint32_t word;
        std::memcpy(&word, w + (g * group_words + k / per_word) * 4, 4);
        const auto code = (word >> ((k % per_word) * bits)) & ((1u << bits) - 1);
        const float s = element(scale.buffer.get() + (r * groups + g) * ssize, scale.dtype);
        const double x = element(row.data() + j * esize, in.dtype());
        const double y = (static_cast<float>(code) - max_int) * s;
        error2 += (x - y) * (x - y);
        norm2 += x * x;
      }
    }
    if (std::isfinite(error2)) report_->add(p.name, error2, norm2);
  }

  bool from_dequantized(const ParamDef& p) const {
    return std::any_of(p.sources.begin(), p.sources.end(),
                       [&](const std::string& s) { return dequantized_.contains(s); });
  }

  const Scheme& inner_;
  std::shared_ptr<RequantReport> report_;
  std::unordered_set<std::string> dequantized_;
};

}  // namespace

std::unique_ptr<Scheme> measure_requantization(const Scheme& inner,
                                               std::shared_ptr<RequantReport> report,
                                               std::unordered_set<std::string> dequantized) {
  return std::make_unique<MeasuredScheme>(inner, std::move(report), std::move(dequantized));
}

}  // namespace weightcast
