// convert_weight() in four stages: resolve (inputs, config, architecture, scheme, checkpoint)
// -> plan (convert/plan.h) -> execute -> report. The public API is the edge that parses the
// caller's options into a ConvertRequest.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "convert/plan.h"
#include "dequant/requant_report.h"
#include "formats/checkpoint.h"
#include "model/model.h"
#include "quant/scheme.h"
#include "weightcast/weightcast.h"

namespace weightcast {

using Log = std::function<void(const std::string&)>;

// What to convert, as convert_weight() received it, with pre-sharding already decided.
struct ConvertRequest {
  std::filesystem::path config;
  std::string_view quantization, model, device;
  std::string source;
  std::string_view source_format;
  std::filesystem::path output;
  int preshard = 0;      // tensor-parallel shards to pre-shard into; 0: as config.json says
  bool dry_run = false;  // then missing weights are no error: the plan comes from the config
  std::filesystem::path lora_adapter;  // empty: none
  // FP8 block checkpoints dequantized into any scheme (dequant/source_quant.h).
  bool dequantize_fp8 = false;
};

// Stage 1: the scheme, the opened checkpoint and the model definition the plan is built from.
struct Resolved {
  const Scheme* scheme = nullptr;
  std::filesystem::path weights;           // the weights file or index opened
  std::unique_ptr<Checkpoint> checkpoint;  // null for a dry run before the weights exist
  ModelDef model;                          // after the scheme's adapt()
  Fp8Cast fp8_cast = Fp8Cast::kTvmCpu;     // from the device: the one output that depends on it
  // A dequantized source (dequant/): the scheme wrapped to measure the requantization error.
  std::unique_ptr<Scheme> measured_scheme;
  std::shared_ptr<RequantReport> requant;
};
Resolved resolve(const ConvertRequest& request, const Log& log);

// Stage 3: reads, maps, quantizes and writes every planned parameter, then commits the cache.
ConvertStats execute(const Plan& plan, const Resolved& resolved,
                     const std::filesystem::path& output, const ConvertOptions& options);

// Stage 4: MLC's closing statistics; or, for --dry-run, the plan instead of a run.
void report(const ConvertStats& stats, const std::filesystem::path& output, const Log& log);
// `checkpoint` is null for a plan made from config.json alone.
ConvertStats report_plan(const Plan& plan, const Checkpoint* checkpoint, const Log& log);

}  // namespace weightcast
