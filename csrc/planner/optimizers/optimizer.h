// Ask/tell sampling optimizers over action sequences, batched over B problems.
//
// An optimizer never sees the model. One iteration is:
//   n = prepare();                        // serial: population size, injected rows
//   sample_rows(b, n0, n1, scratch) ...   // thread-safe: fill rows [n0, n1) of problem b
//   update(returns [B, n]);               // serial: refit the distribution
// CEM, iCEM and MPPI differ only in the population they build and in update().
//
// Layouts (row-major, float32): population [B, N, H, A]; mean, std, solution
// [B, H, A]; returns [B, N] with larger = better. Non-finite returns rank worst; a
// problem whose returns are all non-finite keeps its distribution for that iteration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "planner/common/buffer.h"
#include "planner/common/philox.h"
#include "planner/optimizers/config.h"

namespace planner {

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, int batch, int action_dim);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const OptimizerConfig& config() const { return cfg_; }
  int batch() const { return B_; }
  int samples() const { return N_; }
  int horizon() const { return H_; }
  int action_dim() const { return A_; }
  int iteration() const { return iter_; }
  const float* lower() const { return lower_.data(); }  // [A]
  const float* upper() const { return upper_.data(); }  // [A]

  // Starts a new plan from the current (warm-started) distribution: iteration 0.
  void begin();
  // Builds the next population's fixed rows (injected candidates, carried elites, the
  // mean) and returns its size n <= N. Rows [fixed_rows(b), n) still need sample_rows().
  int prepare();
  int fixed_rows(int b) const { return fixed_rows_[b]; }
  int active() const { return active_; }
  // Fills sampled rows [n0, n1) of problem b. Thread-safe across disjoint (b, rows);
  // scratch holds scratch_floats() floats private to the calling thread.
  virtual void sample_rows(int b, int n0, int n1, float* scratch);
  virtual std::size_t scratch_floats() const { return 0; }
  // Refits from returns [B, active()] (row stride `stride` >= active()).
  void update(const float* returns, int stride);

  // Warm start: drops the first `steps` steps of the plan, refills the tail with the
  // initial mean, resets std, and moves to a fresh noise stream.
  void shift(int steps);
  // Back to the initial distribution, step counter 0, no carried elites.
  void reset();
  // Problem b only (one robot's episode ended): its mean, std and carried elites go
  // back to the initial ones; the others and the step counter are untouched.
  void reset_problem(int b);

  // Injects candidates [B, P, H, A] (e.g. a policy prior) into every population until
  // the next shift() or reset(). Clipped to the box. P = 0 clears.
  void set_candidates(const float* candidates, int count);
  int candidates() const { return P_; }
  // Largest P that leaves room for sampled rows in every iteration.
  int max_candidates() const;

  float* population() { return pop_.data(); }              // [B, N, H, A]
  const float* population() const { return pop_.data(); }  // [B, N, H, A]
  const float* mean() const { return mean_.data(); }       // [B, H, A]
  const float* stddev() const { return std_.data(); }      // [B, H, A]
  // The sequence to execute: the mean for CEM and MPPI, the best sample for iCEM.
  virtual const float* solution() const { return mean_.data(); }
  // Best finite return seen for problem b in the current plan; -inf when no sample has
  // scored finite, in which case the distribution (and so the plan) is the warm-started
  // previous plan.
  float best_return(int b) const { return best_return_[b]; }
  // Samples of problem b that scored NaN or inf in the current plan.
  int nonfinite(int b) const { return nonfinite_[b]; }

 protected:
  // Population size of iteration i (default: N).
  virtual int population_size(int i) const;
  // Fixed rows the method itself reserves in every population (carried elites, mean).
  virtual int reserved_rows() const { return 0; }
  // Sorts the first k entries of order[0, finite) by return, best first (ties: lower
  // row first), so every build and the reference pick the same elites.
  static void sort_top(const float* returns, int* order, int finite, int k);
  // Writes method-specific fixed rows of problem b starting at row `row`; returns how
  // many (default: none).
  virtual int fill_fixed_rows(int b, int row, int limit);
  // Refits problem b from its returns; `order` lists the finite rows (the method may
  // reorder it, e.g. to rank the best first).
  virtual void update_problem(int b, const float* returns, int* order, int finite) = 0;
  virtual void on_shift(int /*steps*/) {}
  virtual void on_reset() {}
  virtual void on_reset_problem(int /*b*/) {}
  virtual void on_begin() {}

  NormalStream stream(int b, int redraw = 0) const;
  // a = clip(mean + std * eps) for rows [n0, n1) of problem b whose eps are in place;
  // applies truncated redraws when configured. eps_first is the stream index of the
  // first value (for redraws).
  void finish_rows(int b, int n0, int n1);
  // Blends the fitted moments into mean/std with momentum and clamps std.
  void blend(int b, const float* fit_mean, const float* fit_std);
  float* row(int b, int n) { return pop_.data() + (static_cast<std::size_t>(b) * N_ + n) * HA_; }
  const float* row(int b, int n) const {
    return pop_.data() + (static_cast<std::size_t>(b) * N_ + n) * HA_;
  }
  void clip_row(float* r) const;

  OptimizerConfig cfg_;
  int B_, N_, H_, A_, HA_;
  Buffer<float> lower_, upper_, init_mean_, init_std_;  // [A]
  Buffer<float> lower_ha_, upper_ha_;                   // box broadcast to [H, A]
  Buffer<float> mean_, std_;                            // [B, H, A]
  Buffer<float> pop_;                                   // [B, N, H, A]
  Buffer<float> cand_;                                  // [B, P, H, A]
  Buffer<float> fit_mean_, fit_std_;                    // [H, A] scratch for update
  Buffer<int> order_;                                   // [N] scratch for update
  Buffer<float> best_return_;                           // [B]
  Buffer<int> nonfinite_;                               // [B]
  int P_ = 0;
  int iter_ = 0;
  int active_ = 0;
  Buffer<int> fixed_rows_;  // [B]: problems can carry different numbers of elites
  std::uint32_t step_ = 0;
};

// Creates "cem", "icem" or "mppi"; throws ValueError naming the known ones otherwise.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, int batch, int action_dim);
// Registered optimizer names, in a stable order.
std::vector<std::string> optimizer_names();

}  // namespace planner
