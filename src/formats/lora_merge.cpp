// The merged checkpoint: base tensors, each updated by the adapter as it is read and released as
// soon as the converter is done with it (docs/lora.md#merge-arithmetic).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "formats/lora.h"
#include "util/error.h"
#include "util/float_bits.h"
#include "util/simd.h"
#include "util/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fs = std::filesystem;

namespace weightcast {

namespace {

float load_f32(DType t, const std::byte* p, std::size_t i) {
  switch (t) {
    case DType::kF16: {
      std::uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return f16_to_f32(h);
    }
    case DType::kBF16: {
      std::uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return bf16_to_f32(h);
    }
    case DType::kF64: {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      return static_cast<float>(d);
    }
    default: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
  }
}

// torch's float32 -> weight dtype cast: round to nearest even.
void store(DType t, std::byte* p, std::size_t i, float v) {
  if (t == DType::kF32) return std::memcpy(p + 4 * i, &v, 4), void();
  if (t == DType::kF64) {
    const double d = v;
    return std::memcpy(p + 8 * i, &d, 8), void();
  }
  const std::uint16_t h = t == DType::kF16 ? f32_to_f16(v) : f32_to_bf16(v);
  std::memcpy(p + 2 * i, &h, 2);
}

// acc[c] = fma(l, r[c], acc[c]): the same fused operation on every path, so the same bits.
void fma_row_scalar(float l, const float* r, float* acc, std::size_t cols) {
  for (std::size_t c = 0; c < cols; ++c) acc[c] = std::fma(l, r[c], acc[c]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void fma_row_avx2(float l, const float* r, float* acc,
                                                      std::size_t cols) {
  const __m256 lv = _mm256_set1_ps(l);
  std::size_t c = 0;
  for (; c + 8 <= cols; c += 8)
    _mm256_storeu_ps(acc + c,
                     _mm256_fmadd_ps(lv, _mm256_loadu_ps(r + c), _mm256_loadu_ps(acc + c)));
  for (; c < cols; ++c) acc[c] = std::fma(l, r[c], acc[c]);
}
#endif

using FmaRow = void (*)(float, const float*, float*, std::size_t);
FmaRow fma_row() {
#if defined(__x86_64__)
  if (simd_level() >= SimdLevel::kAvx2 && __builtin_cpu_supports("fma")) return fma_row_avx2;
#endif
  return fma_row_scalar;
}

// A tensor as float32, row-major [rows, cols], optionally read transposed from [cols, rows].
std::vector<float> as_f32(const TensorInfo& info, std::span<const std::byte> bytes,
                          bool transpose) {
  const auto n = static_cast<std::size_t>(numel(info.shape));
  std::vector<float> out(n);
  if (!transpose) {
    for (std::size_t i = 0; i < n; ++i) out[i] = load_f32(info.dtype, bytes.data(), i);
    return out;
  }
  const auto rows = static_cast<std::size_t>(info.shape[1]);
  const auto cols = static_cast<std::size_t>(info.shape[0]);
  for (std::size_t c = 0; c < cols; ++c)
    for (std::size_t r = 0; r < rows; ++r)
      out[r * cols + c] = load_f32(info.dtype, bytes.data(), c * rows + r);
  return out;
}

// The merged copy save_pretrained would write, as one source file.
class MergedCopy final : public SourceFile {
 public:
  MergedCopy(std::unique_ptr<Checkpoint> base, std::unique_ptr<LoraAdapter> adapter,
             bool drop_tied_head)
      : base_(std::move(base)), adapter_(std::move(adapter)), pool_(0) {
    std::vector<std::string> names = base_->weight_map_order();
    if (drop_tied_head) std::erase(names, std::string("lm_head.weight"));
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const auto& loc = *base_->find(name);
      from_.push_back(loc);
      infos_.push_back(base_->info(loc));
      const auto it = adapter_->updates.find(name);
      update_.push_back(it == adapter_->updates.end() ? nullptr : &it->second);
    }
    path_ = base_->files().empty() ? adapter_->weights : base_->files().front()->path();
  }

  const fs::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }

  std::span<const std::byte> data(std::size_t i) const override {
    if (!update_[i]) return base_file(i).data(from_[i].index);
    std::lock_guard lock(mutex_);
    auto& buf = merged_[i];
    const auto bytes =
        static_cast<std::size_t>(numel(infos_[i].shape)) * dtype_size(infos_[i].dtype);
    if (!buf) {
      buf = std::make_unique_for_overwrite<std::byte[]>(bytes);
      if (update_[i]->kind == LoraUpdate::Kind::kReplace)
        replace(i, buf.get());
      else
        merge(i, buf.get());
      base_file(i).release(from_[i].index);  // the merged copy is all that is read from now on
    }
    return {buf.get(), bytes};
  }
  void prefetch(std::size_t i) const override { base_file(i).prefetch(from_[i].index); }
  void release(std::size_t i) const override {
    {
      std::lock_guard lock(mutex_);
      merged_.erase(i);
    }
    base_file(i).release(from_[i].index);
  }
  // A safetensors copy: MLC's torch loader no longer sees the base's bfloat16 .bin tensors.
  bool widens_bf16() const override { return false; }

 private:
  const SourceFile& base_file(std::size_t i) const { return *base_->files()[from_[i].file]; }
  std::span<const std::byte> adapter_data(const TensorLocation& loc) const {
    return adapter_->tensors.files()[loc.file]->data(loc.index);
  }

  // modules_to_save: the adapter's tensor, cast to the base dtype as load_state_dict copies it.
  void replace(std::size_t i, std::byte* out) const {
    const auto& t = adapter_->tensors.info(update_[i]->a);
    const auto src = adapter_data(update_[i]->a);
    const auto dtype = infos_[i].dtype;
    if (t.dtype == dtype) return std::memcpy(out, src.data(), src.size()), void();
    const auto n = static_cast<std::size_t>(numel(t.shape));
    for (std::size_t k = 0; k < n; ++k) store(dtype, out, k, load_f32(t.dtype, src.data(), k));
  }

  // W + (B @ A) * scaling, with the delta accumulated in float32 (one fused multiply-add per rank
  // step, in rank order, as a float32 GEMM kernel does), scaled in float32, added to the weight in
  // float32 and rounded once to the weight's dtype.
  void merge(std::size_t i, std::byte* out) const {
    const auto& u = *update_[i];
    const auto& info = infos_[i];
    const auto& a = adapter_->tensors.info(u.a);
    const auto& b = adapter_->tensors.info(u.b);
    // rows x r and r x cols factors of the (possibly transposed) delta.
    const auto left = as_f32(b, adapter_data(u.b), false);
    const auto right = as_f32(a, adapter_data(u.a), false);
    const auto left_t = u.transposed ? as_f32(a, adapter_data(u.a), true) : std::vector<float>{};
    const auto right_t = u.transposed ? as_f32(b, adapter_data(u.b), true) : std::vector<float>{};
    const float* l = u.transposed ? left_t.data() : left.data();
    const float* r = u.transposed ? right_t.data() : right.data();
    const auto rows = static_cast<std::size_t>(info.shape[0]);
    const auto cols = static_cast<std::size_t>(info.shape[1]);
    const auto rank = static_cast<std::size_t>(a.shape[0]);
    const std::byte* w = base_file(i).data(from_[i].index).data();
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t{1} << 16) / (cols * rank + 1));
    const FmaRow step = fma_row();
    pool_.parallel_for(rows, grain, [&](std::size_t begin, std::size_t end) {
      std::vector<float> acc(cols);
      for (std::size_t row = begin; row < end; ++row) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (std::size_t k = 0; k < rank; ++k)
          step(l[row * rank + k], r + k * cols, acc.data(), cols);
        for (std::size_t c = 0; c < cols; ++c) {
          const std::size_t at = row * cols + c;
          store(info.dtype, out, at, load_f32(info.dtype, w, at) + acc[c] * u.scaling);
        }
      }
    });
  }

  std::unique_ptr<Checkpoint> base_;
  std::unique_ptr<LoraAdapter> adapter_;
  fs::path path_;
  std::vector<TensorInfo> infos_;
  std::vector<TensorLocation> from_;
  std::vector<const LoraUpdate*> update_;
  mutable ThreadPool pool_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::size_t, std::unique_ptr<std::byte[]>> merged_;
};

}  // namespace

std::unique_ptr<Checkpoint> merge_lora(std::unique_ptr<Checkpoint> base,
                                       std::unique_ptr<LoraAdapter> adapter, bool drop_tied_head) {
  auto merged = std::make_unique<Checkpoint>();
  merged->add_file(
      std::make_unique<MergedCopy>(std::move(base), std::move(adapter), drop_tied_head));
  merged->map_all();
  return merged;
}

}  // namespace weightcast
