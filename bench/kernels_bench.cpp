// Micro-benchmarks of the hot loops, scalar against SIMD, on one thread:
//   cmake --build build --target weightcast_kernels_bench && ./build/bench/weightcast_kernels_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "cache/md5_multi.h"
#include "map/cast.h"
#include "quant/kernels/group_kernel.h"
#include "util/float_bits.h"
#include "util/transpose.h"

namespace weightcast {
namespace {

constexpr std::size_t kRows = 512, kK = 4096;

const std::vector<std::uint16_t>& f16_weights() {
  static const auto data = [] {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<std::uint16_t> v(kRows * kK);
    for (auto& x : v) x = f32_to_f16(normal(rng));
    return v;
  }();
  return data;
}

void BM_GroupQuant(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  const int bits = static_cast<int>(state.range(1)), gs = bits == 4 ? 32 : 40;
  if (level > simd_level()) return state.SkipWithError("not on this CPU");
  const auto& in = f16_weights();
  const std::size_t groups = (kK + gs - 1) / gs;
  std::vector<std::uint32_t> q(kRows * groups * (gs / (32 / bits)));
  std::vector<std::uint16_t> s(kRows * groups);
  const GroupKernelArgs args{DType::kF16, bits, gs};
  // One block of 128 KiB, as the pipeline hands the kernel (cast just before, so in L2).
  constexpr std::size_t kBlockRows = (128u << 10) / (2 * kK);
  for (auto _ : state) {
    group_quantize_rows(args, in.data(), kBlockRows, kK, q.data(), s.data(), level);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBlockRows * kK));
}
// Level 0 scalar, 1 AVX2, 2 AVX-512, 3 AVX512-FP16.
BENCHMARK(BM_GroupQuant)->ArgsProduct({{0, 1, 2, 3}, {4, 3}})->ArgNames({"level", "bits"});

void BM_CastBf16ToF16(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  // 16 Ki elements (a pipeline step, in L2) or 2 Mi (through memory).
  std::vector<std::uint16_t> in(static_cast<std::size_t>(state.range(1)), 0x3F80), out(in.size());
  const CastFn fn = cast_function(DType::kBF16, DType::kF16, level);
  for (auto _ : state) {
    fn(reinterpret_cast<const std::byte*>(in.data()), reinterpret_cast<std::byte*>(out.data()),
       in.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_CastBf16ToF16)
    ->ArgsProduct({{0, 1, 2}, {16 << 10, 2 << 20}})
    ->ArgNames({"level", "elements"});

}  // namespace
}  // namespace weightcast

namespace weightcast {
namespace {

void BM_Md5Lanes(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  if (level > simd_level()) return state.SkipWithError("not on this CPU");
  std::vector<std::byte> buf(16 << 20, std::byte{7});
  std::array<const std::byte*, Md5Lanes::kLanes> lanes{};
  for (int i = 0; i < 16; ++i) lanes[i] = buf.data() + (static_cast<std::size_t>(i) << 20);
  Md5Lanes md5;
  for (auto _ : state) md5.update(lanes, (1 << 20) / 64, level);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_Md5Lanes)->Arg(0)->Arg(1)->Arg(2)->ArgName("level");

// Fewer lanes fed than there are (the hasher following shards as they are written): Md5Lanes
// picks the engine by their number.
void BM_Md5LanesFed(benchmark::State& state) {
  const auto fed = static_cast<int>(state.range(0));
  std::vector<std::byte> buf(static_cast<std::size_t>(fed) << 20, std::byte{7});
  std::array<const std::byte*, Md5Lanes::kLanes> lanes{};
  for (int i = 0; i < fed; ++i)
    lanes[2 * i % 15] = buf.data() + (static_cast<std::size_t>(i) << 20);
  Md5Lanes md5;
  for (auto _ : state) md5.update(lanes, (1 << 20) / 64);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_Md5LanesFed)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8)->Arg(9)->ArgName("lanes");

void BM_Md5OpenSSL(benchmark::State& state) {
  std::vector<std::byte> buf(8 << 20, std::byte{7});
  for (auto _ : state) benchmark::DoNotOptimize(md5_openssl(buf));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_Md5OpenSSL);

// q4f16_0's KN layout: a [5632, 256] uint32 q_weight (TinyLlama's MLP) transposed, per core.
void BM_TransposeU32(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  constexpr std::size_t kRowsT = 5632, kColsT = 256;
  std::vector<std::uint32_t> in(kRowsT * kColsT), out(kRowsT * kColsT);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint32_t>(i);
  for (auto _ : state) {
    transpose_rows(in.data(), 0, kRowsT, kRowsT, kColsT, out.data(), level);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size() * 4));
}
BENCHMARK(BM_TransposeU32)->Arg(0)->Arg(1)->ArgName("level");

}  // namespace
}  // namespace weightcast

BENCHMARK_MAIN();
