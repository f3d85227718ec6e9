#include "planner/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "planner/common/errors.h"

namespace planner {
namespace {

OptimizerConfig with_scorer_bounds(OptimizerConfig c, const Scorer& s) {
  const int A = s.action_dim();
  std::vector<float> lo(A), hi(A);
  s.default_bounds(lo.data(), hi.data());
  if (c.lower.empty()) c.lower = lo;
  if (c.upper.empty()) c.upper = hi;
  return c;
}

}  // namespace

int resolve_threads(int threads) {
  require(threads >= 0, "threads must be >= 0 (0 = all hardware threads), got ", threads);
  return threads == 0 ? ThreadPool::hardware_threads() : threads;
}

Planner::Planner(OptimizerConfig config, std::shared_ptr<const Scorer> scorer, PlannerOptions options)
    : options_(options),
      scorer_(std::move(scorer)),
      optimizer_(nullptr),
      pool_(resolve_threads(options.threads)) {
  require(scorer_ != nullptr, "scorer must not be null");
  require(options.batch >= 1, "batch (B) must be >= 1, got ", options.batch);
  require(options.shift_after_plan >= 0, "shift_after_plan must be >= 0, got ", options.shift_after_plan);
  optimizer_ = make_optimizer(with_scorer_bounds(std::move(config), *scorer_), options.batch, scorer_->action_dim());
  const int B = options.batch, N = optimizer_->samples(), H = optimizer_->horizon(), A = scorer_->action_dim();
  returns_.resize(static_cast<std::size_t>(B) * N);
  opt_scratch_ = (optimizer_->scratch_floats() + 15) / 16 * 16;
  per_thread_ = opt_scratch_ + (scorer_->scratch_floats(scorer_->block_rows(), H) + 15) / 16 * 16;
  scratch_.resize(per_thread_ * static_cast<std::size_t>(pool_.threads()));
  action_.resize(static_cast<std::size_t>(B) * A);
  plan_.resize(static_cast<std::size_t>(B) * H * A);
  best_.resize(B);
  nonfinite_.resize(B);
  fallback_.resize(B);
  result_ = {action_.data(), plan_.data(), best_.data(), nonfinite_.data(), fallback_.data(), 0};
}

void Planner::score_population(const float* state, const float* context, int active) {
  const int B = options_.batch, N = optimizer_->samples(), H = optimizer_->horizon();
  const int S = scorer_->state_dim(), C = scorer_->context_dim();
  const int block = std::max(1, scorer_->block_rows());
  const int blocks = (active + block - 1) / block;
  const float* pop = optimizer_->population();
  const std::size_t HA = static_cast<std::size_t>(H) * scorer_->action_dim();
  auto body = [&](int item, int thread) {
    const int b = item / blocks;
    const int n0 = (item % blocks) * block;
    const int n1 = std::min(active, n0 + block);
    float* scratch = scratch_.data() + per_thread_ * static_cast<std::size_t>(thread);
    optimizer_->sample_rows(b, n0, n1, scratch);
    scorer_->score(state + static_cast<std::size_t>(b) * S, C > 0 ? context + static_cast<std::size_t>(b) * C : nullptr,
                   pop + (static_cast<std::size_t>(b) * N + n0) * HA,
                   n1 - n0, H, returns_.data() + static_cast<std::size_t>(b) * N + n0, scratch + opt_scratch_);
  };
  if (B * blocks == 1 || static_cast<long long>(B) * active * H < scorer_->min_parallel_steps()) {
    for (int item = 0; item < B * blocks; ++item) body(item, 0);
  } else {
    pool_.parallel_for(B * blocks, body);
  }
}

const PlanResult& Planner::plan(const float* state, const float* context, const float* candidates,
                                int num_candidates, double budget_ms) {
  using Clock = std::chrono::steady_clock;
  const auto t_start = Clock::now();
  const auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  const int B = options_.batch, S = scorer_->state_dim(), H = optimizer_->horizon(), A = scorer_->action_dim();
  const int C = scorer_->context_dim();
  require(state != nullptr, "state [B, S] must not be null");
  for (int i = 0; i < B * S; ++i)
    require(std::isfinite(state[i]), "state [B=", B, ", S=", S, "] must be finite; got ", state[i], " at (",
            i / S, ", ", i % S, ")");
  if (C > 0) {
    require(context != nullptr, "context [B, C] is required: the scorer takes a context of C=", C);
    for (int i = 0; i < B * C; ++i)
      require(std::isfinite(context[i]), "context [B=", B, ", C=", C, "] must be finite; got ", context[i], " at (",
              i / C, ", ", i % C, ")");
  }
  require(num_candidates == 0 || candidates != nullptr, "candidates [B, P, H, A] must not be null when P > 0");
  require(std::isfinite(budget_ms) && budget_ms >= 0.0, "budget_ms must be finite and >= 0 (0 = no budget), got ",
          budget_ms);
  optimizer_->set_candidates(candidates, num_candidates);  // P = 0 clears earlier ones
  optimizer_->begin();
  const int iters = optimizer_->config().iterations;
  double slowest = 0.0, iter_total = 0.0;
  int done = 0;
  bool stopped = false;
  for (int it = 0; it < iters; ++it) {
    if (it > 0 && budget_ms > 0.0 && ms_since(t_start) + std::max(slowest, last_iteration_ms_) > budget_ms) {
      stopped = true;
      break;
    }
    const auto t_iter = Clock::now();
    const int active = optimizer_->prepare();
    score_population(state, context, active);
    optimizer_->update(returns_.data(), optimizer_->samples());
    const double took = ms_since(t_iter);
    slowest = std::max(slowest, took);
    iter_total += took;
    ++done;
  }
  if (done > 0) last_iteration_ms_ = iter_total / done;
  const float* sol = optimizer_->solution();
  const float* lo = optimizer_->lower();
  const float* hi = optimizer_->upper();
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < H * A; ++j) {
      const std::size_t k = static_cast<std::size_t>(b) * H * A + j;
      plan_[k] = std::clamp(sol[k], lo[j % A], hi[j % A]);
    }
    for (int a = 0; a < A; ++a) action_[b * A + a] = plan_[static_cast<std::size_t>(b) * H * A + a];
    best_[b] = optimizer_->best_return(b);
    nonfinite_[b] = optimizer_->nonfinite(b);
    fallback_[b] = std::isfinite(best_[b]) ? 0 : 1;
  }
  result_.iterations = done;
  result_.budget_stopped = stopped;
  result_.max_iteration_ms = slowest;
  if (options_.shift_after_plan > 0) optimizer_->shift(options_.shift_after_plan);
  result_.elapsed_ms = ms_since(t_start);
  return result_;
}

}  // namespace planner
