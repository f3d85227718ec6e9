// 2-D point mass (double integrator) driven to a goal. State [S=4] = (px, py, vx, vy);
// action [A=2] = acceleration in [-1, 1]^2. Semi-implicit Euler: v += a dt, p += v dt.
// Reward of a step, after it:
//   -(|p - goal|^2 + velocity_weight |v|^2 + action_weight |a|^2)
#include <cmath>

#include "planner/common/fastmath.h"
#include "planner/scorers/analytic.h"

namespace planner::analytic {
namespace {

class PointMass final : public Scorer {
 public:
  explicit PointMass(const Params& p)
      : table_("point_mass",
               {{"goal_x", 1.0}, {"goal_y", 1.0}, {"dt", 0.05}, {"velocity_weight", 0.1}, {"action_weight", 0.01}},
               p) {
    gx_ = table_.get("goal_x");
    gy_ = table_.get("goal_y");
    dt_ = table_.get("dt");
    require(dt_ > 0, "params: point_mass needs dt > 0");
    vw_ = table_.get("velocity_weight");
    aw_ = table_.get("action_weight");
  }
  std::string name() const override { return "point_mass"; }
  int state_dim() const override { return 4; }
  int action_dim() const override { return 2; }
  void default_bounds(float* lo, float* hi) const override {
    lo[0] = lo[1] = -1.0f;
    hi[0] = hi[1] = 1.0f;
  }
  std::size_t scratch_floats(int, int H) const override { return block_scratch(H, 2); }

  void score(const float* s, const float*, const float* actions, int rows, int H, float* returns, float* scratch) const override {
    for_blocks(actions, rows, H, 2, returns, scratch, [&](const float* u, float* ret) {
      alignas(64) float px[kLanes], py[kLanes], vx[kLanes], vy[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        px[l] = s[0];
        py[l] = s[1];
        vx[l] = s[2];
        vy[l] = s[3];
        ret[l] = 0.0f;
      }
      for (int t = 0; t < H; ++t) {
        const float* ax = u + (2 * t) * kLanes;
        const float* ay = u + (2 * t + 1) * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const float a0 = fm::clamp(ax[l], -1.0f, 1.0f);
          const float a1 = fm::clamp(ay[l], -1.0f, 1.0f);
          vx[l] += a0 * dt_;
          vy[l] += a1 * dt_;
          px[l] += vx[l] * dt_;
          py[l] += vy[l] * dt_;
          const float dx = px[l] - gx_, dy = py[l] - gy_;
          ret[l] -= dx * dx + dy * dy + vw_ * (vx[l] * vx[l] + vy[l] * vy[l]) + aw_ * (a0 * a0 + a1 * a1);
        }
      }
    });
  }

 private:
  ParamTable table_;
  float gx_, gy_, dt_, vw_, aw_;
};

}  // namespace

std::shared_ptr<Scorer> make_point_mass(const Params& p) { return std::make_shared<PointMass>(p); }

}  // namespace planner::analytic
