// weightcast::verify(): the checks run, then reported as a table and as JSON (docs/verify.md).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "quant/scheme.h"
#include "util/error.h"
#include "verify/verify.h"
#include "weightcast/weightcast.h"

namespace weightcast {

namespace {

using Json = nlohmann::ordered_json;

// JSON has no NaN or infinity: a figure that is not finite is null.
Json number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json to_json(const PackCheck& pack, bool ok) {
  Json j;
  j["manifest"] = pack.manifest.string();
  j["ok"] = ok;
  j["quantization"] = pack.quantization.empty() ? Json(nullptr) : Json(pack.quantization);
  j["problems"] = Json::array();
  for (const auto& p : pack.problems)
    j["problems"].push_back(
        {{"check", p.check}, {"shard", p.shard}, {"record", p.record}, {"message", p.message}});
  j["shards"] = Json::array();
  for (const auto& s : pack.shards)
    j["shards"].push_back({{"file", s.file},
                           {"nbytes", s.nbytes},
                           {"size", s.size ? Json(*s.size) : Json(nullptr)},
                           {"md5", s.md5.empty() ? Json(nullptr) : Json(s.md5)},
                           {"md5_expected", s.md5_expected},
                           {"records", s.records}});
  j["records"] = Json::array();
  for (const auto& r : pack.records)
    j["records"].push_back({{"name", r.name},
                            {"dtype", r.dtype_name},
                            {"shape", r.shape},
                            {"shard", r.shard},
                            {"byte_offset", r.offset},
                            {"nbytes", r.nbytes},
                            {"readable", r.readable},
                            {"nan", r.values.nan},
                            {"inf", r.values.inf},
                            {"bad_codes", r.bad_codes}});
  j["parameters"] = Json::array();
  for (const auto& p : pack.params)
    j["parameters"].push_back({{"name", p.name},
                               {"records", p.records},
                               {"sources", p.sources},
                               {"numel", p.numel},
                               {"rel_l2", number(p.rel_l2)},
                               {"max_abs", number(p.max_abs)},
                               {"source_nan", p.source.nan},
                               {"source_inf", p.source.inf},
                               {"decoded_nan", p.decoded.nan},
                               {"decoded_inf", p.decoded.inf}});
  return j;
}

std::string to_table(const PackCheck& pack, bool ok) {
  std::size_t bad_shards = 0;
  for (const auto& s : pack.shards) bad_shards += !s.map || s.md5 != s.md5_expected;
  std::string out =
      fmt::format("{}: {} records in {} shards ({} failing size or md5); quantization {}: {}\n",
                  pack.manifest.string(), pack.records.size(), pack.shards.size(), bad_shards,
                  pack.quantization.empty() ? "unknown" : pack.quantization,
                  ok ? "OK" : fmt::format("{} PROBLEMS", pack.problems.size()));
  for (const auto& p : pack.problems) out += fmt::format("  {:<16} {}\n", p.check, p.message);
  if (pack.params.empty()) return out;
  out += fmt::format("  {:<48} {:>10} {:>12} {:>12} {:>11} {:>11}\n", "parameter", "elements",
                     "rel_l2", "max_abs", "src nan/inf", "pack nan/inf");
  for (const auto& p : pack.params)
    out += fmt::format("  {:<48} {:>10} {:>12.4e} {:>12.4e} {:>11} {:>11}\n", p.name, p.numel,
                       p.rel_l2, p.max_abs, fmt::format("{}/{}", p.source.nan, p.source.inf),
                       fmt::format("{}/{}", p.decoded.nan, p.decoded.inf));
  return out;
}

// mlc-chat-config.json beside the manifest names the scheme MLC packs were made with.
std::string chat_config_quantization(const std::filesystem::path& pack) {
  std::error_code ec;
  const auto dir = std::filesystem::is_directory(pack, ec) ? pack : pack.parent_path();
  const auto path = dir / "mlc-chat-config.json";
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  try {
    std::ifstream in(path);
    const auto j = nlohmann::json::parse(in);
    return j.value("quantization", std::string());
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

VerifyResult verify(const std::filesystem::path& pack, const VerifyOptions& options) {
  std::string quantization = options.quantization;
  if (quantization.empty()) quantization = chat_config_quantization(pack);
  if (!quantization.empty() && !find_scheme(quantization))
    fail("Unknown quantization: {}", quantization);
  auto check = check_pack(pack, quantization);
  if (!options.against.empty())
    compare_with_source(check, options.against, quantization, options.threads);
  VerifyResult result;
  result.ok = check.problems.empty();
  result.json = to_json(check, result.ok).dump();
  result.table = to_table(check, result.ok);
  return result;
}

}  // namespace weightcast
