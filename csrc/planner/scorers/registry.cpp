#include <utility>

#include "planner/scorers/analytic.h"

namespace planner {

CallbackScorer::CallbackScorer(int S, int A, Fn fn, std::vector<float> lower, std::vector<float> upper)
    : S_(S), A_(A), fn_(std::move(fn)), lower_(std::move(lower)), upper_(std::move(upper)) {
  require(S >= 1 && A >= 1, "CallbackScorer: state_dim and action_dim must be >= 1");
  require(static_cast<bool>(fn_), "CallbackScorer: fn must be callable");
  require(lower_.empty() || static_cast<int>(lower_.size()) == A, "CallbackScorer: lower must have A values");
  require(upper_.empty() || static_cast<int>(upper_.size()) == A, "CallbackScorer: upper must have A values");
}

void CallbackScorer::default_bounds(float* lo, float* hi) const {
  for (int a = 0; a < A_; ++a) {
    lo[a] = lower_.empty() ? -std::numeric_limits<float>::infinity() : lower_[a];
    hi[a] = upper_.empty() ? std::numeric_limits<float>::infinity() : upper_[a];
  }
}

void CallbackScorer::score(const float* state, const float*, const float* actions, int rows, int H,
                           float* returns, float*) const {
  fn_(state, actions, rows, H, returns);
}

std::vector<std::string> scorer_names() { return {"cartpole", "diff_drive", "pendulum", "point_mass"}; }

std::shared_ptr<Scorer> make_scorer(const std::string& name, const Params& params) {
  if (name == "pendulum") return analytic::make_pendulum(params);
  if (name == "cartpole") return analytic::make_cartpole(params);
  if (name == "point_mass") return analytic::make_point_mass(params);
  if (name == "diff_drive") return analytic::make_diff_drive(params);
  throw_value_error("scorer: unknown name '", name, "'; expected one of cartpole, diff_drive, pendulum, point_mass");
}

}  // namespace planner
