// Continuous cart-pole swing-up with the classic cart-pole equations (Barto et al. 1983,
// as in gymnasium's CartPole) and explicit Euler steps. State [S=4] =
// (x, x_dot, theta, theta_dot), theta = 0 upright, pi hanging; action [A=1] in [-1, 1]
// scales force_mag. Reward of a step, on the state before it:
//   cos(theta) - x_weight x^2 - u_weight u^2
#include <cmath>

#include "planner/common/fastmath.h"
#include "planner/scorers/analytic.h"

namespace planner::analytic {
namespace {

class CartPole final : public Scorer {
 public:
  explicit CartPole(const Params& p)
      : table_("cartpole",
               {{"gravity", 9.8},
                {"masscart", 1.0},
                {"masspole", 0.1},
                {"length", 0.5},
                {"force_mag", 10.0},
                {"dt", 0.02},
                {"x_weight", 0.05},
                {"u_weight", 0.001}},
               p) {
    g_ = table_.get("gravity");
    mp_ = table_.get("masspole");
    total_ = table_.get("masscart") + mp_;
    len_ = table_.get("length");
    require(mp_ > 0 && total_ > mp_ && len_ > 0, "params: cartpole needs positive masses and length");
    pml_ = mp_ * len_;
    force_ = table_.get("force_mag");
    dt_ = table_.get("dt");
    xw_ = table_.get("x_weight");
    uw_ = table_.get("u_weight");
  }
  std::string name() const override { return "cartpole"; }
  int state_dim() const override { return 4; }
  int action_dim() const override { return 1; }
  void default_bounds(float* lo, float* hi) const override {
    lo[0] = -1.0f;
    hi[0] = 1.0f;
  }
  std::size_t scratch_floats(int, int H) const override { return block_scratch(H, 1); }

  void score(const float* s, const float*, const float* actions, int rows, int H, float* returns, float* scratch) const override {
    for_blocks(actions, rows, H, 1, returns, scratch, [&](const float* u, float* ret) {
      alignas(64) float x[kLanes], xd[kLanes], th[kLanes], thd[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        x[l] = s[0];
        xd[l] = s[1];
        th[l] = s[2];
        thd[l] = s[3];
        ret[l] = 0.0f;
      }
      for (int t = 0; t < H; ++t) {
        const float* ut = u + t * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const float a = fm::clamp(ut[l], -1.0f, 1.0f);
          const float sn = fm::sin(th[l]), cs = fm::cos(th[l]);
          ret[l] += cs - xw_ * x[l] * x[l] - uw_ * a * a;
          const float temp = (force_ * a + pml_ * thd[l] * thd[l] * sn) / total_;
          const float thacc = (g_ * sn - cs * temp) / (len_ * (4.0f / 3.0f - mp_ * cs * cs / total_));
          const float xacc = temp - pml_ * thacc * cs / total_;
          x[l] += dt_ * xd[l];
          xd[l] += dt_ * xacc;
          th[l] += dt_ * thd[l];
          thd[l] += dt_ * thacc;
        }
      }
    });
  }

 private:
  ParamTable table_;
  float g_, mp_, total_, len_, pml_, force_, dt_, xw_, uw_;
};

}  // namespace

std::shared_ptr<Scorer> make_cartpole(const Params& p) { return std::make_shared<CartPole>(p); }

}  // namespace planner::analytic
