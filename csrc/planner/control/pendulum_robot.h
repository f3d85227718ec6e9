// SimulatedPendulum: gymnasium's Pendulum-v1 as a Robot, for driving the control loop
// without Python or hardware.
//
// Dynamics and reward are gymnasium's, step for step (theta = 0 upright):
//   reward = -(wrap(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), on the state before the step
//   theta_dot += (3g/(2l) sin(theta) + 3/(m l^2) u) dt, clipped to +-max_speed
//   theta     += theta_dot dt
// with u the last sent torque clipped to +-max_torque. The state is double like
// gymnasium's; the torque terms are float32 products, which is what gymnasium computes
// under NumPy 2 for a float32 action (NEP 50: Python scalars times np.float32 stay
// float32), so observations match env.step() bit for bit.
//
// reset(seed) draws theta in [-pi, pi) and theta_dot in [-1, 1) with NumPy's PCG64
// seeded through SeedSequence, as env.reset(seed=seed) does: the same seed gives the
// same start as `python -m planner eval` episodes.
#pragma once

#include <cstdint>

#include "planner/control/loop.h"

namespace planner::control {

// Pendulum-v1 constants; g, m and l may be changed to shift the dynamics.
struct PendulumParams {
  double g = 10.0;
  double m = 1.0;
  double l = 1.0;
  double dt = 0.05;
  double max_speed = 8.0;
  double max_torque = 2.0;
};

enum class PendulumObservation {
  kGym,    // [cos theta, sin theta, theta_dot], float32, as env.step() returns it
  kState,  // [theta, theta_dot], the true state (env.unwrapped.state), for the analytic scorer
};

class SimulatedPendulum final : public Robot {
 public:
  // Throws ValueError unless m, l, dt, max_speed and max_torque are > 0 and all are finite.
  explicit SimulatedPendulum(PendulumParams params = {}, PendulumObservation observation = PendulumObservation::kGym,
                             std::uint64_t seed = 0);

  int observation_dim() const override { return observation_ == PendulumObservation::kGym ? 3 : 2; }
  int action_dim() const override { return 1; }
  void read(float* obs) override;
  void send(const float* action) override { action_ = action[0]; }
  // Simulated seconds since the last reset.
  double timestamp() override { return static_cast<double>(steps_) * params_.dt; }
  // Advances one dt with the last sent torque (0 before any send) and accumulates the reward.
  void step() override;

  // gymnasium's env.reset(seed=seed); also zeroes the held action, the step count and the return.
  void reset(std::uint64_t seed);
  void set_state(double theta, double theta_dot);
  // Takes effect from the next step (a dynamics shift mid-episode is allowed).
  void set_params(const PendulumParams& params);

  const PendulumParams& params() const { return params_; }
  double theta() const { return theta_; }
  double theta_dot() const { return theta_dot_; }
  double last_reward() const { return last_reward_; }
  double episode_return() const { return return_; }
  long long steps() const { return steps_; }

 private:
  PendulumParams params_;
  PendulumObservation observation_;
  double theta_ = 0.0, theta_dot_ = 0.0;
  float action_ = 0.0f;
  double last_reward_ = 0.0, return_ = 0.0;
  long long steps_ = 0;
};

// gymnasium's angle_normalize: ((x + pi) mod 2 pi) - pi with Python's floored modulo,
// so the result lies in [-pi, pi).
double angle_normalize(double x);

}  // namespace planner::control
