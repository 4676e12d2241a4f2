// g++ 12's AVX-512 intrinsics warn about their own _mm512_undefined_*() (a known false positive);
// the pragma must precede the intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cache/md5_multi.h"

#include <immintrin.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "util/error.h"
#include "util/transpose.h"

namespace weightcast {

namespace {

constexpr int kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                            5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                            4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

// RFC 1321: K[i] = floor(|sin(i + 1)| * 2^32); double precision computes them exactly.
const std::array<std::uint32_t, 64>& constants() {
  static const auto k = [] {
    std::array<std::uint32_t, 64> t{};
    for (int i = 0; i < 64; ++i)
      t[i] = static_cast<std::uint32_t>(std::floor(std::fabs(std::sin(i + 1.0)) * 4294967296.0));
    return t;
  }();
  return k;
}

constexpr int message_index(int i) {
  return i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16;
}

inline std::uint32_t rotl(std::uint32_t x, int s) {
  return (x << s) | (x >> (32 - s));
}

// Scalar MD5, steps unrolled at compile time on `N` independent streams at once: one stream is
// bound by the latency of its dependency chain, and a second interleaved with it fills the idle
// ALUs, so two hash in little more time than one.
template <int N>
struct ScalarChains {
  std::uint32_t a[N], b[N], c[N], d[N], m[N][16];
};

template <int I, int N>
inline void step_scalar(ScalarChains<N>& s, const std::uint32_t* k) {
  for (int n = 0; n < N; ++n) {
    const std::uint32_t b = s.b[n], c = s.c[n], d = s.d[n];
    // The terms that do not need b (the newest value) are summed first, off the chain: G's two
    // halves share no bits, so its OR is an addition, and H takes c ^ d before b.
    const std::uint32_t early = s.a[n] + k[I] + s.m[n][message_index(I)];
    std::uint32_t f;
    if constexpr (I < 16)
      f = (d ^ (b & (c ^ d))) + early;
    else if constexpr (I < 32)
      f = (early + (~d & c)) + (d & b);
    else if constexpr (I < 48)
      f = (b ^ (c ^ d)) + early;
    else
      f = (c ^ (b | ~d)) + early;
    s.a[n] = d;
    s.d[n] = c;
    s.c[n] = b;
    s.b[n] = b + rotl(f, kShift[I]);
  }
}

template <int N, int... I>
inline void steps_scalar(ScalarChains<N>& s, const std::uint32_t* k,
                         std::integer_sequence<int, I...>) {
  (step_scalar<I, N>(s, k), ...);
}

// `blocks` blocks of each of N streams; st[n] is stream n's A, B, C, D.
template <int N>
void blocks_scalar(std::uint32_t (*st)[4], const std::byte* const* data, std::size_t blocks) {
  const auto* k = constants().data();
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    ScalarChains<N> s;
    for (int n = 0; n < N; ++n) {
      std::memcpy(s.m[n], data[n] + blk * 64, 64);  // little-endian words on every supported host
      s.a[n] = st[n][0], s.b[n] = st[n][1], s.c[n] = st[n][2], s.d[n] = st[n][3];
    }
    steps_scalar<N>(s, k, std::make_integer_sequence<int, 64>{});
    for (int n = 0; n < N; ++n)
      st[n][0] += s.a[n], st[n][1] += s.b[n], st[n][2] += s.c[n], st[n][3] += s.d[n];
  }
}

void block_scalar(std::uint32_t* st, const std::byte* block) {
  std::uint32_t(*one)[4] = reinterpret_cast<std::uint32_t(*)[4]>(st);
  blocks_scalar<1>(one, &block, 1);
}

#if defined(__x86_64__)
template <int S>
WEIGHTCAST_AVX2 inline __m256i rotl8(__m256i x) {
  return _mm256_or_si256(_mm256_slli_epi32(x, S), _mm256_srli_epi32(x, 32 - S));
}

// One MD5 step on eight lanes, fully specialised at compile time.
template <int I>
WEIGHTCAST_AVX2 inline void step8(__m256i& a, __m256i& b, __m256i& c, __m256i& d, const __m256i* m,
                                  const std::uint32_t* k) {
  __m256i f;
  if constexpr (I < 16)
    f = _mm256_or_si256(_mm256_and_si256(b, c), _mm256_andnot_si256(b, d));
  else if constexpr (I < 32)
    f = _mm256_or_si256(_mm256_and_si256(d, b), _mm256_andnot_si256(d, c));
  else if constexpr (I < 48)
    f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
  else
    f = _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))));
  f = _mm256_add_epi32(
      _mm256_add_epi32(f, a),
      _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(k[I])), m[message_index(I)]));
  a = d;
  d = c;
  c = b;
  b = _mm256_add_epi32(b, rotl8<kShift[I]>(f));
}

template <int... I>
WEIGHTCAST_AVX2 inline void steps8(__m256i& a, __m256i& b, __m256i& c, __m256i& d, const __m256i* m,
                                   const std::uint32_t* k, std::integer_sequence<int, I...>) {
  (step8<I>(a, b, c, d, m, k), ...);
}

// The eight lanes' message words of block `offset`, one vector per word.
WEIGHTCAST_AVX2 inline void load8(__m256i* m, const std::array<const std::byte*, 8>& in,
                                  std::size_t offset) {
  alignas(64) static const std::byte zeros[64] = {};
  for (int half = 0; half < 2; ++half) {
    for (int lane = 0; lane < 8; ++lane) {
      const std::byte* p = in[lane] ? in[lane] + offset : zeros;
      m[8 * half + lane] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * half));
    }
    transpose8x8_epi32(m + 8 * half);
  }
}

// `blocks` blocks of each of eight lanes.
WEIGHTCAST_AVX2 void blocks_avx2(__m256i* st, const std::array<const std::byte*, 8>& in,
                                 std::size_t blocks) {
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    __m256i m[16];
    load8(m, in, blk * 64);
    __m256i a = st[0], b = st[1], c = st[2], d = st[3];
    steps8(a, b, c, d, m, constants().data(), std::make_integer_sequence<int, 64>{});
    st[0] = _mm256_add_epi32(st[0], a);
    st[1] = _mm256_add_epi32(st[1], b);
    st[2] = _mm256_add_epi32(st[2], c);
    st[3] = _mm256_add_epi32(st[3], d);
  }
}

// The same eight lanes with AVX-512VL's instructions on 256-bit registers: F, G, H and I are one
// ternary-logic instruction each and the rotation one, a third fewer than AVX2's steps.
template <int I>
WEIGHTCAST_AVX512 inline void step8vl(__m256i& a, __m256i& b, __m256i& c, __m256i& d,
                                      const __m256i* m, const std::uint32_t* k) {
  constexpr int kLogic = I < 16 ? 0xCA : I < 32 ? 0xE4 : I < 48 ? 0x96 : 0x39;  // as step16
  const __m256i f = _mm256_add_epi32(
      _mm256_add_epi32(_mm256_ternarylogic_epi32(b, c, d, kLogic), a),
      _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(k[I])), m[message_index(I)]));
  a = d;
  d = c;
  c = b;
  b = _mm256_add_epi32(b, _mm256_rol_epi32(f, kShift[I]));
}

template <int... I>
WEIGHTCAST_AVX512 inline void steps8vl(__m256i& a, __m256i& b, __m256i& c, __m256i& d,
                                       const __m256i* m, const std::uint32_t* k,
                                       std::integer_sequence<int, I...>) {
  (step8vl<I>(a, b, c, d, m, k), ...);
}

WEIGHTCAST_AVX512 void blocks_avx512vl(__m256i* st, const std::array<const std::byte*, 8>& in,
                                       std::size_t blocks) {
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    __m256i m[16];
    load8(m, in, blk * 64);
    __m256i a = st[0], b = st[1], c = st[2], d = st[3];
    steps8vl(a, b, c, d, m, constants().data(), std::make_integer_sequence<int, 64>{});
    st[0] = _mm256_add_epi32(st[0], a);
    st[1] = _mm256_add_epi32(st[1], b);
    st[2] = _mm256_add_epi32(st[2], c);
    st[3] = _mm256_add_epi32(st[3], d);
  }
}

using LaneState = std::array<std::array<std::uint32_t, Md5Lanes::kLanes>, 4>;
using LaneData = std::array<const std::byte*, Md5Lanes::kLanes>;

// Up to eight lanes (`lanes`, -1 for none) as one set of eight, with AVX2 or AVX-512VL.
WEIGHTCAST_AVX2 void update8(LaneState& state, const LaneData& all, const std::array<int, 8>& lanes,
                             std::size_t blocks, bool vl) {
  std::array<const std::byte*, 8> data{};
  alignas(32) std::uint32_t packed[4][8] = {};
  for (int i = 0; i < 8; ++i)
    if (lanes[i] >= 0) {
      data[i] = all[lanes[i]];
      for (int j = 0; j < 4; ++j) packed[j][i] = state[j][lanes[i]];
    }
  __m256i st[4];
  for (int j = 0; j < 4; ++j)
    st[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(packed[j]));
  if (vl)
    blocks_avx512vl(st, data, blocks);
  else
    blocks_avx2(st, data, blocks);
  for (int j = 0; j < 4; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(packed[j]), st[j]);
  for (int i = 0; i < 8; ++i)
    if (lanes[i] >= 0)
      for (int j = 0; j < 4; ++j) state[j][lanes[i]] = packed[j][i];
}

// ---- AVX-512: sixteen lanes; F, G, H and I are one ternary-logic instruction each, and the
// rotation is one instruction.
template <int I>
WEIGHTCAST_AVX512 inline void step16(__m512i& a, __m512i& b, __m512i& c, __m512i& d,
                                     const __m512i* m, const std::uint32_t* k) {
  __m512i f;
  if constexpr (I < 16)
    f = _mm512_ternarylogic_epi32(b, c, d, 0xCA);  // (b & c) | (~b & d)
  else if constexpr (I < 32)
    f = _mm512_ternarylogic_epi32(b, c, d, 0xE4);  // (d & b) | (~d & c)
  else if constexpr (I < 48)
    f = _mm512_ternarylogic_epi32(b, c, d, 0x96);  // b ^ c ^ d
  else
    f = _mm512_ternarylogic_epi32(b, c, d, 0x39);  // c ^ (b | ~d)
  f = _mm512_add_epi32(
      _mm512_add_epi32(f, a),
      _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(k[I])), m[message_index(I)]));
  a = d;
  d = c;
  c = b;
  b = _mm512_add_epi32(b, _mm512_rol_epi32(f, kShift[I]));
}

template <int... I>
WEIGHTCAST_AVX512 inline void steps16(__m512i& a, __m512i& b, __m512i& c, __m512i& d,
                                      const __m512i* m, const std::uint32_t* k,
                                      std::integer_sequence<int, I...>) {
  (step16<I>(a, b, c, d, m, k), ...);
}

// 16x16 transpose of 32-bit words: row r (lane r's block) becomes column r.
WEIGHTCAST_AVX512 inline void transpose16x16_epi32(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // Per group of four rows: u[4g + j] holds, in its 128-bit chunk c, word 4c + j of the rows.
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  // Then a 4x4 transpose of 128-bit chunks across the four groups.
  for (int j = 0; j < 4; ++j) {
    const __m512i a = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
    const __m512i b = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    const __m512i c = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
    const __m512i d = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    r[j] = _mm512_shuffle_i32x4(a, c, 0x88);
    r[4 + j] = _mm512_shuffle_i32x4(a, c, 0xDD);
    r[8 + j] = _mm512_shuffle_i32x4(b, d, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(b, d, 0xDD);
  }
}

WEIGHTCAST_AVX512 void update_avx512(LaneState& state, const LaneData& data, std::size_t blocks) {
  alignas(64) static const std::byte zeros[64] = {};
  __m512i st[4];
  for (int j = 0; j < 4; ++j) st[j] = _mm512_loadu_si512(state[j].data());
  const auto saved = state;
  const auto* k = constants().data();
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    __m512i m[16];
    for (int lane = 0; lane < 16; ++lane)
      m[lane] = _mm512_loadu_si512(data[lane] ? data[lane] + blk * 64 : zeros);
    transpose16x16_epi32(m);
    __m512i a = st[0], b = st[1], c = st[2], d = st[3];
    steps16(a, b, c, d, m, k, std::make_integer_sequence<int, 64>{});
    st[0] = _mm512_add_epi32(st[0], a);
    st[1] = _mm512_add_epi32(st[1], b);
    st[2] = _mm512_add_epi32(st[2], c);
    st[3] = _mm512_add_epi32(st[3], d);
  }
  for (int j = 0; j < 4; ++j) _mm512_storeu_si512(state[j].data(), st[j]);
  for (int lane = 0; lane < 16; ++lane)  // idle lanes keep their state
    if (!data[lane])
      for (int j = 0; j < 4; ++j) state[j][lane] = saved[j][lane];
}
#endif

}  // namespace

namespace {
constexpr std::uint32_t kInitialState[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
}

Md5Lanes::Md5Lanes() {
  for (int j = 0; j < 4; ++j) state_[j].fill(kInitialState[j]);
}

void Md5Lanes::restart(int lane) {
  for (int j = 0; j < 4; ++j) state_[j][lane] = kInitialState[j];
}

// The cheapest engine for the lanes fed: a round of sixteen (or eight) SIMD lanes costs the same
// however few are fed, so one or two streams run interleaved on scalar registers, up to eight in
// one set of eight 256-bit lanes (AVX2, or AVX-512VL's shorter steps), and more in AVX-512's
// sixteen (or two sets of eight).
void Md5Lanes::update(const std::array<const std::byte*, kLanes>& data, std::size_t blocks,
                      SimdLevel level) {
  std::array<int, kLanes> fed{};
  int n = 0;
  for (int lane = 0; lane < kLanes; ++lane)
    if (data[lane]) fed[n++] = lane;
  if (n == 0 || blocks == 0) return;
  const auto scalar = [&](int first, int count) {
    std::uint32_t st[2][4];
    const std::byte* in[2];
    for (int i = 0; i < count; ++i) {
      in[i] = data[fed[first + i]];
      for (int j = 0; j < 4; ++j) st[i][j] = state_[j][fed[first + i]];
    }
    if (count == 2)
      blocks_scalar<2>(st, in, blocks);
    else
      blocks_scalar<1>(st, in, blocks);
    for (int i = 0; i < count; ++i)
      for (int j = 0; j < 4; ++j) state_[j][fed[first + i]] = st[i][j];
  };
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx2 && n > 2) {
    if (level >= SimdLevel::kAvx512 && n > 8) return update_avx512(state_, data, blocks);
    for (int first = 0; first < n; first += 8) {
      std::array<int, 8> lanes;
      lanes.fill(-1);
      for (int i = 0; i < 8 && first + i < n; ++i) lanes[i] = fed[first + i];
      update8(state_, data, lanes, blocks, level >= SimdLevel::kAvx512);
    }
    return;
  }
#endif
  for (int first = 0; first < n; first += 2) scalar(first, std::min(2, n - first));
}

void Md5Lanes::update_lane(int lane, const std::byte* data, std::size_t blocks) {
  std::array<const std::byte*, kLanes> one{};
  one[lane] = data;
  update(one, blocks, SimdLevel::kScalar);
}

Md5Digest Md5Lanes::finish(int lane, std::span<const std::byte> tail, std::uint64_t total_bytes) {
  std::byte pad[128] = {};
  if (!tail.empty()) std::memcpy(pad, tail.data(), tail.size());
  pad[tail.size()] = std::byte{0x80};
  const std::size_t len = tail.size() + 9 <= 64 ? 64 : 128;
  const std::uint64_t bits = total_bytes * 8;
  std::memcpy(pad + len - 8, &bits, 8);
  std::uint32_t st[4] = {state_[0][lane], state_[1][lane], state_[2][lane], state_[3][lane]};
  for (std::size_t off = 0; off < len; off += 64) block_scalar(st, pad + off);
  Md5Digest out;
  std::memcpy(out.data(), st, 16);
  return out;
}

std::string to_hex(const Md5Digest& digest) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (auto b : digest) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

Md5Digest md5_openssl(std::span<const std::byte> data) {
  Md5Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr) != 1)
    fail<IOError>("OpenSSL md5 failed");
  return out;
}

}  // namespace weightcast
