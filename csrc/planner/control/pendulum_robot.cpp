#include "planner/control/pendulum_robot.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "planner/common/errors.h"

namespace planner::control {
namespace {

__extension__ typedef unsigned __int128 u128;  // PCG64's 128-bit state (GCC/Clang)

// NumPy's SeedSequence(seed).generate_state(4, np.uint64): the entropy hashing that
// np.random.default_rng(seed) and gymnasium's seeding feed into PCG64.
void seed_sequence_state(std::uint64_t seed, std::uint64_t out[4]) {
  constexpr std::uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u, kInitB = 0x8b51f9ddu, kMultB = 0x58f38dedu;
  constexpr std::uint32_t kMixL = 0xca01f9ddu, kMixR = 0x4973f715u;
  constexpr int kPool = 4, kShift = 16;
  // The seed as little-endian 32-bit words; 0 is one word, as in NumPy.
  std::uint32_t entropy[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  const int words = (seed >> 32) != 0 ? 2 : 1;
  std::uint32_t hash_const = kInitA;
  auto hashmix = [&](std::uint32_t value) {
    value ^= hash_const;
    hash_const *= kMultA;
    value *= hash_const;
    return value ^ (value >> kShift);
  };
  auto mix = [](std::uint32_t x, std::uint32_t y) {
    const std::uint32_t r = kMixL * x - kMixR * y;
    return r ^ (r >> kShift);
  };
  std::uint32_t pool[kPool];
  for (int i = 0; i < kPool; ++i) pool[i] = hashmix(i < words ? entropy[i] : 0u);
  for (int src = 0; src < kPool; ++src)
    for (int dst = 0; dst < kPool; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
  std::uint32_t state[8];
  std::uint32_t hb = kInitB;
  for (int i = 0; i < 8; ++i) {
    std::uint32_t v = pool[i % kPool] ^ hb;
    hb *= kMultB;
    v *= hb;
    state[i] = v ^ (v >> kShift);
  }
  for (int i = 0; i < 4; ++i) out[i] = state[2 * i] | (static_cast<std::uint64_t>(state[2 * i + 1]) << 32);
}

// NumPy's PCG64 (XSL-RR 128/64) and Generator.random()'s 53-bit doubles.
class Pcg64 {
 public:
  explicit Pcg64(std::uint64_t seed) {
    std::uint64_t s[4];
    seed_sequence_state(seed, s);
    const u128 initstate = (static_cast<u128>(s[0]) << 64) | s[1];
    const u128 initseq = (static_cast<u128>(s[2]) << 64) | s[3];
    inc_ = (initseq << 1) | 1u;
    state_ = 0;
    advance();
    state_ += initstate;
    advance();
  }
  std::uint64_t next() {
    advance();
    const auto hi = static_cast<std::uint64_t>(state_ >> 64), lo = static_cast<std::uint64_t>(state_);
    const auto rot = static_cast<unsigned>(state_ >> 122);
    const std::uint64_t x = hi ^ lo;
    return (x >> rot) | (x << ((64u - rot) & 63u));
  }
  double next_double() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  void advance() {
    constexpr u128 kMult = (static_cast<u128>(2549297995355413924ULL) << 64) | 4865540595714422341ULL;
    state_ = state_ * kMult + inc_;
  }
  u128 state_ = 0, inc_ = 0;
};

void check_params(const PendulumParams& p) {
  for (double v : {p.g, p.m, p.l, p.dt, p.max_speed, p.max_torque})
    require(std::isfinite(v), "SimulatedPendulum: parameters must be finite");
  require(p.m > 0 && p.l > 0 && p.dt > 0 && p.max_speed > 0 && p.max_torque > 0,
          "SimulatedPendulum: m, l, dt, max_speed and max_torque must be > 0; got m=", p.m, " l=", p.l, " dt=", p.dt,
          " max_speed=", p.max_speed, " max_torque=", p.max_torque);
}

}  // namespace

double angle_normalize(double x) {
  constexpr double kTwoPi = 2.0 * std::numbers::pi;
  // Python's float % is floored: fmod, then move a negative remainder into [0, 2 pi).
  double r = std::fmod(x + std::numbers::pi, kTwoPi);
  if (r < 0.0) r += kTwoPi;
  return r - std::numbers::pi;
}

SimulatedPendulum::SimulatedPendulum(PendulumParams params, PendulumObservation observation, std::uint64_t seed)
    : params_(params), observation_(observation) {
  check_params(params_);
  reset(seed);
}

void SimulatedPendulum::reset(std::uint64_t seed) {
  // gymnasium: state = np_random.uniform(low=[-pi, -1], high=[pi, 1]), i.e. low + (high - low) * random().
  Pcg64 rng(seed);
  theta_ = -std::numbers::pi + 2.0 * std::numbers::pi * rng.next_double();
  theta_dot_ = -1.0 + 2.0 * rng.next_double();
  action_ = 0.0f;
  last_reward_ = 0.0;
  return_ = 0.0;
  steps_ = 0;
}

void SimulatedPendulum::set_state(double theta, double theta_dot) {
  require(std::isfinite(theta) && std::isfinite(theta_dot), "SimulatedPendulum: state must be finite");
  theta_ = theta;
  theta_dot_ = theta_dot;
}

void SimulatedPendulum::set_params(const PendulumParams& params) {
  check_params(params);
  params_ = params;
}

void SimulatedPendulum::read(float* obs) {
  if (observation_ == PendulumObservation::kGym) {
    obs[0] = static_cast<float>(std::cos(theta_));
    obs[1] = static_cast<float>(std::sin(theta_));
    obs[2] = static_cast<float>(theta_dot_);
  } else {
    obs[0] = static_cast<float>(theta_);
    obs[1] = static_cast<float>(theta_dot_);
  }
}

void SimulatedPendulum::step() {
  const PendulumParams& p = params_;
  const auto umax = static_cast<float>(p.max_torque);
  // NaN stays NaN through clamp, as through np.clip: the state then turns NaN, as in gymnasium.
  const float u = std::clamp(action_, -umax, umax);
  const double w = angle_normalize(theta_);
  // float32 torque terms: see the header (gymnasium under NumPy 2).
  const float u_cost = 0.001f * (u * u);
  const double cost = w * w + 0.1 * (theta_dot_ * theta_dot_) + static_cast<double>(u_cost);
  const auto k_u = static_cast<float>(3.0 / (p.m * (p.l * p.l)));
  const double torque = static_cast<double>(k_u * u);
  double v = theta_dot_ + (3.0 * p.g / (2.0 * p.l) * std::sin(theta_) + torque) * p.dt;
  v = std::clamp(v, -p.max_speed, p.max_speed);
  theta_ += v * p.dt;
  theta_dot_ = v;
  last_reward_ = -cost;
  return_ += last_reward_;
  ++steps_;
}

}  // namespace planner::control
