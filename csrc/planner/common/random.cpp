#include <cstring>

#include "planner/common/simd.h"

#include "planner/common/fastmath.h"
#include "planner/common/philox.h"

namespace planner {
namespace {

// Philox blocks first_block .. first_block + 63 into x0..x3 (one array per lane).
void philox_tile(const NormalStream& st, std::uint64_t first_block, std::uint32_t* x0, std::uint32_t* x1,
                 std::uint32_t* x2, std::uint32_t* x3) {
  const std::uint32_t k0 = static_cast<std::uint32_t>(st.seed);
  const std::uint32_t k1 = static_cast<std::uint32_t>(st.seed >> 32);
#if defined(__AVX512F__)
  // GCC vectorizes the 32x32->64 products with vpmullq (slow); vpmuludq on even and
  // odd lanes is what Philox wants. Same bits as philox4x32_10 (tested against it).
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  auto mulhilo = [](__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
    const __m512i even = _mm512_mul_epu32(a, m);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  };
  for (int j = 0; j < kNormalTileBlocks; j += 16) {
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(first_block + j))), lane);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(st.c1));
    __m512i c2 = _mm512_set1_epi32(static_cast<int>(st.c2));
    __m512i c3 = _mm512_set1_epi32(static_cast<int>(st.c3));
    std::uint32_t key0 = k0, key1 = k1;
    for (int round = 0; round < 10; ++round) {
      __m512i hi0, lo0, hi1, lo1;
      mulhilo(c0, m0, hi0, lo0);
      mulhilo(c2, m1, hi1, lo1);
      const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(key0)));
      const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(key1)));
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    _mm512_store_si512(x0 + j, c0);
    _mm512_store_si512(x1 + j, c1);
    _mm512_store_si512(x2 + j, c2);
    _mm512_store_si512(x3 + j, c3);
  }
#else
  for (int j = 0; j < kNormalTileBlocks; ++j) {
    const Philox4x32 r = philox4x32_10(static_cast<std::uint32_t>(first_block + j), st.c1, st.c2, st.c3, k0, k1);
    x0[j] = r.v[0];
    x1[j] = r.v[1];
    x2[j] = r.v[2];
    x3[j] = r.v[3];
  }
#endif
}

// One whole tile: 64 blocks starting at block `first_block`, lanes stored contiguously.
void tile(const NormalStream& st, std::uint64_t first_block, float* out) {
  alignas(64) std::uint32_t x0[kNormalTileBlocks], x1[kNormalTileBlocks], x2[kNormalTileBlocks],
      x3[kNormalTileBlocks];
  philox_tile(st, first_block, x0, x1, x2, x3);
  float* z0 = out;
  float* z1 = out + kNormalTileBlocks;
  float* z2 = out + 2 * kNormalTileBlocks;
  float* z3 = out + 3 * kNormalTileBlocks;
  for (int j = 0; j < kNormalTileBlocks; ++j) box_muller(x0[j], x1[j], z0[j], z1[j]);
  for (int j = 0; j < kNormalTileBlocks; ++j) box_muller(x2[j], x3[j], z2[j], z3[j]);
}

}  // namespace

float normal_at(const NormalStream& st, std::uint64_t e) {
  const std::uint64_t o = e % kNormalTile;
  const std::uint64_t block = (e / kNormalTile) * kNormalTileBlocks + o % kNormalTileBlocks;
  const int lane = static_cast<int>(o / kNormalTileBlocks);
  const Philox4x32 r = philox4x32_10(static_cast<std::uint32_t>(block), st.c1, st.c2, st.c3,
                                     static_cast<std::uint32_t>(st.seed), static_cast<std::uint32_t>(st.seed >> 32));
  float z[4];
  box_muller(r.v[0], r.v[1], z[0], z[1]);
  box_muller(r.v[2], r.v[3], z[2], z[3]);
  return z[lane];
}

void fill_normal(const NormalStream& st, std::uint64_t first, std::size_t count, float* out) {
  if (count == 0) return;
  const std::uint64_t end = first + count;
  alignas(64) float buf[kNormalTile];
  for (std::uint64_t t = first / kNormalTile; t * kNormalTile < end; ++t) {
    const std::uint64_t t0 = t * kNormalTile;
    const std::uint64_t lo = first > t0 ? first - t0 : 0;
    const std::uint64_t hi = end - t0 < static_cast<std::uint64_t>(kNormalTile) ? end - t0 : kNormalTile;
    float* dst = out + (t0 + lo - first);
    if (lo == 0 && hi == static_cast<std::uint64_t>(kNormalTile)) {
      tile(st, t * kNormalTileBlocks, dst);  // whole tile: straight into the output
    } else {
      tile(st, t * kNormalTileBlocks, buf);
      std::memcpy(dst, buf + lo, (hi - lo) * sizeof(float));
    }
  }
}

}  // namespace planner
