// Planner: owns an optimizer, a scorer, a thread pool and all scratch memory, and runs
// I ask/score/tell iterations natively per plan() call.
//
// After construction nothing is allocated in plan() (a larger candidate set than any
// before grows one buffer once). plan() is not reentrant; use one Planner per thread,
// or batch robots into B.
#pragma once

#include <memory>

#include "planner/common/buffer.h"
#include "planner/common/thread_pool.h"
#include "planner/optimizers/optimizer.h"
#include "planner/scorers/scorer.h"

namespace planner {

struct PlannerOptions {
  int batch = 1;             // B, problems (robots) solved per call
  int threads = 0;           // threads including the caller; 0 = all hardware threads
  int shift_after_plan = 1;  // warm start: steps dropped after each plan(); 0 = off
};

// Result of one plan(). Pointers view planner-owned buffers, valid until the next
// plan(), shift() or reset().
struct PlanResult {
  const float* action = nullptr;       // [B, A], first step of the plan, inside the box
  const float* plan = nullptr;         // [B, H, A], the whole sequence (before any shift)
  const float* best_return = nullptr;  // [B], best finite return seen (-inf if none)
  const int* nonfinite = nullptr;      // [B], samples that scored NaN or inf
  // [B], 1 where no sample scored finite: action and plan are then the warm-started
  // previous plan, clipped to the box.
  const unsigned char* fallback = nullptr;
  int iterations = 0;          // iterations completed (fewer than configured when a budget stopped it)
  bool budget_stopped = false;  // true when the time budget ended the plan early
  double elapsed_ms = 0.0;      // wall time of this plan() call, validation included
  double max_iteration_ms = 0.0;  // slowest iteration of this call
};

class Planner {
 public:
  // Bounds missing from config are taken from the scorer's default box.
  Planner(OptimizerConfig config, std::shared_ptr<const Scorer> scorer, PlannerOptions options = {});

  // state: [B, S] float32, finite. context: [B, C], required when the scorer takes a
  // context (C > 0), else ignored. candidates: optional [B, P, H, A] injected into
  // every population of this plan. Throws ValueError on bad input; the planner stays
  // usable.
  //
  // budget_ms > 0 makes the plan anytime: the first iteration always runs; after each
  // iteration the next one starts only if the time spent so far plus the slowest
  // iteration of this call (or the mean iteration of the previous call, whichever is
  // larger) fits in the budget. The result is then the optimizer's solution after the last completed
  // iteration. A plan thus overruns its budget by at most one iteration's variation
  // (or by the first iteration when that alone is longer than the budget).
  const PlanResult& plan(const float* state, const float* context = nullptr, const float* candidates = nullptr,
                         int num_candidates = 0, double budget_ms = 0.0);
  void shift(int steps) { optimizer_->shift(steps); }
  void reset() { optimizer_->reset(); }
  void reset(int b) { optimizer_->reset_problem(b); }  // robot b's episode ended

  Optimizer& optimizer() { return *optimizer_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  const Scorer& scorer() const { return *scorer_; }
  const PlannerOptions& options() const { return options_; }
  int batch() const { return options_.batch; }
  int state_dim() const { return scorer_->state_dim(); }
  int action_dim() const { return scorer_->action_dim(); }
  int context_dim() const { return scorer_->context_dim(); }
  int horizon() const { return optimizer_->horizon(); }
  int threads() const { return pool_.threads(); }

 private:
  void score_population(const float* state, const float* context, int active);

  PlannerOptions options_;
  std::shared_ptr<const Scorer> scorer_;
  std::unique_ptr<Optimizer> optimizer_;
  ThreadPool pool_;
  Buffer<float> returns_;         // [B, N]
  Buffer<float> scratch_;         // [threads, per_thread_]
  std::size_t per_thread_ = 0;    // floats of scratch per thread
  std::size_t opt_scratch_ = 0;   // the optimizer's part of it
  Buffer<float> action_, plan_;   // [B, A], [B, H, A]
  Buffer<float> best_;            // [B]
  Buffer<int> nonfinite_;         // [B]
  Buffer<unsigned char> fallback_;  // [B]
  PlanResult result_;
  double last_iteration_ms_ = 0.0;  // mean iteration of the previous plan(): the budget's estimate
};

// Resolves a thread count: 0 means all hardware threads; negative is an error.
int resolve_threads(int threads);

}  // namespace planner
