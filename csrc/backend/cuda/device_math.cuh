// The CPU's float math and Gaussian stream on the device: planner/common/fastmath.h and
// philox.h are compiled for both (PLANNER_HD), so every kernel runs the same operations in
// the same order as the CPU build. A file that includes this must be compiled with
// -fmad=false (the CPU compiles with -ffp-contract=off) so that nothing is contracted
// into an FMA; then every value rounds exactly like the CPU's. The parity tests
// (tests/cpp/test_cuda.cpp) compare bits.
#pragma once

#include <cstdint>

#include "planner/common/fastmath.h"
#include "planner/common/philox.h"

namespace planner::gpu::dm {

#ifndef PLANNER_CUDA_NO_FMAD
#error "device_math.cuh must be compiled with -fmad=false (CMakeLists.txt sets it with PLANNER_CUDA_NO_FMAD)"
#endif

using fm::clamp;
using fm::cos;
using fm::exp;
using fm::kPi;
using fm::sin;
using fm::wrap_angle;

inline constexpr float kInf = __builtin_huge_valf();
inline constexpr int kTileBlocks = kNormalTileBlocks;
inline constexpr int kTile = kNormalTile;

// A NormalStream (seed, c1 = problem, c2 = iteration | redraw << 24, c3 = control step)
// with the key split into its two words.
struct Stream {
  std::uint32_t k0, k1, c1, c2, c3;
};

__device__ __forceinline__ Stream make_stream(std::uint64_t seed, int problem, int iteration, int redraw,
                                              std::uint32_t step) {
  return {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
          static_cast<std::uint32_t>(problem),
          (static_cast<std::uint32_t>(iteration) & 0xffffffu) | (static_cast<std::uint32_t>(redraw) << 24), step};
}

// The four normals of Philox block `block`: stream elements tile * 256 + lane * 64 + j
// for lane 0..3, where block = tile * 64 + j (the tiled layout of philox.h).
__device__ __forceinline__ void normal_block(const Stream& s, std::uint32_t block, float z[4]) {
  const Philox4x32 r = philox4x32_10(block, s.c1, s.c2, s.c3, s.k0, s.k1);
  box_muller(r.v[0], r.v[1], z[0], z[1]);
  box_muller(r.v[2], r.v[3], z[2], z[3]);
}

// Element e of the stream alone (planner::normal_at): for the rare truncation redraws.
__device__ __forceinline__ float normal_at(const Stream& s, std::uint32_t e) {
  const std::uint32_t o = e % kTile;
  const std::uint32_t block = (e / kTile) * kTileBlocks + o % kTileBlocks;
  const int lane = static_cast<int>(o / kTileBlocks);
  float z[4];
  normal_block(s, block, z);
  return z[lane];
}

}  // namespace planner::gpu::dm
