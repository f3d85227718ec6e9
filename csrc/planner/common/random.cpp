#include "planner/common/fastmath.h"
#include "planner/common/philox.h"

namespace planner {
namespace {

constexpr int kTile = 64;  // Philox blocks per tile; a tile is 256 normals

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

}  // namespace

void fill_normal(const NormalStream& st, std::uint64_t first, std::size_t count, float* out) {
  if (count == 0) return;
  const std::uint32_t k0 = static_cast<std::uint32_t>(st.seed);
  const std::uint32_t k1 = static_cast<std::uint32_t>(st.seed >> 32);
  std::uint64_t block = first / 4;
  const std::uint64_t last_block = (first + count - 1) / 4;
  std::size_t written = 0;
  alignas(64) float tile[4 * kTile];
  while (block <= last_block) {
    const int nb = static_cast<int>(
        (last_block - block + 1) < static_cast<std::uint64_t>(kTile) ? (last_block - block + 1) : kTile);
    alignas(64) std::uint32_t x0[kTile], x1[kTile], x2[kTile], x3[kTile];
    for (int j = 0; j < nb; ++j) {
      const Philox4x32 r = philox4x32_10(static_cast<std::uint32_t>(block + j), st.c1, st.c2, st.c3, k0, k1);
      x0[j] = r.v[0];
      x1[j] = r.v[1];
      x2[j] = r.v[2];
      x3[j] = r.v[3];
    }
    for (int j = 0; j < nb; ++j) {
      box_muller(x0[j], x1[j], tile[4 * j + 0], tile[4 * j + 1]);
      box_muller(x2[j], x3[j], tile[4 * j + 2], tile[4 * j + 3]);
    }
    // Copy the part of this tile that lies inside [first, first + count).
    const std::uint64_t tile_first = block * 4;
    const std::uint64_t lo = first > tile_first ? first - tile_first : 0;
    std::uint64_t hi = static_cast<std::uint64_t>(4 * nb);
    const std::uint64_t end = first + count;
    if (tile_first + hi > end) hi = end - tile_first;
    for (std::uint64_t i = lo; i < hi; ++i) out[written++] = tile[i];
    block += static_cast<std::uint64_t>(nb);
  }
}

}  // namespace planner
