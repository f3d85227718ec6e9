#include <cstring>

#include "planner/common/fastmath.h"
#include "planner/common/philox.h"

namespace planner {
namespace {

// Gaussian pair from two 32-bit words. u in (0, 1); the angle is 2*pi*v with
// v in (-1/2, 1/2), computed through the half angle q = pi*v so that the polynomials
// stay on [-pi/2, pi/2].
inline void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  constexpr float kTwoM24 = 1.0f / 16777216.0f;
  const float u = (static_cast<float>(a >> 8) + 0.5f) * kTwoM24;
  const float v = (static_cast<float>(b >> 8) + 0.5f) * kTwoM24 - 0.5f;
  const float q = v * fm::kPi;
  const float s = fm::sin_poly(q);
  const float c = fm::cos_poly(q);
  const float r = std::sqrt(-2.0f * fm::log(u));
  z0 = r * (c * c - s * s);
  z1 = r * (2.0f * s * c);
}

// One whole tile: 64 blocks starting at block `first_block`, lanes stored contiguously.
void tile(const NormalStream& st, std::uint64_t first_block, float* out) {
  const std::uint32_t k0 = static_cast<std::uint32_t>(st.seed);
  const std::uint32_t k1 = static_cast<std::uint32_t>(st.seed >> 32);
  alignas(64) std::uint32_t x0[kNormalTileBlocks], x1[kNormalTileBlocks], x2[kNormalTileBlocks],
      x3[kNormalTileBlocks];
  for (int j = 0; j < kNormalTileBlocks; ++j) {
    const Philox4x32 r = philox4x32_10(static_cast<std::uint32_t>(first_block + j), st.c1, st.c2, st.c3, k0, k1);
    x0[j] = r.v[0];
    x1[j] = r.v[1];
    x2[j] = r.v[2];
    x3[j] = r.v[3];
  }
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
