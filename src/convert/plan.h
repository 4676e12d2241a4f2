// The Plan: every output record, in MLC's loading order, with its sources and checks done —
// built from config.json and the source headers alone, before any tensor data is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "formats/checkpoint.h"
#include "quant/scheme.h"

namespace weightcast {

struct PlannedParam {
  const ParamDef* def = nullptr;
  std::vector<TensorLocation> sources;  // in the mapping's order
  Shape shape;                          // after the mapping (e.g. q, k, v concatenated)
  std::vector<OutputDef> outputs;       // the records it becomes, with actual shapes
  // Pre-sharding: each computed output splits into `shards` records "<name>_shard-<i>", which
  // `outputs` lists in that order.
  std::optional<ShardStrategy> shard;
  int shards = 1;
};

struct Plan {
  std::vector<PlannedParam> params;  // loading order (spec 3.4)
  std::vector<std::string> unused;   // source tensors nothing uses (sorted, for the warning)
  std::int64_t total_params = 0;     // MLC's Stats.total_param_num (spec 3.5)
};

Plan make_plan(const ModelDef& model, const Checkpoint& checkpoint, const Scheme& scheme);

}  // namespace weightcast
