#include "planner/control/loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <thread>

#include "planner/common/errors.h"
#include "planner/common/stats.h"

namespace planner::control {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

Clock::duration from_ms(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

// Keeps a real-time grid: sleeps until the next tick, or, when the tick ran past it,
// starts the next one at once and continues the grid from there (no burst of catch-up
// ticks after a stall).
void wait_next_tick(Clock::time_point& next, Clock::duration period) {
  next += period;
  const auto now = Clock::now();
  if (now >= next) {
    next = now;
  } else {
    std::this_thread::sleep_until(next);
  }
}

void append_number(std::string& s, double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", std::isfinite(v) ? v : 0.0);  // JSON has no NaN or inf
  s += buf;
}

}  // namespace

double Telemetry::latency_percentile(double q) const {
  require(q >= 0.0 && q <= 100.0, "percentile q must be in [0, 100], got ", q);
  std::vector<double> v(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) v[i] = records[i].latency_ms;
  return percentile(std::move(v), q / 100.0);
}

double Telemetry::mean_iterations() const {
  if (records.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& r : records) sum += r.iterations;
  return sum / static_cast<double>(records.size());
}

std::string Telemetry::to_json() const {
  std::string s = "{";
  auto field = [&](const char* key, double v) {
    s += '"';
    s += key;
    s += "\": ";
    append_number(s, v);
    s += ", ";
  };
  auto array = [&](const char* key, auto get) {
    s += '"';
    s += key;
    s += "\": [";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i) s += ", ";
      append_number(s, get(records[i]));
    }
    s += "]";
  };
  field("steps", steps);
  field("plans", plans());
  field("hz", period_ms > 0 ? 1000.0 / period_ms : 0.0);
  field("period_ms", period_ms);
  field("budget_ms", budget_ms);
  s += std::string("\"realtime\": ") + (realtime ? "true" : "false") + ", ";
  s += std::string("\"background\": ") + (background ? "true" : "false") + ", ";
  field("p50_ms", p50());
  field("p99_ms", p99());
  field("max_ms", max());
  field("mean_iterations", mean_iterations());
  field("deadline_misses", deadline_misses);
  field("budget_overruns", budget_overruns);
  field("max_overrun_ms", max_overrun_ms);
  field("max_iteration_ms", max_iteration_ms);
  field("skipped_ticks", skipped_ticks);
  field("max_plan_age", max_plan_age);
  field("max_tick_late_ms", max_tick_late_ms);
  field("wall_ms", wall_ms);
  array("tick", [](const StepRecord& r) { return static_cast<double>(r.tick); });
  s += ", ";
  array("latency_ms", [](const StepRecord& r) { return r.latency_ms; });
  s += ", ";
  array("plan_ms", [](const StepRecord& r) { return r.plan_ms; });
  s += ", ";
  array("iterations", [](const StepRecord& r) { return static_cast<double>(r.iterations); });
  s += "}";
  return s;
}

RealTimeLoop::RealTimeLoop(Planner& planner, Robot& robot, LoopOptions options, ContextFn context)
    : planner_(planner),
      robot_(robot),
      opt_(options),
      context_(std::move(context)),
      S_(planner.state_dim()),
      A_(planner.action_dim()),
      C_(planner.context_dim()),
      H_(planner.horizon()),
      period_ms_(0.0),
      budget_ms_(0.0) {
  require(std::isfinite(opt_.hz) && opt_.hz > 0.0, "LoopOptions.hz must be finite and > 0, got ", opt_.hz);
  require(std::isfinite(opt_.budget_fraction) && opt_.budget_fraction > 0.0 && opt_.budget_fraction <= 1.0,
          "LoopOptions.budget_fraction must be in (0, 1], got ", opt_.budget_fraction);
  require(opt_.steps >= 1, "LoopOptions.steps must be >= 1, got ", opt_.steps);
  require(planner.batch() == 1, "the control loop drives one robot: planner batch (B) must be 1, got ",
          planner.batch());
  require(robot.observation_dim() == S_, "robot observation_dim (", robot.observation_dim(),
          ") must equal the planner's state_dim S (", S_, ")");
  require(robot.action_dim() == A_, "robot action_dim (", robot.action_dim(),
          ") must equal the planner's action_dim A (", A_, ")");
  period_ms_ = 1000.0 / opt_.hz;
  budget_ms_ = opt_.budget_fraction * period_ms_;
  obs_.assign(S_, 0.0f);
  ctx_.assign(C_, 0.0f);  // zeros unless a provider fills it
  job_state_.assign(S_, 0.0f);
  job_ctx_.assign(C_, 0.0f);
  current_plan_.assign(static_cast<std::size_t>(H_) * A_, 0.0f);
  out_plan_.assign(static_cast<std::size_t>(H_) * A_, 0.0f);
  tel_.records.reserve(opt_.steps);
}

RealTimeLoop::~RealTimeLoop() = default;

const Telemetry& RealTimeLoop::run() {
  std::vector<StepRecord> records = std::move(tel_.records);
  records.clear();  // keeps the capacity reserved for opt_.steps plans
  tel_ = Telemetry{};
  tel_.records = std::move(records);
  tel_.period_ms = period_ms_;
  tel_.budget_ms = budget_ms_;
  tel_.realtime = opt_.realtime;
  tel_.background = opt_.background;
  last_planned_tick_ = -1;
  const auto t0 = Clock::now();
  if (opt_.background) {
    run_background();
  } else {
    run_sync();
  }
  tel_.wall_ms = ms_between(t0, Clock::now());
  return tel_;
}

const PlanResult& RealTimeLoop::plan_at(const float* state, const float* context, int tick) {
  const int shift = planner_.options().shift_after_plan;
  if (shift > 0 && last_planned_tick_ >= 0) {
    const int behind = tick - last_planned_tick_ - shift;  // ticks the warm start still trails this observation
    if (behind > 0) planner_.shift(behind);
  }
  last_planned_tick_ = tick;
  const PlanResult& r = planner_.plan(state, context, nullptr, 0, budget_ms_);
  if (observer_) observer_(tick, r);
  return r;
}

void RealTimeLoop::record(const StepRecord& r) {
  tel_.records.push_back(r);  // within the reserved capacity: no allocation
  if (r.latency_ms > period_ms_) ++tel_.deadline_misses;
  if (r.plan_ms > budget_ms_) {
    ++tel_.budget_overruns;
    tel_.max_overrun_ms = std::max(tel_.max_overrun_ms, r.plan_ms - budget_ms_);
  }
  tel_.max_iteration_ms = std::max(tel_.max_iteration_ms, r.max_iteration_ms);
}

void RealTimeLoop::account_age(int age) { tel_.max_plan_age = std::max(tel_.max_plan_age, age); }

void RealTimeLoop::run_sync() {
  const Clock::duration period = from_ms(period_ms_);
  auto next = Clock::now();
  const float* ctx = C_ > 0 ? ctx_.data() : nullptr;
  for (int k = 0; k < opt_.steps; ++k) {
    const auto t_read = Clock::now();
    if (opt_.realtime) tel_.max_tick_late_ms = std::max(tel_.max_tick_late_ms, ms_between(next, t_read));
    robot_.read(obs_.data());
    if (C_ > 0 && context_) context_(obs_.data(), ctx_.data());
    const PlanResult& r = plan_at(obs_.data(), ctx, k);
    robot_.send(r.action);
    const auto t_sent = Clock::now();
    robot_.step();
    ++tel_.steps;
    record({k, ms_between(t_read, t_sent), r.elapsed_ms, r.max_iteration_ms, r.iterations, r.budget_stopped});
    if (opt_.realtime) wait_next_tick(next, period);
  }
}

void RealTimeLoop::worker() {
  std::unique_lock<std::mutex> lk(mutex_);
  for (;;) {
    job_cv_.wait(lk, [&] { return job_posted_ || stop_; });
    if (stop_) return;
    job_posted_ = false;
    lk.unlock();  // the job buffers are ours until busy_ drops: plan without the lock
    std::exception_ptr error;
    try {
      const PlanResult& r = plan_at(job_state_.data(), C_ > 0 ? job_ctx_.data() : nullptr, job_tick_);
      std::copy(r.plan, r.plan + out_plan_.size(), out_plan_.begin());
      out_record_ = {job_tick_, ms_between(job_read_time_, Clock::now()), r.elapsed_ms, r.max_iteration_ms,
                     r.iterations, r.budget_stopped};
    } catch (...) {
      error = std::current_exception();
    }
    lk.lock();
    if (error) {
      error_ = error;
    } else {
      result_ready_ = true;
    }
    busy_ = false;
    done_cv_.notify_all();
  }
}

void RealTimeLoop::run_background() {
  job_posted_ = busy_ = result_ready_ = stop_ = false;
  error_ = nullptr;
  std::thread planning(&RealTimeLoop::worker, this);
  // Stops and joins the planning thread on every way out, exceptions included.
  struct Joiner {
    RealTimeLoop& loop;
    std::thread& thread;
    ~Joiner() {
      {
        std::lock_guard<std::mutex> g(loop.mutex_);
        loop.stop_ = true;
      }
      loop.job_cv_.notify_all();
      thread.join();
    }
  } joiner{*this, planning};

  // Under the lock: rethrows a planning error, and takes a finished plan as the one to execute.
  auto take_result = [&] {
    if (error_) std::rethrow_exception(error_);
    if (!result_ready_) return;
    std::copy(out_plan_.begin(), out_plan_.end(), current_plan_.begin());
    current_tick_ = out_record_.tick;
    record(out_record_);
    result_ready_ = false;
  };
  auto idle = [&] { return !busy_; };
  const Clock::duration period = from_ms(period_ms_);
  auto next = Clock::now();
  for (int k = 0; k < opt_.steps; ++k) {
    if (!opt_.realtime) {
      // Simulated time: this tick begins when the plan in flight is ready, so its
      // observation is read after the wait and the next plan's latency excludes it.
      std::unique_lock<std::mutex> lk(mutex_);
      done_cv_.wait(lk, idle);
    }
    const auto t_read = Clock::now();
    if (opt_.realtime) tel_.max_tick_late_ms = std::max(tel_.max_tick_late_ms, ms_between(next, t_read));
    robot_.read(obs_.data());
    if (C_ > 0 && context_) context_(obs_.data(), ctx_.data());
    {
      std::unique_lock<std::mutex> lk(mutex_);
      take_result();
      if (!busy_) {
        std::copy(obs_.begin(), obs_.end(), job_state_.begin());
        std::copy(ctx_.begin(), ctx_.end(), job_ctx_.begin());
        job_tick_ = k;
        job_read_time_ = t_read;
        busy_ = job_posted_ = true;
        job_cv_.notify_one();
      } else {
        ++tel_.skipped_ticks;
      }
      if (k == 0) {  // nothing to execute yet: wait for the plan from this tick's own observation
        done_cv_.wait(lk, idle);
        take_result();
      }
    }
    const int age = k - current_tick_;
    account_age(age);
    robot_.send(current_plan_.data() + static_cast<std::size_t>(std::min(age, H_ - 1)) * A_);
    robot_.step();
    ++tel_.steps;
    if (opt_.realtime) wait_next_tick(next, period);
  }
  // The last tick's plan is never executed, but it ran: wait for it and record it.
  std::unique_lock<std::mutex> lk(mutex_);
  done_cv_.wait(lk, idle);
  take_result();
}

Telemetry run_loop(Planner& planner, Robot& robot, const ContextFn& context, const LoopOptions& options) {
  RealTimeLoop loop(planner, robot, options, context);
  return loop.run();
}

}  // namespace planner::control
