// Parse time of the JSON that checkpoints carry, at 10k and 100k entries (a DeepSeek-V3 index
// has ~92k): a safetensors header, an *.index.json weight map, and a config-style DOM. Each
// must scale linearly (the ordered_json reader these replaced took 20 s at 100k):
//   cmake --build build --target weightcast_json_bench && ./build/bench/weightcast_json_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "formats/checkpoint.h"
#include "formats/safetensors.h"
#include "util/json_file.h"

namespace weightcast {
namespace {

std::string tensor_name(std::int64_t i) {
  return "model.layers." + std::to_string(i / 1000) + ".mlp.experts." + std::to_string(i % 1000) +
         ".down_proj.weight";
}

// A header of n zero-size F16 tensors, as a whole .safetensors file (no data).
std::string safetensors_file(std::int64_t n) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  for (std::int64_t i = 0; i < n; ++i)
    header +=
        ",\"" + tensor_name(i) + "\":{\"dtype\":\"F16\",\"shape\":[0,4096],\"data_offsets\":[0,0]}";
  header += "}";
  std::string file(8, '\0');
  const std::uint64_t len = header.size();
  std::memcpy(file.data(), &len, 8);
  return file + header;
}

std::string index_json(std::int64_t n) {
  std::string text = "{\"metadata\":{\"total_size\":1},\"weight_map\":{";
  for (std::int64_t i = 0; i < n; ++i)
    text += (i ? ",\"" : "\"") + tensor_name(i) + "\":\"model-" + std::to_string(i % 163) +
            "-of-00163.safetensors\"";
  return text + "}}";
}

void BM_SafetensorsHeader(benchmark::State& state) {
  const auto file = safetensors_file(state.range(0));
  const auto bytes = std::as_bytes(std::span(file.data(), file.size()));
  for (auto _ : state) benchmark::DoNotOptimize(parse_safetensors(bytes, "bench.safetensors"));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(file.size()));
}

void BM_IndexWeightMap(benchmark::State& state) {
  const auto text = index_json(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(parse_weight_map(text, "bench.index.json"));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

void BM_JsonDom(benchmark::State& state) {
  const auto text = index_json(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(parse_json(text, "bench.json"));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

BENCHMARK(BM_SafetensorsHeader)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IndexWeightMap)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonDom)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weightcast

BENCHMARK_MAIN();
