// What lets one definition serve the CPU build and the CUDA kernels: PLANNER_HD marks a
// function for both when nvcc compiles it (plain `inline` otherwise), and the few
// primitives that are spelled differently on the device (bit casts, IEEE-rounded
// division and square root, the high word of a 32-bit product) have one name here.
#pragma once

#include <cmath>
#include <cstdint>
#if !defined(__CUDA_ARCH__)
#include <bit>
#endif

#if defined(__CUDACC__)
#define PLANNER_HD __host__ __device__ __forceinline__
#else
#define PLANNER_HD inline
#endif

namespace planner::hd {

PLANNER_HD float bits_to_float(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

PLANNER_HD std::uint32_t float_to_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return std::bit_cast<std::uint32_t>(x);
#endif
}

// a / b rounded to nearest (the device's `/` may be compiled approximate; this never is).
PLANNER_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

PLANNER_HD float sqrt_rn(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

// The high 32 bits of the 64-bit product a * b.
PLANNER_HD std::uint32_t mulhi(std::uint32_t a, std::uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(a) * b) >> 32);
#endif
}

}  // namespace planner::hd
