// A real-time control loop around a Planner: once per tick of a fixed rate it reads the
// robot, plans with a time budget (a fraction of the period), sends the action and lets
// a simulated robot advance one step.
//
// Two modes:
//   synchronous (default): tick k plans from observation k and executes plan[0] in the
//     same tick; the observation-to-action latency is the plan's time.
//   background: a planning thread plans from observation k while the loop keeps
//     executing the previous plan; the plan becomes available at tick k+1, where the loop
//     executes plan[1]. In general the loop executes entry (tick - observation tick) of
//     the newest plan, holding the last entry beyond the horizon, so a plan that misses
//     its tick is used shifted by two, and so on. Tick 0 has no earlier plan and waits
//     for the plan from its own observation (plan[0]).
// On hardware, synchronous mode applies each action late by the plan's time (up to the
// budget) and at a jittering instant; background mode applies it at the tick boundary,
// one full tick late. A simulated robot stepped once per tick (Robot::step) sees the
// latter delay but not the former, so simulation flatters synchronous mode: on
// Pendulum-v1 (dt 0.05 s) the extra tick turns some swing-ups into two-swing ones.
//
// Warm start: the planner's shift_after_plan (1 by default) drops the first plan step
// after each plan, which assumes the next plan starts from the next tick's observation.
// The loop keeps that true whatever happens: before a plan from tick j it shifts the
// warm start by the remaining (j - previous plan's tick - shift_after_plan) steps, which
// is non-zero only when a background plan was skipped. Shift 1 is also the right choice
// in background mode: the plan from observation k+1 warm-starts from plan_k[1:], and
// plan_k[1] is exactly the action executing while that plan runs, so its first step
// starts at the committed action. (The optimizer may still move that first step, which
// is never executed: the plan does not know it is committed. Pinning it would need a
// constrained optimizer or a model to predict one tick ahead.) shift_after_plan = 0
// turns warm-start shifting off and the loop then adds none.
//
// Real-time properties: every buffer, the telemetry included, is allocated when the loop
// is built or run() starts; a tick allocates nothing. Only the loop thread touches the
// robot and the context provider; in background mode only the planning thread touches
// the planner. They exchange the observation and the plan through buffers handed over
// under one mutex, held only for those copies, never while planning.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "planner/planner.h"

namespace planner::control {

// The hardware (or simulator) side of the loop. Called from the loop thread only.
struct Robot {
  virtual ~Robot() = default;
  virtual int observation_dim() const = 0;  // must equal the planner's state_dim (S)
  virtual int action_dim() const = 0;       // must equal the planner's action_dim (A)
  // Writes the latest observation [S].
  virtual void read(float* obs) = 0;
  // Commands action [A], applied from now on until the next send.
  virtual void send(const float* action) = 0;
  // Seconds of the latest observation on the robot's clock; NaN when it has none.
  virtual double timestamp() { return std::numeric_limits<double>::quiet_NaN(); }
  // Called once per tick after send(): a simulator advances one step of simulated time
  // with the last sent action (simulated time is decoupled from wall time); hardware,
  // whose time passes on its own, leaves it empty.
  virtual void step() {}
};

struct LoopOptions {
  double hz = 0.0;               // tick rate, > 0
  double budget_fraction = 0.8;  // planning budget = budget_fraction / hz, in (0, 1]
  // true: each tick starts on a steady_clock grid (sleep_until); a late tick starts at
  // once and the grid continues from it. false: ticks run back to back (each plan still
  // gets the same budget) and in background mode each tick waits for the plan in
  // flight, as if every plan finished within its period: deterministic tick pairing.
  bool realtime = true;
  bool background = false;  // plan on a separate thread, one tick behind (see above)
  int steps = 0;            // ticks to run, >= 1
};

// One plan() of the loop.
struct StepRecord {
  int tick = 0;                   // tick whose observation it planned from
  double latency_ms = 0.0;        // synchronous: observation read to action sent; background: read to plan ready
  double plan_ms = 0.0;           // PlanResult::elapsed_ms
  double max_iteration_ms = 0.0;  // PlanResult::max_iteration_ms
  int iterations = 0;
  bool budget_stopped = false;
};

struct Telemetry {
  int steps = 0;  // ticks run
  double period_ms = 0.0, budget_ms = 0.0;
  bool realtime = true, background = false;
  // One per plan, in tick order: every tick in synchronous mode; in background mode every
  // tick that found the planner idle (the last plan, from the last tick, included).
  std::vector<StepRecord> records;
  int deadline_misses = 0;         // plans with latency_ms > period_ms (background: not ready at the next tick)
  int budget_overruns = 0;         // plans with plan_ms > budget_ms
  double max_overrun_ms = 0.0;     // largest plan_ms - budget_ms (0 when none overran)
  double max_iteration_ms = 0.0;   // slowest single iteration of any plan
  int skipped_ticks = 0;           // background: ticks that started no plan, the planner being busy
  int max_plan_age = 0;            // largest (tick - observation tick) of an executed plan entry
  double max_tick_late_ms = 0.0;   // realtime: largest delay of a tick's start past its grid time
  double wall_ms = 0.0;            // the whole run

  int plans() const { return static_cast<int>(records.size()); }
  // Percentiles of latency_ms over the plans, linearly interpolated like numpy.percentile;
  // 0 without plans.
  double latency_percentile(double q) const;
  double p50() const { return latency_percentile(50.0); }
  double p99() const { return latency_percentile(99.0); }
  double max() const { return latency_percentile(100.0); }
  double mean_iterations() const;
  // Summary figures plus per-plan latency_ms, plan_ms and iterations arrays.
  std::string to_json() const;
};

// Fills the planner's context [C] from the tick's observation [S]. Called on the loop
// thread once per tick when the planner takes a context (C > 0); without one the context
// is zeros. Must not block for long: it runs inside the tick.
using ContextFn = std::function<void(const float* obs, float* context)>;
// Sees every plan right after plan() returns, on the thread that planned (the planning
// thread in background mode), with the tick of its observation. For logging and tests;
// it runs inside the plan's deadline.
using PlanObserver = std::function<void(int tick, const PlanResult& result)>;

class RealTimeLoop {
 public:
  // Throws ValueError on bad options (hz <= 0, budget_fraction outside (0, 1], steps < 1),
  // on dims that disagree between robot and planner, or on a planner with batch != 1.
  // The planner and robot must outlive the loop; the loop does not reset either.
  RealTimeLoop(Planner& planner, Robot& robot, LoopOptions options, ContextFn context = {});
  ~RealTimeLoop();
  RealTimeLoop(const RealTimeLoop&) = delete;
  RealTimeLoop& operator=(const RealTimeLoop&) = delete;

  void set_plan_observer(PlanObserver observer) { observer_ = std::move(observer); }
  // Runs options.steps ticks. An exception from the robot, the context provider, the
  // observer or plan() (e.g. a non-finite observation) stops the loop, joins the planning
  // thread and propagates. May be called again; each run starts a fresh telemetry.
  const Telemetry& run();
  const Telemetry& telemetry() const { return tel_; }
  const LoopOptions& options() const { return opt_; }

 private:
  void run_sync();
  void run_background();
  void worker();
  // Aligns the warm start to `tick` and plans; used by whichever thread owns the planner.
  const PlanResult& plan_at(const float* state, const float* context, int tick);
  void record(const StepRecord& r);
  void account_age(int age);

  Planner& planner_;
  Robot& robot_;
  LoopOptions opt_;
  ContextFn context_;
  PlanObserver observer_;
  int S_, A_, C_, H_;
  double period_ms_, budget_ms_;
  Telemetry tel_;
  int last_planned_tick_ = -1;  // owned by the planning thread while one runs

  // Loop thread only.
  std::vector<float> obs_, ctx_;
  std::vector<float> current_plan_;  // [H, A], the newest plan the loop executes from
  int current_tick_ = 0;             // its observation tick

  // Background hand-over. job_* belong to the loop while !busy_ and to the planning
  // thread while busy_; out_* belong to the planning thread while busy_ and to the loop
  // while result_ready_. The flags are guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable job_cv_, done_cv_;
  bool job_posted_ = false, busy_ = false, result_ready_ = false, stop_ = false;
  std::exception_ptr error_;
  std::vector<float> job_state_, job_ctx_;
  int job_tick_ = 0;
  std::chrono::steady_clock::time_point job_read_time_;
  std::vector<float> out_plan_;  // [H, A]
  StepRecord out_record_;
};

// Builds a RealTimeLoop and runs it once.
Telemetry run_loop(Planner& planner, Robot& robot, const ContextFn& context, const LoopOptions& options);

}  // namespace planner::control
