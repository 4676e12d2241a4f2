#include "cache/md5_multi.h"

#include <immintrin.h>
#include <openssl/evp.h>

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

void block_scalar(std::uint32_t* st, const std::byte* block) {
  std::uint32_t m[16];
  std::memcpy(m, block, 64);  // little-endian words on every supported host
  const auto& k = constants();
  std::uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
  for (int i = 0; i < 64; ++i) {
    std::uint32_t f;
    if (i < 16)
      f = (b & c) | (~b & d);
    else if (i < 32)
      f = (d & b) | (~d & c);
    else if (i < 48)
      f = b ^ c ^ d;
    else
      f = c ^ (b | ~d);
    f += a + k[i] + m[message_index(i)];
    a = d;
    d = c;
    c = b;
    b += rotl(f, kShift[i]);
  }
  st[0] += a, st[1] += b, st[2] += c, st[3] += d;
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

// Eight blocks, one per lane.
WEIGHTCAST_AVX2 void blocks_avx2(__m256i* st, const std::array<const std::byte*, 8>& in,
                                 std::size_t offset) {
  alignas(64) static const std::byte zeros[64] = {};
  __m256i m[16];
  for (int half = 0; half < 2; ++half) {
    for (int lane = 0; lane < 8; ++lane) {
      const std::byte* p = in[lane] ? in[lane] + offset : zeros;
      m[8 * half + lane] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * half));
    }
    transpose8x8_epi32(m + 8 * half);
  }
  __m256i a = st[0], b = st[1], c = st[2], d = st[3];
  steps8(a, b, c, d, m, constants().data(), std::make_integer_sequence<int, 64>{});
  st[0] = _mm256_add_epi32(st[0], a);
  st[1] = _mm256_add_epi32(st[1], b);
  st[2] = _mm256_add_epi32(st[2], c);
  st[3] = _mm256_add_epi32(st[3], d);
}

WEIGHTCAST_AVX2 void update_avx2(std::array<std::array<std::uint32_t, 8>, 4>& state,
                                 const std::array<const std::byte*, 8>& data, std::size_t blocks) {
  __m256i st[4];
  for (int j = 0; j < 4; ++j)
    st[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state[j].data()));
  const auto saved = state;
  for (std::size_t blk = 0; blk < blocks; ++blk) blocks_avx2(st, data, blk * 64);
  for (int j = 0; j < 4; ++j)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(state[j].data()), st[j]);
  for (int lane = 0; lane < 8; ++lane)  // idle lanes keep their state
    if (!data[lane])
      for (int j = 0; j < 4; ++j) state[j][lane] = saved[j][lane];
}
#endif

}  // namespace

Md5Lanes::Md5Lanes() {
  constexpr std::uint32_t init[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  for (int j = 0; j < 4; ++j) state_[j].fill(init[j]);
}

void Md5Lanes::update(const std::array<const std::byte*, kLanes>& data, std::size_t blocks,
                      SimdLevel level) {
#if defined(__x86_64__)
  if (level == SimdLevel::kAvx2) return update_avx2(state_, data, blocks);
#else
  (void)level;
#endif
  for (int lane = 0; lane < kLanes; ++lane) {
    if (!data[lane]) continue;
    std::uint32_t st[4] = {state_[0][lane], state_[1][lane], state_[2][lane], state_[3][lane]};
    for (std::size_t blk = 0; blk < blocks; ++blk) block_scalar(st, data[lane] + blk * 64);
    for (int j = 0; j < 4; ++j) state_[j][lane] = st[j];
  }
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
