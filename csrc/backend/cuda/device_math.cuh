// Device twins of planner/common/fastmath.h and planner/common/philox.h + random.cpp:
// the same operations in the same order, so that a file compiled with -fmad=false (the
// CPU compiles with -ffp-contract=off) rounds every value exactly like the CPU build.
// Division and square root are the IEEE-rounded intrinsics; nothing here calls libdevice
// approximations. Keep this file in lockstep with the CPU originals: the parity tests
// (tests/cpp/test_cuda.cpp) compare bits.
#pragma once

#include <cstdint>

namespace planner::gpu::dm {

#ifndef PLANNER_CUDA_NO_FMAD
#error "device_math.cuh must be compiled with -fmad=false (CMakeLists.txt sets it with PLANNER_CUDA_NO_FMAD)"
#endif

inline constexpr float kPi = 3.14159265358979323846f;
inline constexpr float kPiHi = 3.140625f;
inline constexpr float kPiLo = 9.67653589793e-4f;
inline constexpr float kInvPi = 0.318309886183790672f;
inline constexpr float kLn2Hi = 0.693145751953125f;
inline constexpr float kLn2Lo = 1.42860682030941723212e-6f;
inline constexpr float kSqrt2 = 1.41421356237309504880f;
inline constexpr float kRoundMagic = 12582912.0f;
inline constexpr float kInf = __builtin_huge_valf();

__device__ __forceinline__ float round_near(float x) { return (x + kRoundMagic) - kRoundMagic; }
__device__ __forceinline__ float floor_small(float x) {
  const float r = round_near(x);
  return r > x ? r - 1.0f : r;
}

// fm::clamp and std::clamp agree (NaN passes through): x < lo ? lo : (x > hi ? hi : x).
__device__ __forceinline__ float clamp(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

__device__ __forceinline__ float sin_poly(float q) {
  const float q2 = q * q;
  float p = static_cast<float>(-1.0 / 39916800.0);
  p = p * q2 + static_cast<float>(1.0 / 362880.0);
  p = p * q2 + static_cast<float>(-1.0 / 5040.0);
  p = p * q2 + static_cast<float>(1.0 / 120.0);
  p = p * q2 + static_cast<float>(-1.0 / 6.0);
  return q + (q * q2) * p;
}

__device__ __forceinline__ float cos_poly(float q) {
  const float q2 = q * q;
  float p = static_cast<float>(1.0 / 479001600.0);
  p = p * q2 + static_cast<float>(-1.0 / 3628800.0);
  p = p * q2 + static_cast<float>(1.0 / 40320.0);
  p = p * q2 + static_cast<float>(-1.0 / 720.0);
  p = p * q2 + static_cast<float>(1.0 / 24.0);
  p = p * q2 + -0.5f;
  return 1.0f + q2 * p;
}

__device__ __forceinline__ float sin(float x) {
  const float k = round_near(x * kInvPi);
  const float r = (x - k * kPiHi) - k * kPiLo;
  const float odd = k - 2.0f * floor_small(k * 0.5f);
  return (1.0f - 2.0f * odd) * sin_poly(r);
}

__device__ __forceinline__ float cos(float x) {
  const float k = round_near(x * kInvPi);
  const float r = (x - k * kPiHi) - k * kPiLo;
  const float odd = k - 2.0f * floor_small(k * 0.5f);
  return (1.0f - 2.0f * odd) * cos_poly(r);
}

__device__ __forceinline__ float wrap_angle(float x) {
  const float k = floor_small((x + kPi) * (0.5f * kInvPi));
  return (x - k * (2.0f * kPiHi)) - k * (2.0f * kPiLo);
}

__device__ __forceinline__ float log(float x) {
  const std::uint32_t bits = __float_as_uint(x);
  int e = static_cast<int>((bits >> 23) & 0xffu) - 127;
  float m = __uint_as_float((bits & 0x007fffffu) | 0x3f800000u);
  const bool big = m > kSqrt2;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  const float s = __fdiv_rn(m - 1.0f, m + 1.0f);
  const float s2 = s * s;
  float p = static_cast<float>(2.0 / 9.0);
  p = p * s2 + static_cast<float>(2.0 / 7.0);
  p = p * s2 + static_cast<float>(2.0 / 5.0);
  p = p * s2 + static_cast<float>(2.0 / 3.0);
  p = p * s2 + 2.0f;
  const float fe = static_cast<float>(e);
  return fe * kLn2Hi + (fe * kLn2Lo + s * p);
}

__device__ __forceinline__ float exp(float x) {
  x = clamp(x, -87.0f, 88.0f);
  const float k = round_near(x * 1.44269504088896341f);
  const float r = (x - k * kLn2Hi) - k * kLn2Lo;
  float p = static_cast<float>(1.0 / 720.0);
  p = p * r + static_cast<float>(1.0 / 120.0);
  p = p * r + static_cast<float>(1.0 / 24.0);
  p = p * r + static_cast<float>(1.0 / 6.0);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t ki = static_cast<std::int32_t>(k);
  return p * __uint_as_float(static_cast<std::uint32_t>(ki + 127) << 23);
}

// ---- Philox-4x32-10 and the Gaussian stream (planner/common/philox.h, random.cpp) ----

struct Philox4 {
  std::uint32_t v0, v1, v2, v3;
};

__device__ __forceinline__ Philox4 philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                                 std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const std::uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const std::uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const std::uint32_t n0 = hi1 ^ c1 ^ k0;
    const std::uint32_t n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

// A NormalStream (seed, c1 = problem, c2 = iteration | redraw << 24, c3 = control step).
struct Stream {
  std::uint32_t k0, k1, c1, c2, c3;
};

__device__ __forceinline__ Stream make_stream(std::uint64_t seed, int problem, int iteration, int redraw,
                                              std::uint32_t step) {
  return {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
          static_cast<std::uint32_t>(problem),
          (static_cast<std::uint32_t>(iteration) & 0xffffffu) | (static_cast<std::uint32_t>(redraw) << 24), step};
}

__device__ __forceinline__ void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  constexpr float kTwoM24 = 1.0f / 16777216.0f;
  const float u = (static_cast<float>(a >> 8) + 0.5f) * kTwoM24;
  const float v = (static_cast<float>(b >> 8) + 0.5f) * kTwoM24 - 0.5f;
  const float q = v * kPi;
  const float s = sin_poly(q);
  const float c = cos_poly(q);
  const float r = __fsqrt_rn(-2.0f * log(u));
  z0 = r * (c * c - s * s);
  z1 = r * (2.0f * s * c);
}

inline constexpr int kTileBlocks = 64;  // planner::kNormalTileBlocks
inline constexpr int kTile = 4 * kTileBlocks;

// The four normals of Philox block `block`: stream elements tile * 256 + lane * 64 + j
// for lane 0..3, where block = tile * 64 + j (the tiled layout of philox.h).
__device__ __forceinline__ void normal_block(const Stream& s, std::uint32_t block, float z[4]) {
  const Philox4 r = philox4x32_10(block, s.c1, s.c2, s.c3, s.k0, s.k1);
  box_muller(r.v0, r.v1, z[0], z[1]);
  box_muller(r.v2, r.v3, z[2], z[3]);
}

// Element e of the stream alone (planner::normal_at): for the rare truncation redraws.
__device__ __forceinline__ float normal_at(const Stream& s, std::uint32_t e) {
  const std::uint32_t o = e % kTile;
  const std::uint32_t block = (e / kTile) * kTileBlocks + o % kTileBlocks;
  const int lane = static_cast<int>(o / kTileBlocks);
  const Philox4 r = philox4x32_10(block, s.c1, s.c2, s.c3, s.k0, s.k1);
  float z0, z1;
  if (lane < 2) {
    box_muller(r.v0, r.v1, z0, z1);
  } else {
    box_muller(r.v2, r.v3, z0, z1);
  }
  return (lane & 1) ? z1 : z0;
}

}  // namespace planner::gpu::dm
