// The Plan: every output record, in MLC's loading order, with its sources, its checks done and
// how it will be produced — built from config.json and the source headers alone, before any
// tensor data is read (what --dry-run shows).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "model/model.h"
#include "quant/scheme.h"

namespace weightcast {

struct PlannedParam {
  const ParamDef* def = nullptr;
  std::vector<TensorLocation> sources;  // in the mapping's order
  Shape shape;                          // after the mapping (e.g. q, k, v concatenated)
  std::vector<OutputDef> outputs;       // the records it becomes, with actual shapes
  // Pre-sharding: each computed record that splits becomes `shards` records
  // "<name>_shard-<i>", which `outputs` lists in that order.
  std::optional<ShardStrategy> shard;
  int shards = 1;
  std::vector<bool> splits;                    // per computed record, under pre-sharding
  Production production = Production::kWhole;  // the scheme's policy for it
  // Its first record is produced and written block by block, never held whole (too large).
  bool streamed = false;
  // Its one record's bytes in the cache are its sources' bytes end to end: written from the
  // memory-mapped sources themselves, never copied in user space (see passes_through).
  bool passes_through = false;
};

struct Plan {
  std::vector<PlannedParam> params;  // loading order (docs/mlc-format.md#loading-order)
  std::vector<std::string> unused;   // source tensors nothing uses (sorted, for the warning)
  // MLC's Stats.total_param_num (docs/mlc-format.md#parameter-count).
  std::int64_t total_params = 0;
  // Made from config.json alone (no weights to read yet): the parameters in MLC's export order,
  // with their expected shapes and no source locations.
  bool config_only = false;
};

// `stream_from`: the first record of a parameter produced as is or row block by row block is
// streamed when it holds at least this many bytes in the cache (and 32 MiB, a shard of its own).
Plan make_plan(const ModelDef& model, const Checkpoint& checkpoint, const Scheme& scheme,
               std::size_t stream_from);

// A --dry-run before the weights are downloaded: the plan from the model definition alone.
Plan make_plan_from_config(const ModelDef& model, const Scheme& scheme, std::size_t stream_from);

}  // namespace weightcast
