// Counter-based RNG: Philox-4x32-10 (Salmon et al., SC'11) and the Gaussian draw built
// on it. A draw is a pure function of (seed, counter), so samples do not depend on
// thread count, chunking or backend. planner/reference.py implements the same bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "planner/common/fastmath.h"
#include "planner/common/host_device.h"

namespace planner {

struct Philox4x32 {
  std::uint32_t v[4];
};

PLANNER_HD Philox4x32 philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                    std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const std::uint32_t n0 = hd::mulhi(kM1, c2) ^ c1 ^ k0;
    const std::uint32_t n2 = hd::mulhi(kM0, c0) ^ c3 ^ k1;
    c1 = kM1 * c2;
    c3 = kM0 * c0;
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

// Where a stream of Gaussian draws lives. Elements come in tiles of 256 made from 64
// consecutive Philox blocks: element e is lane (e % 256) / 64 of the block with counter
// ((e / 256) * 64 + e % 64, c1, c2, c3) under key seed. Lanes (0, 1) and (2, 3) of a
// block are Box-Muller pairs. Tiled so that generation stores contiguously.
struct NormalStream {
  std::uint64_t seed;
  std::uint32_t c1;  // problem index b
  std::uint32_t c2;  // iteration (low 24 bits) and redraw number (high 8 bits)
  std::uint32_t c3;  // control step
};

inline constexpr int kNormalTileBlocks = 64;
inline constexpr int kNormalTile = 4 * kNormalTileBlocks;

// Gaussian pair from two 32-bit words. u in (0, 1); the angle is 2*pi*v with
// v in (-1/2, 1/2), computed through the half angle q = pi*v so that the polynomials
// stay on [-pi/2, pi/2].
PLANNER_HD void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  constexpr float kTwoM24 = 1.0f / 16777216.0f;
  const float u = (static_cast<float>(a >> 8) + 0.5f) * kTwoM24;
  const float v = (static_cast<float>(b >> 8) + 0.5f) * kTwoM24 - 0.5f;
  const float q = v * fm::kPi;
  const float s = fm::sin_poly(q);
  const float c = fm::cos_poly(q);
  const float r = hd::sqrt_rn(-2.0f * fm::log(u));
  z0 = r * (c * c - s * s);
  z1 = r * (2.0f * s * c);
}

// Writes `count` standard normals, elements [first, first + count) of the stream.
// Vectorized; no allocation.
void fill_normal(const NormalStream& stream, std::uint64_t first, std::size_t count, float* out);

// Element e of the stream alone (for rare redraws).
float normal_at(const NormalStream& stream, std::uint64_t e);

}  // namespace planner
