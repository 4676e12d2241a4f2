// The mapping kinds, each with its shape rule and its row filler side by side, and the factories
// that architectures and schemes use. A new kind is a class and a factory here.
#pragma once

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "map/cast.h"
#include "map/mapping.h"
#include "util/error.h"

namespace weightcast::map {

// One source seen as [heads, rows_per_head, cols]: rows [begin, end) of each head, optionally
// with the last two axes swapped (DeepSeek's w_uk / w_uv from kv_b_proj).
struct HeadSlice {
  std::int64_t heads = 0, rows_per_head = 0, begin = 0, end = 0;
  bool transpose = false;
};

// Concatenation along axis 0 and stacking are both concatenation of the flat C-order data:
// output rows [begin, end) are a range of the sources' elements laid end to end.
inline void fill_flat(const MappedView& in, std::size_t begin, std::size_t end, std::byte* out) {
  const std::size_t first = begin * in.row_size, last = end * in.row_size;
  std::size_t base = 0;
  for (const auto& part : in.parts) {
    const std::size_t lo = std::max(first, base), hi = std::min(last, base + part.count);
    if (lo < hi)
      part.cast(part.data.data() + (lo - base) * part.elem_size, out + (lo - first) * in.out_size,
                hi - lo);
    base += part.count;
  }
}

// Output row r of a head slice: head r / per_head, then either source row
// (head * rows_per_head + begin + i) or, transposed, source column i across the head's rows
// [begin, end).
inline void fill_heads(const HeadSlice& hs, const MappedView& in, std::size_t begin,
                       std::size_t end, std::byte* out) {
  const auto& part = in.parts.front();
  const auto rows = static_cast<std::size_t>(hs.end - hs.begin);
  const auto per_head = static_cast<std::size_t>(hs.rows_per_head);
  const std::size_t out_rows_per_head = hs.transpose ? part.row : rows;
  std::vector<std::byte> column(rows * part.elem_size);
  for (std::size_t r = begin; r < end; ++r) {
    const std::size_t head = r / out_rows_per_head, i = r % out_rows_per_head;
    const std::size_t first_row = head * per_head + static_cast<std::size_t>(hs.begin);
    std::byte* dst = out + (r - begin) * in.row_size * in.out_size;
    if (!hs.transpose) {
      part.cast(part.data.data() + (first_row + i) * part.row * part.elem_size, dst, part.row);
      continue;
    }
    for (std::size_t k = 0; k < rows; ++k)
      std::memcpy(column.data() + k * part.elem_size,
                  part.data.data() + ((first_row + k) * part.row + i) * part.elem_size,
                  part.elem_size);
    part.cast(column.data(), dst, rows);
  }
}

inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// One source, as is.
class Identity final : public Mapping {
 public:
  Shape shape(const std::string&, std::span<const SourceShape> sources) const override {
    return sources.front().shape;
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    fill_flat(in, begin, end, out);
  }
  bool concatenates_flat(std::size_t) const override { return true; }
};

// The sources concatenated along axis 0 or 1; stacking adds the group axis in front.
class Concat : public Mapping {
 public:
  explicit Concat(int axis) : axis_(static_cast<std::size_t>(axis)) {}
  Shape shape(const std::string& param, std::span<const SourceShape> sources) const override {
    if (sources.size() == 1) return sources.front().shape;
    return concatenated(param, sources).first;
  }
  bool concatenates_flat(std::size_t sources) const override {
    return axis_ == 0 || sources == 1;  // Stack too: its groups are consecutive sources
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    if (axis_ == 0 || in.parts.size() == 1) return fill_flat(in, begin, end, out);
    // 2-D along the columns: each output row is the sources' rows side by side.
    for (std::size_t r = begin; r < end; ++r) {
      std::size_t col = 0;
      for (const auto& part : in.parts) {
        part.cast(part.data.data() + r * part.row * part.elem_size,
                  out + ((r - begin) * in.row_size + col) * in.out_size, part.row);
        col += part.row;
      }
    }
  }

 protected:
  // The concatenated shape, and each source's extent along the axis.
  std::pair<Shape, std::vector<std::int64_t>> concatenated(
      const std::string& param, std::span<const SourceShape> sources) const {
    const auto& first = sources.front();
    Shape out = first.shape;
    if (out.size() <= axis_)
      fail("Parameter {}: cannot concatenate {} along axis {}", param, first.name, axis_);
    std::vector<std::int64_t> extents{first.shape[axis_]};
    for (std::size_t i = 1; i < sources.size(); ++i) {
      const auto& s = sources[i];
      bool same = s.shape.size() == out.size();
      for (std::size_t d = 0; same && d < out.size(); ++d)
        same = d == axis_ || s.shape[d] == out[d];
      if (!same)
        fail("Parameter {}: cannot concatenate {} {} with {} {} along axis {}", param, first.name,
             shape_str(first.shape), s.name, shape_str(s.shape), axis_);
      out[axis_] += s.shape[axis_];
      extents.push_back(s.shape[axis_]);
    }
    return {out, extents};
  }

 private:
  std::size_t axis_;
};

// Equal groups of consecutive sources, each concatenated along axis 0, stacked (np.stack).
class Stack final : public Concat {
 public:
  explicit Stack(std::int64_t groups) : Concat(0), groups_(groups) {}
  Shape shape(const std::string& param, std::span<const SourceShape> sources) const override {
    auto [out, rows] = concatenated(param, sources);
    // Every group (expert) must contribute the same rows, or np.stack fails.
    const auto groups = static_cast<std::size_t>(groups_);
    if (groups == 0 || sources.size() % groups != 0)
      fail("Parameter {}: {} sources do not form {} equal groups", param, sources.size(), groups);
    const std::size_t per = sources.size() / groups;
    const auto& first = sources.front();
    for (std::size_t g = 1; g < groups; ++g)
      for (std::size_t k = 0; k < per; ++k)
        if (rows[g * per + k] != rows[k])
          fail("Parameter {}: cannot stack {} {} with {} {}", param, first.name,
               shape_str(first.shape), sources[g * per + k].name,
               shape_str(sources[g * per + k].shape));
    out[0] /= groups_;
    out.insert(out.begin(), groups_);
    return out;
  }

 private:
  std::int64_t groups_;
};

// One 2-D source, transposed: a single head holding all rows, transposed.
class Transpose final : public Mapping {
 public:
  Shape shape(const std::string& param, std::span<const SourceShape> sources) const override {
    const auto& first = sources.front();
    if (first.shape.size() != 2)
      fail("Parameter {}: {} has shape {}, but a 2-D tensor is needed to transpose it", param,
           first.name, shape_str(first.shape));
    return {first.shape[1], first.shape[0]};
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    const auto& part = in.parts.front();
    const auto rows = static_cast<std::int64_t>(part.count / part.row);
    fill_heads({1, rows, 0, rows, true}, in, begin, end, out);
  }
};

class PermuteRows final : public Mapping {
 public:
  PermuteRows(std::int64_t rows, std::function<std::int64_t(std::int64_t)> source_row)
      : rows_(rows), source_row_(std::move(source_row)) {}
  Shape shape(const std::string& param, std::span<const SourceShape> sources) const override {
    const auto& first = sources.front();
    if (first.shape.empty() || first.shape[0] != rows_)
      fail("Parameter {}: {} has shape {}, but {} rows are needed to reorder them", param,
           first.name, shape_str(first.shape), rows_);
    return first.shape;
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    const auto& part = in.parts.front();
    const auto source = [&](std::size_t r) {
      return static_cast<std::size_t>(source_row_(static_cast<std::int64_t>(r)));
    };
    if (in.shape.size() == 1) {  // a 1-D tensor is one row: reorder its elements
      for (std::size_t j = 0; j < part.count; ++j)
        part.cast(part.data.data() + source(j) * part.elem_size, out + j * in.out_size, 1);
      return;
    }
    for (std::size_t r = begin; r < end; ++r)
      part.cast(part.data.data() + source(r) * part.row * part.elem_size,
                out + (r - begin) * in.row_size * in.out_size, part.row);
  }

 private:
  std::int64_t rows_;
  std::function<std::int64_t(std::int64_t)> source_row_;
};

class HeadSliceMapping final : public Mapping {
 public:
  explicit HeadSliceMapping(HeadSlice hs) : hs_(hs) {}
  Shape shape(const std::string& param, std::span<const SourceShape> sources) const override {
    const auto& first = sources.front();
    if (first.shape.size() != 2 || first.shape[0] != hs_.heads * hs_.rows_per_head)
      fail("Parameter {}: {} has shape {}, but [{} x {}, *] is needed to split it per head", param,
           first.name, shape_str(first.shape), hs_.heads, hs_.rows_per_head);
    const auto rows = hs_.end - hs_.begin, cols = first.shape[1];
    return hs_.transpose ? Shape{hs_.heads, cols, rows} : Shape{hs_.heads, rows, cols};
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    fill_heads(hs_, in, begin, end, out);
  }
  // The matching slices of the source's scales, whose blocks must not straddle a slice.
  BlockGrid block_grid(const std::string& param, const Shape& shape, std::int64_t b0,
                       std::int64_t b1) const override {
    const auto rank = hs_.transpose ? shape[1] : shape[2];
    if (hs_.begin % b0 != 0 || hs_.end % b0 != 0 || hs_.rows_per_head % b0 != 0 || rank % b1 != 0)
      fail(
          "Invalid DeepSeek model config: qk_nope_head_dim must be multiple of "
          "weight_block_size[0], and v_head_dim must be multiple of weight_block_size[1]. "
          "However, {} slices rows [{}, {}) of {} per head, weight_block_size is [{}, {}].",
          param, hs_.begin, hs_.end, hs_.rows_per_head, b0, b1);
    const auto rows = (hs_.end - hs_.begin) / b0;
    return {hs_.transpose ? Shape{hs_.heads, rank / b1, rows} : Shape{hs_.heads, rows, rank / b1},
            std::make_shared<HeadSliceMapping>(HeadSlice{
                hs_.heads, hs_.rows_per_head / b0, hs_.begin / b0, hs_.end / b0, hs_.transpose})};
  }
  bool slices_heads() const override { return true; }

 private:
  HeadSlice hs_;
};

// One source plus 1. Gemma's loader adds in the dtype the reader returned (numpy/ml_dtypes add in
// float32 and round to that dtype; a torch bfloat16 tensor arrives widened to float32), then the
// loader casts to the model dtype. Qwen3.5's loader widens to float32 first (`in_float32`), so the
// sum is rounded once, to the model dtype.
class AddOne final : public Mapping {
 public:
  explicit AddOne(bool in_float32) : in_float32_(in_float32) {}
  Shape shape(const std::string&, std::span<const SourceShape> sources) const override {
    return sources.front().shape;
  }
  ElementCast element_cast(std::string_view source, DType dtype, bool widened_bf16,
                           DType target) const override {
    const bool widen = in_float32_ || (dtype == DType::kBF16 && widened_bf16);
    const DType arith = widen ? DType::kF32 : dtype;
    if (arith != DType::kF32 && arith != DType::kF16 && arith != DType::kBF16)
      fail<NotImplementedError>("{}: adding 1 to a {} tensor", source, tvm_name(dtype));
    const CastFn to_f32 = cast_function(dtype, DType::kF32);
    const CastFn from_f32 = cast_function(DType::kF32, arith);
    const CastFn cast = cast_function(arith, target);
    const std::size_t arith_size = dtype_size(arith);
    return [=](const std::byte* in, std::byte* out, std::size_t n) {
      std::vector<float> sum(n);
      to_f32(in, reinterpret_cast<std::byte*>(sum.data()), n);
      for (auto& v : sum) v += 1.0f;
      std::vector<std::byte> rounded(n * arith_size);
      from_f32(reinterpret_cast<const std::byte*>(sum.data()), rounded.data(), n);
      cast(rounded.data(), out, n);
    };
  }
  void fill(const MappedView& in, std::size_t begin, std::size_t end,
            std::byte* out) const override {
    fill_flat(in, begin, end, out);
  }

 private:
  bool in_float32_;
};

// The factories.

// One source, as is.
inline MappingPtr identity() {
  static const MappingPtr kIdentity = std::make_shared<Identity>();
  return kIdentity;
}
// The sources concatenated along `axis` (0: fused q/k/v, gate/up; 1: AWQ's packed columns).
inline MappingPtr concat(int axis) {
  return std::make_shared<Concat>(axis);
}
// `groups` equal groups of consecutive sources, each concatenated along axis 0, stacked along a
// new axis 0 (MoE experts: gate and up of each expert side by side).
inline MappingPtr stack(std::int64_t groups) {
  return std::make_shared<Stack>(groups);
}
// One 2-D source, transposed (GPT-2's Conv1D weights).
inline MappingPtr transpose() {
  return std::make_shared<Transpose>();
}
// One source of `rows` rows, reordered: row r is source row `source_row(r)`, a bijection on
// [0, rows) (InternLM2's wqkv, GPT-NeoX's query_key_value). A 1-D source reorders its elements.
inline MappingPtr permute_rows(std::int64_t rows,
                               std::function<std::int64_t(std::int64_t)> source_row) {
  return std::make_shared<PermuteRows>(rows, std::move(source_row));
}
// See HeadSlice.
inline MappingPtr head_slice(HeadSlice slice) {
  return std::make_shared<HeadSliceMapping>(slice);
}
// One source plus 1, added in the source's numpy dtype before the cast (Gemma's norms).
inline MappingPtr add_one() {
  return std::make_shared<AddOne>(false);
}
// One source widened to float32, plus 1, then cast to the model dtype (Qwen3.5's norms).
inline MappingPtr add_one_f32() {
  return std::make_shared<AddOne>(true);
}

}  // namespace weightcast::map
