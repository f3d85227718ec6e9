// Differential-drive robot (kinematic unicycle driven by wheel speeds), the problem
// class of MPPI-Generic's published CPU/GPU comparison, so our GPU figures can be put
// beside theirs. State [S=3] = (x, y, yaw); action [A=2] = (left, right) wheel angular
// velocity in rad/s, clipped to +-max_wheel_speed. v = r (wl + wr) / 2,
// w = r (wr - wl) / track; explicit Euler with dt. Reward of a step, after it:
//   -(|p - goal|^2 + yaw_weight wrap(yaw - goal_yaw)^2 + action_weight |u|^2)
//   - obstacle_cost if inside the circular obstacle.
#include <cmath>

#include "planner/common/fastmath.h"
#include "planner/scorers/analytic.h"

namespace planner::analytic {

const Defaults& diff_drive_defaults() {
  static const Defaults d{{"dt", 0.02},           {"wheel_radius", 1.0},    {"track", 1.0},
                          {"max_wheel_speed", 1.0}, {"goal_x", 2.0},          {"goal_y", 2.0},
                          {"goal_yaw", 0.0},        {"yaw_weight", 0.1},      {"action_weight", 0.01},
                          {"obstacle_x", 1.0},      {"obstacle_y", 1.0},      {"obstacle_radius", 0.3},
                          {"obstacle_cost", 100.0}};
  return d;
}

namespace {

class DiffDrive final : public Scorer {
 public:
  explicit DiffDrive(const Params& p)
      : table_("diff_drive", diff_drive_defaults(), p) {
    dt_ = table_.get("dt");
    r_ = table_.get("wheel_radius");
    track_ = table_.get("track");
    require(dt_ > 0 && r_ > 0 && track_ > 0, "params: diff_drive needs dt, wheel_radius, track > 0");
    umax_ = table_.get("max_wheel_speed");
    gx_ = table_.get("goal_x");
    gy_ = table_.get("goal_y");
    gyaw_ = table_.get("goal_yaw");
    yw_ = table_.get("yaw_weight");
    aw_ = table_.get("action_weight");
    ox_ = table_.get("obstacle_x");
    oy_ = table_.get("obstacle_y");
    orad2_ = table_.get("obstacle_radius") * table_.get("obstacle_radius");
    ocost_ = table_.get("obstacle_cost");
  }
  std::string name() const override { return "diff_drive"; }
  int state_dim() const override { return 3; }
  int action_dim() const override { return 2; }
  void default_bounds(float* lo, float* hi) const override {
    lo[0] = lo[1] = -umax_;
    hi[0] = hi[1] = umax_;
  }
  std::size_t scratch_floats(int, int H) const override { return block_scratch(H, 2); }

  void score(const float* s, const float*, const float* actions, int rows, int H, float* returns, float* scratch) const override {
    // Locals, not members, so the loop vectorizes (no aliasing through *this).
    const float dt = dt_, r = r_, track = track_, umax = umax_, gx = gx_, gy = gy_, gyaw = gyaw_, yw = yw_,
                aw = aw_, obx = ox_, oby = oy_, orad2 = orad2_, ocost = ocost_;
    for_blocks(actions, rows, H, 2, returns, scratch, [=](const float* u, float* ret) {
      alignas(64) float x[kLanes], y[kLanes], yaw[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        x[l] = s[0];
        y[l] = s[1];
        yaw[l] = s[2];
        ret[l] = 0.0f;
      }
      for (int t = 0; t < H; ++t) {
        const float* ul = u + (2 * t) * kLanes;
        const float* ur = u + (2 * t + 1) * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const float wl = fm::clamp(ul[l], -umax, umax);
          const float wr = fm::clamp(ur[l], -umax, umax);
          const float v = 0.5f * r * (wl + wr);
          const float w = r * (wr - wl) / track;
          x[l] += v * fm::cos(yaw[l]) * dt;
          y[l] += v * fm::sin(yaw[l]) * dt;
          yaw[l] += w * dt;
          const float dx = x[l] - gx, dy = y[l] - gy;
          const float dyaw = fm::wrap_angle(yaw[l] - gyaw);
          const float ox = x[l] - obx, oy = y[l] - oby;
          const float hit = (ox * ox + oy * oy < orad2) ? ocost : 0.0f;
          ret[l] -= dx * dx + dy * dy + yw * dyaw * dyaw + aw * (wl * wl + wr * wr) + hit;
        }
      }
    });
  }

 private:
  ParamTable table_;
  float dt_, r_, track_, umax_, gx_, gy_, gyaw_, yw_, aw_, ox_, oy_, orad2_, ocost_;
};

}  // namespace

std::shared_ptr<Scorer> make_diff_drive(const Params& p) { return std::make_shared<DiffDrive>(p); }

}  // namespace planner::analytic
