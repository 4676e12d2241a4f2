#include "dequant/dequant.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {

namespace {

std::uint32_t word(const QuantPart& p, std::size_t i) {
  std::uint32_t w;
  std::memcpy(&w, p.data.data() + 4 * i, 4);
  return w;
}

// The `bits`-wide code at bit `pos` of a little-endian stream of 32-bit words, `at(k)` giving
// word k; a code may straddle two words.
template <typename At>
std::uint32_t code_at(const At& at, std::size_t pos, int bits) {
  const std::size_t k = pos / 32, shift = pos % 32;
  std::uint64_t v = at(k) >> shift;
  if (shift + static_cast<std::size_t>(bits) > 32) v |= std::uint64_t{at(k + 1)} << (32 - shift);
  return static_cast<std::uint32_t>(v & ((1u << bits) - 1));
}

float fp8_e4m3fn_to_f32(std::uint8_t b) {
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  const int exp = (b >> 3) & 0xF, man = b & 7;
  if (exp == 0xF && man == 7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -9);
  return sign * std::ldexp(static_cast<float>(8 + man), exp - 10);
}

bool is_float(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32;
}

float scalar(const QuantPart& p, std::size_t i) {
  std::uint16_t h;
  switch (p.info->dtype) {
    case DType::kF16:
      std::memcpy(&h, p.data.data() + 2 * i, 2);
      return f16_to_f32(h);
    case DType::kBF16:
      std::memcpy(&h, p.data.data() + 2 * i, 2);
      return bf16_to_f32(h);
    default:
      return std::bit_cast<float>(word(p, i));
  }
}

std::int64_t integer(const QuantPart& p, std::size_t i) {
  switch (p.info->dtype) {
    case DType::kI8:
      return static_cast<std::int8_t>(p.data[i]);
    case DType::kI64: {
      std::int64_t v;
      std::memcpy(&v, p.data.data() + 8 * i, 8);
      return v;
    }
    default:
      return static_cast<std::int32_t>(word(p, i));
  }
}

// The reference libraries multiply in the scales' dtype: the exact float32 product (a small
// integer or an FP8 value times a 16-bit float) rounded once to that dtype.
float round_to(DType t, float x) {
  if (t == DType::kF16) return f16_to_f32(f32_to_f16(x));
  if (t == DType::kBF16) return bf16_to_f32(f32_to_bf16(x));
  return x;
}

void need(const QuantPart& p, std::string_view role, const std::string& module) {
  if (!p) fail("{}: the {} tensor is missing", module, role);
}

void expect_shape(const QuantPart& p, const Shape& shape, std::string_view why) {
  if (p.info->shape != shape)
    fail("{}: has shape {}, but {} means {}", p.info->name, shape_str(p.info->shape), why,
         shape_str(shape));
}

void expect_int32(const QuantPart& p) {
  if ((p.info->dtype != DType::kI32 && p.info->dtype != DType::kU32) || p.info->shape.size() != 2)
    fail("{}: expected a 2-D int32 tensor of packed codes, got {} {}", p.info->name,
         tvm_name(p.info->dtype), shape_str(p.info->shape));
}

void expect_float(const QuantPart& p) {
  if (!is_float(p.info->dtype))
    fail("{}: expected float16, bfloat16 or float32 scales, got {}", p.info->name,
         tvm_name(p.info->dtype));
}

void check_bits(int bits, std::initializer_list<int> allowed, const std::string& what) {
  if (std::find(allowed.begin(), allowed.end(), bits) == allowed.end())
    fail("{}: {}-bit codes are not supported (supported: {})", what, bits,
         fmt::join(allowed, ", "));
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// Group of each input column: g_idx when given (act-order), else column / group_size.
std::vector<std::int32_t> column_groups(const QuantPart& g_idx, std::int64_t in,
                                        std::int64_t group_size, std::int64_t groups) {
  std::vector<std::int32_t> g(static_cast<std::size_t>(in));
  for (std::int64_t i = 0; i < in; ++i) {
    const auto v =
        g_idx ? integer(g_idx, static_cast<std::size_t>(i)) : (group_size > 0 ? i / group_size : 0);
    if (v < 0 || v >= groups)
      fail("{}: entry {} is {}, outside the {} groups of the scales", g_idx.info->name, i, v,
           groups);
    g[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(v);
  }
  return g;
}

void check_g_idx(const QuantPart& g_idx, std::int64_t in) {
  if (!g_idx) return;
  if (g_idx.info->dtype != DType::kI32 && g_idx.info->dtype != DType::kI64)
    fail("{}: expected int32 group indices, got {}", g_idx.info->name, tvm_name(g_idx.info->dtype));
  expect_shape(g_idx, {in}, "one group index per input column");
}

// GPTQ v1 stores every zero minus one. GPTQModel adds one back by adding 0x55555555 / 0x11111111
// / 0x01010101 to each whole word (a zero of 0 stored as all ones carries into its neighbour),
// and per field for 3 bits, whose fields straddle words (docs/source-formats.md#gptq).
std::vector<std::int32_t> gptq_zeros(const GptqParams& p, const QuantPart& qzeros,
                                     std::int64_t groups, std::int64_t out) {
  const auto cols = static_cast<std::size_t>(qzeros.info->shape[1]);
  const std::uint32_t add = !p.v1_zeros   ? 0
                            : p.bits == 2 ? 0x55555555u
                            : p.bits == 4 ? 0x11111111u
                            : p.bits == 8 ? 0x01010101u
                                          : 0u;
  const std::uint32_t mask = (1u << p.bits) - 1;
  std::vector<std::int32_t> z(static_cast<std::size_t>(groups * out));
  for (std::int64_t g = 0; g < groups; ++g) {
    const auto at = [&](std::size_t k) { return word(qzeros, g * cols + k) + add; };
    for (std::int64_t c = 0; c < out; ++c) {
      std::uint32_t v = code_at(at, static_cast<std::size_t>(c) * p.bits, p.bits);
      if (p.v1_zeros && p.bits == 3) v = (v + 1) & mask;
      z[static_cast<std::size_t>(g * out + c)] = static_cast<std::int32_t>(v);
    }
  }
  return z;
}

}  // namespace

Dequantized dequant_gptq(const GptqParams& p, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                         QuantPart g_idx, bool check_only) {
  need(qweight, "qweight", "GPTQ module");
  const auto& name = qweight.info->name;
  check_bits(p.bits, {2, 3, 4, 8}, name);
  need(qzeros, "qzeros", name);
  need(scales, "scales", name);
  if (p.desc_act) need(g_idx, "g_idx (desc_act is set)", name);
  expect_int32(qweight);
  expect_int32(qzeros);
  expect_float(scales);
  const std::int64_t rows = qweight.info->shape[0], out = qweight.info->shape[1];
  if (rows * 32 % p.bits != 0)
    fail("{}: {} packed rows do not hold a whole number of {}-bit codes", name, rows, p.bits);
  const std::int64_t in = rows * 32 / p.bits;
  const std::int64_t groups = p.group_size > 0 ? ceil_div(in, p.group_size) : 1;
  const auto why = fmt::format("{} input columns in groups of {}", in, p.group_size);
  expect_shape(scales, {groups, out}, why);
  expect_shape(qzeros, {groups, ceil_div(out * p.bits, 32)}, why);
  check_g_idx(g_idx, in);
  if (check_only) return {out, in, {}};
  const auto group = column_groups(g_idx, in, p.group_size, groups);
  const auto zeros = gptq_zeros(p, qzeros, groups, out);
  Dequantized d{out, in, std::vector<float>(static_cast<std::size_t>(out * in))};
  const auto dtype = scales.info->dtype;
  for (std::int64_t c = 0; c < out; ++c) {
    const auto at = [&](std::size_t k) { return word(qweight, k * out + c); };
    for (std::int64_t r = 0; r < in; ++r) {
      const auto g = group[static_cast<std::size_t>(r)];
      const auto q = static_cast<std::int32_t>(code_at(at, r * p.bits, p.bits));
      const float s = scalar(scales, static_cast<std::size_t>(g * out + c));
      const auto z = zeros[static_cast<std::size_t>(g * out + c)];
      d.values[static_cast<std::size_t>(c * in + r)] =
          round_to(dtype, s * static_cast<float>(q - z));
    }
  }
  return d;
}

namespace {

// AutoAWQ packs column order[i] of each eight into nibble i, order = 0 2 4 6 1 3 5 7: column j
// sits in nibble kAwqNibble[j].
constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};

}  // namespace

AwqRepacked gptq_to_awq(const GptqParams& p, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                        QuantPart g_idx) {
  const auto size = dequant_gptq(p, qweight, qzeros, scales, g_idx, true);
  const auto& name = qweight.info->name;
  if (p.bits != 4 || size.out % 8 != 0)
    fail(
        "{}: only 4-bit GPTQ with a multiple of 8 outputs repacks into q4f16_autoawq (this is "
        "{}-bit with {} outputs); choose a group quantization scheme such as q4f16_1",
        name, p.bits, size.out);
  const std::int64_t in = size.in, out = size.out, words = out / 8;
  const std::int64_t groups = scales.info->shape[0];
  const auto group = column_groups(g_idx, in, p.group_size, groups);
  for (std::int64_t i = 0; i < in; ++i)
    if (group[static_cast<std::size_t>(i)] != (p.group_size > 0 ? i / p.group_size : 0))
      fail(
          "{}: act-order (g_idx is not column / group_size) has no q4f16_autoawq equivalent; "
          "choose a group quantization scheme such as q4f16_1",
          name);
  const auto zeros = gptq_zeros(p, qzeros, groups, out);
  AwqRepacked packed{std::vector<std::int32_t>(static_cast<std::size_t>(in * words)),
                     std::vector<std::int32_t>(static_cast<std::size_t>(groups * words))};
  const auto put = [](std::int32_t& w, std::int64_t column, std::uint32_t code) {
    w = static_cast<std::int32_t>(static_cast<std::uint32_t>(w) |
                                  code << (4 * kAwqNibble[column % 8]));
  };
  for (std::int64_t c = 0; c < out; ++c) {
    const auto at = [&](std::size_t k) { return word(qweight, k * out + c); };
    for (std::int64_t r = 0; r < in; ++r)
      put(packed.qweight[static_cast<std::size_t>(r * words + c / 8)], c, code_at(at, r * 4, 4));
    for (std::int64_t g = 0; g < groups; ++g)
      put(packed.qzeros[static_cast<std::size_t>(g * words + c / 8)], c,
          static_cast<std::uint32_t>(zeros[static_cast<std::size_t>(g * out + c)]));
  }
  return packed;
}

Dequantized dequant_awq(int group_size, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                        bool check_only) {
  need(qweight, "qweight", "AWQ module");
  const auto& name = qweight.info->name;
  need(qzeros, "qzeros", name);
  need(scales, "scales", name);
  expect_int32(qweight);
  expect_int32(qzeros);
  expect_float(scales);
  const std::int64_t in = qweight.info->shape[0], words = qweight.info->shape[1], out = words * 8;
  if (group_size <= 0 || in % group_size != 0)
    fail("{}: {} input rows do not split into AWQ groups of {}", name, in, group_size);
  const std::int64_t groups = in / group_size;
  const auto why = fmt::format("{} input rows in groups of {}", in, group_size);
  expect_shape(qzeros, {groups, words}, why);
  expect_shape(scales, {groups, out}, why);
  if (check_only) return {out, in, {}};
  Dequantized d{out, in, std::vector<float>(static_cast<std::size_t>(out * in))};
  const auto dtype = scales.info->dtype;
  for (std::int64_t r = 0; r < in; ++r) {
    const std::int64_t g = r / group_size;
    for (std::int64_t c = 0; c < out; ++c) {
      const int shift = 4 * kAwqNibble[c % 8];
      const auto q = static_cast<std::int32_t>((word(qweight, r * words + c / 8) >> shift) & 15);
      const auto z = static_cast<std::int32_t>((word(qzeros, g * words + c / 8) >> shift) & 15);
      const float s = scalar(scales, static_cast<std::size_t>(g * out + c));
      d.values[static_cast<std::size_t>(c * in + r)] =
          round_to(dtype, static_cast<float>(q - z) * s);
    }
  }
  return d;
}

namespace {

// Where code i of a packed row starts: densely across words, or (compressed-tensors before 0.20,
// 3/5/6/7 bits) floor(32 / bits) whole codes per word.
struct RowPacking {
  int bits = 4;
  bool dense = true;
  std::size_t pos(std::size_t i) const {
    const std::size_t per = 32 / static_cast<std::size_t>(bits);
    return dense ? i * bits : (i / per) * 32 + (i % per) * bits;
  }
  std::int64_t words(std::int64_t n) const {
    return dense ? (n * bits + 31) / 32 : ceil_div(n, 32 / bits);
  }
};

RowPacking choose_packing(const PackedParams& p, const QuantPart& packed, std::int64_t in) {
  const RowPacking dense{p.bits, true}, per_word{p.bits, false};
  const std::int64_t width = packed.info->shape[1];
  if (width == dense.words(in) && (p.dense || width != per_word.words(in))) return dense;
  if (width == per_word.words(in)) return per_word;
  fail(
      "{}: has {} words per row, but {} {}-bit codes pack into {} (or {} before "
      "compressed-tensors 0.20)",
      packed.info->name, width, in, p.bits, dense.words(in), per_word.words(in));
}

// weight_zero_point: int8 [out, groups] (before 2025-04), or packed along the output dimension
// with the same offset as the codes. Returns the signed zero points [out, groups].
std::vector<std::int32_t> packed_zeros(const QuantPart& zp, const RowPacking& packing,
                                       std::int64_t out, std::int64_t groups) {
  std::vector<std::int32_t> z(static_cast<std::size_t>(out * groups), 0);
  if (!zp) return z;
  const auto n = static_cast<std::size_t>(out * groups);
  if (zp.info->dtype == DType::kI8) {
    expect_shape(zp, {out, groups}, "an unpacked zero point per row and group");
    for (std::size_t i = 0; i < n; ++i) z[i] = static_cast<std::int32_t>(integer(zp, i));
    return z;
  }
  expect_int32(zp);
  expect_shape(zp, {packing.words(out), groups}, "zero points packed along the output rows");
  const std::int32_t half = 1 << (packing.bits - 1);
  for (std::int64_t g = 0; g < groups; ++g) {
    const auto at = [&](std::size_t k) { return word(zp, k * groups + g); };
    for (std::int64_t r = 0; r < out; ++r)
      z[static_cast<std::size_t>(r * groups + g)] =
          static_cast<std::int32_t>(code_at(at, packing.pos(r), packing.bits)) - half;
  }
  return z;
}

}  // namespace

Dequantized dequant_packed(const PackedParams& p, QuantPart packed, QuantPart shape,
                           QuantPart scale, QuantPart zero_point, QuantPart g_idx,
                           bool check_only) {
  need(packed, "weight_packed", "compressed-tensors module");
  const auto& name = packed.info->name;
  check_bits(p.bits, {2, 3, 4, 5, 6, 7, 8}, name);
  need(shape, "weight_shape", name);
  need(scale, "weight_scale", name);
  expect_int32(packed);
  expect_float(scale);
  if (numel(shape.info->shape) != 2 ||
      (shape.info->dtype != DType::kI64 && shape.info->dtype != DType::kI32))
    fail("{}: expected two integers [out, in], got {} {}", shape.info->name,
         tvm_name(shape.info->dtype), shape_str(shape.info->shape));
  const std::int64_t out = integer(shape, 0), in = integer(shape, 1);
  if (out != packed.info->shape[0] || in <= 0 || in > packed.info->shape[1] * 32)
    fail("{}: weight_shape [{}, {}] disagrees with the {} packed rows", name, out, in,
         packed.info->shape[0]);
  if (scale.info->shape.size() != 2 || scale.info->shape[0] != out)
    fail("{}: has shape {}, expected [{}, groups]", scale.info->name, shape_str(scale.info->shape),
         out);
  const std::int64_t groups = scale.info->shape[1];
  const std::int64_t group_size = groups == 1 ? in : (p.group_size > 0 ? p.group_size : in);
  if (groups > 1 && (in % group_size != 0 || in / group_size != groups))
    fail("{}: {} groups, but {} input columns in groups of {} (which must divide them) make {}",
         scale.info->name, groups, in, group_size, in / group_size);
  check_g_idx(g_idx, in);
  const auto packing = choose_packing(p, packed, in);
  if (zero_point && zero_point.info->dtype != DType::kI8)
    expect_shape(zero_point, {packing.words(out), groups}, "zero points packed along the rows");
  if (check_only) return {out, in, {}};
  const auto group = column_groups(g_idx, in, group_size, groups);
  const auto zeros = packed_zeros(zero_point, packing, out, groups);
  const auto width = static_cast<std::size_t>(packed.info->shape[1]);
  const std::int32_t half = 1 << (p.bits - 1);
  Dequantized d{out, in, std::vector<float>(static_cast<std::size_t>(out * in))};
  const auto dtype = scale.info->dtype;
  for (std::int64_t r = 0; r < out; ++r) {
    const auto at = [&](std::size_t k) { return word(packed, r * width + k); };
    for (std::int64_t i = 0; i < in; ++i) {
      const auto q =
          static_cast<std::int32_t>(code_at(at, packing.pos(static_cast<std::size_t>(i)), p.bits));
      const auto at_g = static_cast<std::size_t>(r * groups + group[static_cast<std::size_t>(i)]);
      d.values[static_cast<std::size_t>(r * in + i)] =
          round_to(dtype, static_cast<float>(q - half - zeros[at_g]) * scalar(scale, at_g));
    }
  }
  return d;
}

Dequantized dequant_fp8(QuantPart weight, QuantPart scale,
                        std::optional<std::array<std::int64_t, 2>> block, bool check_only) {
  const auto& name = weight.info->name;
  need(scale, block ? "weight_scale_inv" : "weight_scale", name);
  expect_float(scale);
  if (weight.info->dtype != DType::kF8E4M3 || weight.info->shape.size() != 2)
    fail("{}: expected a 2-D float8_e4m3fn weight, got {} {}", name, tvm_name(weight.info->dtype),
         shape_str(weight.info->shape));
  const std::int64_t out = weight.info->shape[0], in = weight.info->shape[1];
  const auto& s = scale.info->shape;
  std::int64_t row_block = out, col_block = in;  // one scale for the whole tensor
  if (block) {
    row_block = (*block)[0], col_block = (*block)[1];
    expect_shape(scale, {ceil_div(out, row_block), ceil_div(in, col_block)},
                 fmt::format("blocks of {} x {}", row_block, col_block));
  } else if (numel(s) == 1) {
  } else if ((s.size() == 1 && s[0] == out) || (s.size() == 2 && s[0] == out && s[1] == 1)) {
    row_block = 1;
  } else if (s.size() == 2 && s[0] == out && s[1] > 0 && in % s[1] == 0) {
    row_block = 1, col_block = in / s[1];
  } else {
    fail("{}: has shape {}: expected one scale, one per row ({}) or per row and group",
         scale.info->name, shape_str(s), out);
  }
  if (check_only) return {out, in, {}};
  const std::int64_t scale_cols = ceil_div(in, col_block);
  Dequantized d{out, in, std::vector<float>(static_cast<std::size_t>(out * in))};
  const auto dtype = scale.info->dtype;
  for (std::int64_t r = 0; r < out; ++r)
    for (std::int64_t i = 0; i < in; ++i) {
      const float x = fp8_e4m3fn_to_f32(static_cast<std::uint8_t>(weight.data[r * in + i]));
      const float k =
          scalar(scale, static_cast<std::size_t>((r / row_block) * scale_cols + i / col_block));
      d.values[static_cast<std::size_t>(r * in + i)] = round_to(dtype, x * k);
    }
  return d;
}

}  // namespace weightcast
