// Trajectory scorers: the only component that knows the model.
//
// score() maps one problem's state [S] (and context [C] when context_dim() > 0) and a
// block of action sequences [rows, H, A] to returns [rows] (sum of rewards over the
// horizon; larger is better). It must be
// thread-safe: the planner calls it concurrently on disjoint row blocks, each with its
// own scratch of scratch_floats(rows, H) floats. It must not allocate.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace planner {

using Params = std::map<std::string, double>;

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual std::string name() const = 0;
  virtual int state_dim() const = 0;   // S
  virtual int action_dim() const = 0;  // A
  virtual int context_dim() const { return 0; }  // C; 0 = the scorer takes no context
  // The model's action box [A] (may be +-inf).
  virtual void default_bounds(float* lower, float* upper) const = 0;
  // Rows per block the scorer handles best (the planner's work item).
  virtual int block_rows() const { return 64; }
  // Below this many rows x steps per iteration the planner stays on one thread
  // (fork-join would cost more than the work); cheap analytic models want thousands.
  virtual long long min_parallel_steps() const { return 4096; }
  virtual std::size_t scratch_floats(int /*rows*/, int /*horizon*/) const { return 0; }
  virtual void score(const float* state, const float* context, const float* actions, int rows, int horizon,
                     float* returns, float* scratch) const = 0;
};

// A scorer from a C++ callable with the same contract as Scorer::score (for C++ control
// loops that already have a model function). Python callables use ask()/tell() instead.
class CallbackScorer : public Scorer {
 public:
  using Fn = std::function<void(const float* state, const float* actions, int rows, int horizon, float* returns)>;
  CallbackScorer(int state_dim, int action_dim, Fn fn, std::vector<float> lower = {}, std::vector<float> upper = {});
  std::string name() const override { return "callback"; }
  int state_dim() const override { return S_; }
  int action_dim() const override { return A_; }
  void default_bounds(float* lower, float* upper) const override;
  void score(const float* state, const float* context, const float* actions, int rows, int horizon,
             float* returns, float* scratch) const override;

 private:
  int S_, A_;
  Fn fn_;
  std::vector<float> lower_, upper_;
};

// Analytic scorers by name: "pendulum", "cartpole", "point_mass", "diff_drive".
// params override the defaults; an unknown key raises ValueError listing the known ones.
std::shared_ptr<Scorer> make_scorer(const std::string& name, const Params& params = {});
std::vector<std::string> scorer_names();

}  // namespace planner
