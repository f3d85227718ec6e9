// Branch-free float math built only from +, -, *, / and sqrt, so that
//  - loops over it vectorize (no libm calls), and
//  - every build (any SIMD width, the CUDA kernels, which compile these same functions,
//    and planner/reference.py in NumPy float32) rounds it identically. Keep the
//    operation order: the reference mirrors it.
// Accuracy: a few ulp on the ranges stated; enough for sampling and cost functions.
#pragma once

#include <cstdint>

#include "planner/common/host_device.h"

namespace planner::fm {

inline constexpr float kPi = 3.14159265358979323846f;
inline constexpr float kPiHi = 3.140625f;                 // 8 significant bits: k*kPiHi is exact
inline constexpr float kPiLo = 9.67653589793e-4f;         // pi - kPiHi
inline constexpr float kInvPi = 0.318309886183790672f;
inline constexpr float kLn2Hi = 0.693145751953125f;
inline constexpr float kLn2Lo = 1.42860682030941723212e-6f;
inline constexpr float kSqrt2 = 1.41421356237309504880f;
inline constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23

// Round to nearest even for |x| < 2^22 by the magic-number trick: plain adds that
// vectorize (libm rounding calls block GCC's vectorizer) and round the same everywhere.
PLANNER_HD float round_near(float x) { return (x + kRoundMagic) - kRoundMagic; }
PLANNER_HD float floor_small(float x) {
  const float r = round_near(x);
  return r > x ? r - 1.0f : r;
}

// min(max(x, lo), hi) with comparisons (std::fmin/fmax do not vectorize); NaN stays NaN.
PLANNER_HD float clamp(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// sin(q) for |q| <= pi/2 (Taylor to q^11, error < 6e-8).
PLANNER_HD float sin_poly(float q) {
  const float q2 = q * q;
  float p = static_cast<float>(-1.0 / 39916800.0);
  p = p * q2 + static_cast<float>(1.0 / 362880.0);
  p = p * q2 + static_cast<float>(-1.0 / 5040.0);
  p = p * q2 + static_cast<float>(1.0 / 120.0);
  p = p * q2 + static_cast<float>(-1.0 / 6.0);
  return q + (q * q2) * p;
}

// cos(q) for |q| <= pi/2 (Taylor to q^12, error < 1e-8).
PLANNER_HD float cos_poly(float q) {
  const float q2 = q * q;
  float p = static_cast<float>(1.0 / 479001600.0);
  p = p * q2 + static_cast<float>(-1.0 / 3628800.0);
  p = p * q2 + static_cast<float>(1.0 / 40320.0);
  p = p * q2 + static_cast<float>(-1.0 / 720.0);
  p = p * q2 + static_cast<float>(1.0 / 24.0);
  p = p * q2 + -0.5f;
  return 1.0f + q2 * p;
}

// sin(x) for |x| up to ~1e4 (Cody-Waite reduction by pi).
PLANNER_HD float sin(float x) {
  const float k = round_near(x * kInvPi);
  const float r = (x - k * kPiHi) - k * kPiLo;
  const float odd = k - 2.0f * floor_small(k * 0.5f);  // 0 or 1
  return (1.0f - 2.0f * odd) * sin_poly(r);
}

PLANNER_HD float cos(float x) {
  const float k = round_near(x * kInvPi);
  const float r = (x - k * kPiHi) - k * kPiLo;
  const float odd = k - 2.0f * floor_small(k * 0.5f);
  return (1.0f - 2.0f * odd) * cos_poly(r);
}

// x wrapped into [-pi, pi) (gymnasium's angle_normalize), for |x| up to ~1e4.
PLANNER_HD float wrap_angle(float x) {
  const float k = floor_small((x + kPi) * (0.5f * kInvPi));
  return (x - k * (2.0f * kPiHi)) - k * (2.0f * kPiLo);
}

// Natural log for finite x > 0 (normal range), error < 2 ulp.
PLANNER_HD float log(float x) {
  const std::uint32_t bits = hd::float_to_bits(x);
  int e = static_cast<int>((bits >> 23) & 0xffu) - 127;
  float m = hd::bits_to_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool big = m > kSqrt2;
  m = big ? m * 0.5f : m;  // [sqrt(1/2), sqrt(2)]
  e = big ? e + 1 : e;
  const float s = hd::div_rn(m - 1.0f, m + 1.0f);
  const float s2 = s * s;
  float p = static_cast<float>(2.0 / 9.0);
  p = p * s2 + static_cast<float>(2.0 / 7.0);
  p = p * s2 + static_cast<float>(2.0 / 5.0);
  p = p * s2 + static_cast<float>(2.0 / 3.0);
  p = p * s2 + 2.0f;
  const float fe = static_cast<float>(e);
  return fe * kLn2Hi + (fe * kLn2Lo + s * p);
}


// exp(x), clamped to [-87, 88] (no overflow to inf, no denormals). Degree-6
// polynomial on |r| <= ln2/2: relative error < 2e-7.
PLANNER_HD float exp(float x) {
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
  return p * hd::bits_to_float(static_cast<std::uint32_t>(ki + 127) << 23);
}

// mish(x) = x tanh(softplus(x)) = x n / (n + 2) with n = e^x (e^x + 2).
PLANNER_HD float mish(float x) {
  const float e = exp(x < 20.0f ? x : 20.0f);  // beyond 20, mish(x) == x in float
  const float n = e * (e + 2.0f);
  return x > 20.0f ? x : x * n / (n + 2.0f);
}

PLANNER_HD float elu(float x) { return x > 0.0f ? x : exp(x) - 1.0f; }

PLANNER_HD float tanh(float x) {
  const float e = exp(2.0f * (x < 15.0f ? (x > -15.0f ? x : -15.0f) : 15.0f));
  return (e - 1.0f) / (e + 1.0f);
}

}  // namespace planner::fm
