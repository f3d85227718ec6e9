// Pendulum-v1 exactly as gymnasium defines it. State [S=2] = (theta, theta_dot) as in
// env.unwrapped.state (theta = 0 upright); action [A=1] = torque, clipped to
// +-max_torque. Reward of a step, on the state before it:
//   -(wrap(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)
// then theta_dot += (3g/(2l) sin(theta) + 3/(m l^2) u) dt, clipped to +-max_speed,
// and theta += theta_dot dt.
#include <cmath>

#include "planner/common/fastmath.h"
#include "planner/scorers/analytic.h"

namespace planner::analytic {

const Defaults& pendulum_defaults() {
  static const Defaults d{{"g", 10.0}, {"m", 1.0}, {"l", 1.0}, {"dt", 0.05}, {"max_speed", 8.0}, {"max_torque", 2.0}};
  return d;
}

namespace {

class Pendulum final : public Scorer {
 public:
  explicit Pendulum(const Params& p)
      : table_("pendulum", pendulum_defaults(), p) {
    const float g = table_.get("g"), m = table_.get("m"), l = table_.get("l");
    require(m > 0 && l > 0, "params: pendulum needs m > 0 and l > 0");
    dt_ = table_.get("dt");
    require(dt_ > 0, "params: pendulum needs dt > 0");
    k_sin_ = 3.0f * g / (2.0f * l);
    k_u_ = 3.0f / (m * l * l);
    max_speed_ = table_.get("max_speed");
    max_torque_ = table_.get("max_torque");
  }
  std::string name() const override { return "pendulum"; }
  int state_dim() const override { return 2; }
  int action_dim() const override { return 1; }
  void default_bounds(float* lo, float* hi) const override {
    lo[0] = -max_torque_;
    hi[0] = max_torque_;
  }
  std::size_t scratch_floats(int, int H) const override { return block_scratch(H, 1); }

  void score(const float* state, const float*, const float* actions, int rows, int H, float* returns,
             float* scratch) const override {
    // Locals, not members: the compiler cannot prove `ret` does not alias *this.
    const float dt = dt_, ks = k_sin_, ku = k_u_, vmax = max_speed_, umax = max_torque_;
    for_blocks(actions, rows, H, 1, returns, scratch, [=](const float* u, float* ret) {
      alignas(64) float th[kLanes], thd[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        th[l] = state[0];
        thd[l] = state[1];
        ret[l] = 0.0f;
      }
      for (int t = 0; t < H; ++t) {
        const float* ut = u + t * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const float a = fm::clamp(ut[l], -umax, umax);
          const float w = fm::wrap_angle(th[l]);
          ret[l] -= w * w + 0.1f * thd[l] * thd[l] + 0.001f * a * a;
          float v = thd[l] + (ks * fm::sin(th[l]) + ku * a) * dt;
          v = fm::clamp(v, -vmax, vmax);
          th[l] += v * dt;
          thd[l] = v;
        }
      }
    });
  }

 private:
  ParamTable table_;
  float dt_, k_sin_, k_u_, max_speed_, max_torque_;
};

}  // namespace

std::shared_ptr<Scorer> make_pendulum(const Params& p) { return std::make_shared<Pendulum>(p); }

}  // namespace planner::analytic
