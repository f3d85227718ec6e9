// Control-loop tests (ctest): the simulated pendulum against gymnasium, the loop's step
// accounting, the anytime budget rule, the plan shift of background mode, allocation-free
// ticks and option validation. No speed targets: every check is structural.
// Prints "N passed, M failed" and exits non-zero on failure.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "planner/common/errors.h"
#include "planner/control/loop.h"
#include "planner/control/pendulum_robot.h"
#include "planner/planner.h"

#include "check.h"

namespace {

using planner::control::LoopOptions;
using planner::control::PendulumObservation;
using planner::control::PendulumParams;
using planner::control::RealTimeLoop;
using planner::control::SimulatedPendulum;
using planner::control::Telemetry;

bool close(double a, double b, double tol) { return std::fabs(a - b) <= tol * std::fmax(1.0, std::fabs(b)); }

// ---------------------------------------------------------------------------------------
// SimulatedPendulum

void test_angle_normalize() {
  using planner::control::angle_normalize;
  const double pi = std::numbers::pi;
  check(angle_normalize(0.5) == 0.5, "angle_normalize inside the range");
  check(close(angle_normalize(7.0), 7.0 - 2 * pi, 1e-15), "angle_normalize above pi");
  check(close(angle_normalize(-4.0), -4.0 + 2 * pi, 1e-15), "angle_normalize below -pi");
  check(angle_normalize(pi) == -pi, "angle_normalize(pi) = -pi (floored modulo, [-pi, pi))");
  check(angle_normalize(-pi) == -pi, "angle_normalize(-pi) = -pi");
}

// Known answers from gymnasium 1.4 / NumPy 2.4: env.reset(seed=s); env.unwrapped.state.
void test_pendulum_reset_matches_gymnasium() {
  struct Case {
    std::uint64_t seed;
    double theta, theta_dot;
    float obs[3];
  };
  const Case cases[] = {
      {0, 0.8605556614246863, -0.4604265724722594, {0.652016282081604f, 0.758204996585846f, -0.46042656898498535f}},
      {1, 0.07427745862364432, 0.9009273926518706, {0.9972426891326904f, 0.07420917600393295f, 0.9009273648262024f}},
      {100, 2.1047516589452835, 0.19310805393577457, {-0.5089420676231384f, 0.8608008027076721f, 0.19310805201530457f}},
      // A seed of two 32-bit words, and the largest one.
      {1099511627781ull, -3.111813752084018, -0.254830835177577,
       {-0.9995566606521606f, -0.02977450005710125f, -0.25483083724975586f}},
      {18446744073709551615ull, 1.131140984152447, 0.6906235171249486,
       {0.42562761902809143f, 0.9048984050750732f, 0.6906235218048096f}},
  };
  for (const Case& c : cases) {
    SimulatedPendulum p({}, PendulumObservation::kGym, c.seed);
    float obs[3];
    p.read(obs);
    const std::string s = " (seed " + std::to_string(c.seed) + ")";
    check(p.theta() == c.theta && p.theta_dot() == c.theta_dot, "reset state equals gymnasium's" + s);
    check(std::memcmp(obs, c.obs, sizeof(obs)) == 0, "reset observation equals gymnasium's" + s);
  }
  SimulatedPendulum p({}, PendulumObservation::kState, 5);
  p.reset(100);
  float st[2];
  p.read(st);
  check(p.observation_dim() == 2 && st[0] == static_cast<float>(2.1047516589452835) &&
            st[1] == static_cast<float>(0.19310805393577457),
        "kState observation is [theta, theta_dot]");
}

// Known answers from gymnasium: env.reset(seed=100), then env.step(np.float32 action).
void test_pendulum_steps_match_gymnasium() {
  struct Step {
    float u;
    double reward, theta, theta_dot;
    float obs[3];
  };
  const Step steps[] = {
      {0.5f, -4.433958617894284, 2.150437090678373, 0.9137086346617878,
       {-0.5477234125137329f, 0.8366594910621643f, 0.9137086272239685f}},
      {-2.0f, -4.711866028060808, 2.212497252383791, 1.2412032341083652,
       {-0.5985589027404785f, 0.8010787963867188f, 1.2412031888961792f}},
      {3.0f, -5.053202638831921, 2.319597869579551, 2.142012343915199,  // clipped to 2
       {-0.6807613968849182f, 0.7325052618980408f, 2.142012357711792f}},
      {1.3f, -5.841045964652895, 2.4639174335966687, 2.8863912803423566,
       {-0.7790324091911316f, 0.626983642578125f, 2.8863911628723145f}},
      {-0.7f, -6.904504581911042, 2.6264988843877943, 3.2516290158225156,
       {-0.8702465295791626f, 0.4926164448261261f, 3.251629114151001f}},
  };
  SimulatedPendulum p({}, PendulumObservation::kGym, 100);
  double ret = 0.0;
  bool all = true;
  for (const Step& s : steps) {
    p.send(&s.u);
    p.step();
    ret += s.reward;
    float obs[3];
    p.read(obs);
    // sin/cos may differ from NumPy's by an ulp of a double; float32 observations agree.
    all = all && close(p.last_reward(), s.reward, 1e-14) && close(p.theta(), s.theta, 1e-14) &&
          close(p.theta_dot(), s.theta_dot, 1e-14);
    for (int i = 0; i < 3; ++i) all = all && std::fabs(obs[i] - s.obs[i]) <= 1e-7f;
  }
  check(all, "five steps equal gymnasium's rewards, states and observations");
  check(close(p.episode_return(), ret, 1e-13) && p.steps() == 5, "episode return accumulates the rewards");
  check(close(p.timestamp(), 0.25, 1e-15), "timestamp is simulated time");
}

// The Pendulum-v1 equations in double, written out independently of the robot.
struct Reference {
  double g, m, l, th, thd;
  double step(double u) {
    u = std::fmin(std::fmax(u, -2.0), 2.0);
    const double w = std::fmod(th + std::numbers::pi, 2 * std::numbers::pi);
    const double wn = (w < 0 ? w + 2 * std::numbers::pi : w) - std::numbers::pi;
    const double cost = wn * wn + 0.1 * thd * thd + 0.001 * u * u;
    double v = thd + (3 * g / (2 * l) * std::sin(th) + 3.0 / (m * l * l) * u) * 0.05;
    v = std::fmin(std::fmax(v, -8.0), 8.0);
    th += v * 0.05;
    thd = v;
    return -cost;
  }
};

void test_pendulum_shifted_dynamics_match_equations() {
  // m, l, g shifted; starts near max speed (clipped on the first step) and past pi (wrap).
  PendulumParams params;
  params.g = 9.81;
  params.m = 1.3;
  params.l = 0.8;
  SimulatedPendulum p(params, PendulumObservation::kGym, 0);
  p.set_state(3.0, 7.9);
  Reference ref{9.81, 1.3, 0.8, 3.0, 7.9};
  const float us[] = {1.7f, -0.3f, 2.0f, 0.123456789f, -1.9f, 5.0f, -5.0f, 0.0f};
  bool all = true, clipped = false;
  for (float u : us) {
    p.send(&u);
    p.step();
    const double r = ref.step(u);
    clipped = clipped || std::fabs(ref.thd) == 8.0;
    // The robot's torque terms are float32 (gymnasium under NumPy 2): agree to ~1e-7 relative.
    all = all && close(p.last_reward(), r, 1e-6) && close(p.theta(), ref.th, 1e-6) &&
          close(p.theta_dot(), ref.thd, 1e-6);
  }
  check(all && clipped, "shifted-parameter steps follow the Pendulum-v1 equations (speed clip included)");
  // gymnasium with g=9.81, m=1.3, l=0.8 from state [3.0, 7.9], first step u=1.7:
  // reward -15.243890000352636, state [3.4, 8.0].
  SimulatedPendulum q(params, PendulumObservation::kGym, 0);
  q.set_state(3.0, 7.9);
  const float u = 1.7f;
  q.send(&u);
  q.step();
  check(close(q.last_reward(), -15.243890000352636, 1e-14) && q.theta_dot() == 8.0 && close(q.theta(), 3.4, 1e-15),
        "shifted-parameter step equals gymnasium's");
  check_throws<planner::ValueError>([] { SimulatedPendulum bad(PendulumParams{10.0, 0.0, 1.0}); }, "m = 0 rejected");
  check_throws<planner::ValueError>([&] { p.set_params(PendulumParams{10.0, 1.0, -1.0}); }, "l < 0 rejected");
}

// ---------------------------------------------------------------------------------------
// The loop

planner::OptimizerConfig mppi(int samples, int horizon, int iterations) {
  planner::OptimizerConfig c;
  c.name = "mppi";
  c.samples = samples;
  c.horizon = horizon;
  c.iterations = iterations;
  c.init_std = {1.0f};
  c.momentum = 0.0f;
  c.seed = 3;
  return c;
}

void test_loop_counts_steps() {
  for (bool background : {false, true}) {
    const std::string mode = background ? " (background)" : " (synchronous)";
    planner::Planner planner(mppi(128, 12, 2), planner::make_scorer("pendulum"), {1, 1, 1});
    SimulatedPendulum robot({}, PendulumObservation::kState, 7);
    LoopOptions o;
    o.hz = 50.0;
    o.realtime = false;
    o.background = background;
    o.steps = 37;
    const Telemetry t = planner::control::run_loop(planner, robot, {}, o);
    check(t.steps == 37 && t.plans() == 37 && robot.steps() == 37, "the loop runs N steps and N plans" + mode);
    bool ticks = true, iters = true;
    for (int i = 0; i < t.plans(); ++i) {
      ticks = ticks && t.records[i].tick == i;
      iters = iters && t.records[i].iterations >= 1;
    }
    check(ticks && iters, "one plan per tick, each with >= 1 iteration" + mode);
    check(t.max_plan_age == (background ? 1 : 0) && t.skipped_ticks == 0, "plan age 0 / 1, no skips" + mode);
    check(close(t.period_ms, 20.0, 1e-12) && close(t.budget_ms, 16.0, 1e-12), "period and budget" + mode);
    check(std::isfinite(robot.episode_return()) && robot.episode_return() < 0.0, "finite return" + mode);
  }
}

// The anytime rule: an iteration starts only if it is expected to fit, so a plan ends at
// most one iteration (its slowest) past the budget, plus the short tail after the last
// iteration. Structural, not a speed target: it holds on any machine, sanitizers included.
void test_budget_respected_structurally() {
  for (bool background : {false, true}) {
    const std::string mode = background ? " (background)" : " (synchronous)";
    // Iterations far beyond what fits, so the budget is what stops each plan.
    planner::Planner planner(mppi(1024, 30, 1000), planner::make_scorer("pendulum"), {1, 1, 1});
    SimulatedPendulum robot({}, PendulumObservation::kState, 11);
    LoopOptions o;
    o.hz = 400.0;  // 2 ms budget
    o.realtime = false;
    o.background = background;
    o.steps = 20;
    const Telemetry t = planner::control::run_loop(planner, robot, {}, o);
    constexpr double kTailMs = 20.0;  // clamp + shift after the last iteration, and preemption on a shared machine
    bool bounded = true, iters = true;
    int stopped = 0, overruns = 0;
    double max_over = 0.0;
    for (const auto& r : t.records) {
      iters = iters && r.iterations >= 1 && r.iterations < 1000;
      stopped += r.budget_stopped ? 1 : 0;
      bounded = bounded && r.plan_ms - t.budget_ms <= r.max_iteration_ms + kTailMs;
      if (r.plan_ms > t.budget_ms) {
        ++overruns;
        max_over = std::fmax(max_over, r.plan_ms - t.budget_ms);
      }
    }
    check(t.plans() == 20 && iters, "every plan ran >= 1 and < 1000 iterations" + mode);
    check(stopped == t.plans(), "the budget stopped every plan" + mode);
    check(bounded, "elapsed - budget <= max_iteration_ms + tail for every plan" + mode);
    check(t.budget_overruns == overruns && t.max_overrun_ms == max_over, "overrun accounting" + mode);
  }
}

// A deterministic stand-in robot: its observation is the tick index; it records every
// action it is sent.
struct TickRobot final : planner::control::Robot {
  explicit TickRobot(int steps) { sent.reserve(steps); }
  int observation_dim() const override { return 1; }
  int action_dim() const override { return 1; }
  void read(float* obs) override { obs[0] = static_cast<float>(ticks.load()); }
  void send(const float* action) override { sent.push_back(action[0]); }
  void step() override { ticks.fetch_add(1); }
  std::atomic<int> ticks{0};
  std::vector<float> sent;
};

// Scores sequences by closeness to a state-dependent target; optionally stalls (on the
// planning thread) the first plan from tick >= stall_at until the robot has moved on
// stall_ticks ticks, so background mode skips ticks deterministically.
struct StallingScorer {
  const TickRobot* robot;
  struct Stall {
    int at, ticks;
    std::atomic<bool> done{false};
  };
  Stall* stalls;
  int num_stalls;
  void operator()(const float* state, const float* actions, int rows, int horizon, float* returns) const {
    for (int s = 0; s < num_stalls; ++s) {
      Stall& st = stalls[s];
      if (state[0] >= static_cast<float>(st.at) && !st.done.exchange(true)) {
        const int until = static_cast<int>(state[0]) + st.ticks;
        while (robot->ticks.load() < until) std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    for (int r = 0; r < rows; ++r) {
      float ret = 0.0f;
      for (int t = 0; t < horizon; ++t) {
        const float target = 0.8f * std::sin(0.37f * (state[0] + static_cast<float>(t)));
        const float d = actions[r * horizon + t] - target;
        ret -= d * d;
      }
      returns[r] = ret;
    }
  }
};

struct RecordedPlan {
  int tick;
  std::vector<float> plan;
};

// Replays the recorded plan sequence on a twin planner, with the warm-start alignment the
// loop documents (shift by tick gap - 1 before each plan, on top of shift_after_plan = 1),
// and checks every plan is bit-identical. One iteration per plan: the budget never cuts
// the first, so the plans depend only on the states and the shifts.
bool replay_matches(const planner::OptimizerConfig& cfg, const std::shared_ptr<planner::Scorer>& scorer,
                    const std::vector<RecordedPlan>& plans) {
  planner::Planner twin(cfg, scorer, {1, 1, 1});
  int prev = -1;
  for (const auto& p : plans) {
    if (prev >= 0 && p.tick - prev - 1 > 0) twin.shift(p.tick - prev - 1);
    prev = p.tick;
    const float state = static_cast<float>(p.tick);
    const auto& r = twin.plan(&state);
    if (std::memcmp(r.plan, p.plan.data(), p.plan.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

void test_background_executes_shifted_plans() {
  constexpr int H = 6, N = 40;
  const planner::OptimizerConfig cfg = mppi(64, H, 1);
  // Back to back ticks: each tick waits for the plan in flight, so tick k executes the
  // plan from tick k-1 shifted by one.
  {
    TickRobot robot(N);
    StallingScorer fn{&robot, nullptr, 0};
    auto scorer = std::make_shared<planner::CallbackScorer>(1, 1, fn, std::vector<float>{-1.0f},
                                                            std::vector<float>{1.0f});
    planner::Planner planner(cfg, scorer, {1, 1, 1});
    std::vector<RecordedPlan> plans;
    plans.reserve(N);
    LoopOptions o;
    o.hz = 100.0;
    o.realtime = false;
    o.background = true;
    o.steps = N;
    RealTimeLoop loop(planner, robot, o);
    loop.set_plan_observer([&](int tick, const planner::PlanResult& r) {
      plans.push_back({tick, std::vector<float>(r.plan, r.plan + H)});
    });
    const Telemetry& t = loop.run();
    bool shifted = static_cast<int>(robot.sent.size()) == N && static_cast<int>(plans.size()) == N;
    for (int k = 0; shifted && k < N; ++k) {
      shifted = plans[k].tick == k;
      // Tick 0 has no earlier plan: it waits for its own and executes plan[0].
      const float expected = k == 0 ? plans[0].plan[0] : plans[k - 1].plan[1];
      shifted = shifted && robot.sent[k] == expected;
    }
    check(shifted, "fast background: tick k executes plan_{k-1}[1] (tick 0: plan_0[0])");
    check(t.max_plan_age == 1 && t.skipped_ticks == 0 && t.plans() == N, "fast background: age 1, no skips");
    check(replay_matches(cfg, scorer, plans), "fast background: plans equal a twin planner's (warm start shift 1)");
  }
  // Real time at 500 Hz with two stalled plans: the first from tick >= 3 stalls 4 ticks
  // (the warm start then trails by 3 steps), the one from tick >= 15 stalls 9 ticks, so
  // the executed entry runs past the horizon and the last step is held.
  {
    TickRobot robot(N);
    StallingScorer::Stall stalls[2];
    stalls[0].at = 3;
    stalls[0].ticks = 4;
    stalls[1].at = 15;
    stalls[1].ticks = 9;
    StallingScorer fn{&robot, stalls, 2};
    auto scorer = std::make_shared<planner::CallbackScorer>(1, 1, fn, std::vector<float>{-1.0f},
                                                            std::vector<float>{1.0f});
    planner::Planner planner(cfg, scorer, {1, 1, 1});
    std::vector<RecordedPlan> plans;
    plans.reserve(N);
    LoopOptions o;
    o.hz = 500.0;
    o.background = true;
    o.steps = N;
    RealTimeLoop loop(planner, robot, o);
    loop.set_plan_observer([&](int tick, const planner::PlanResult& r) {
      plans.push_back({tick, std::vector<float>(r.plan, r.plan + H)});
    });
    const Telemetry& t = loop.run();
    // Each tick k executes the newest plan j it has (j < k, non-decreasing in k) at entry
    // min(k - j, H - 1). Plans are random floats: a coincidental match is negligible.
    bool consistent = static_cast<int>(robot.sent.size()) == N && robot.sent[0] == plans[0].plan[0];
    int age_max = 0;
    bool held = false;
    std::size_t j = 0;
    for (int k = 1; consistent && k < N; ++k) {
      bool found = false;
      for (std::size_t c = plans.size(); c-- > j;) {  // newest candidate first
        if (plans[c].tick >= k) continue;
        const int age = k - plans[c].tick;
        if (robot.sent[k] == plans[c].plan[std::min(age, H - 1)]) {
          found = true;
          j = c;
          age_max = std::max(age_max, age);
          held = held || age > H - 1;
          break;
        }
      }
      consistent = found;
    }
    check(consistent, "realtime background: every tick executes plan_j[min(k - j, H - 1)] of its newest plan");
    check(age_max >= 9 && held && t.max_plan_age == age_max, "stalled plans: executed shifted by >= 9, last step held");
    check(t.skipped_ticks >= 3 + 8 && t.deadline_misses >= 2 && t.plans() == N - t.skipped_ticks,
          "stalled plans: skipped ticks and deadline misses counted");
    check(replay_matches(cfg, scorer, plans), "realtime background: warm start realigned after skipped ticks");
  }
}

// After construction (and a first plan), a tick allocates nothing: a run of 10 ticks and
// one of 60 allocate the same (zero when synchronous; the planning thread's start in
// background mode).
void test_ticks_allocate_nothing() {
  for (bool background : {false, true}) {
    long counts[2];
    int i = 0;
    for (int steps : {10, 60}) {
      planner::Planner planner(mppi(64, 10, 2), planner::make_scorer("pendulum"), {1, 2, 1});
      SimulatedPendulum robot({}, PendulumObservation::kState, 3);
      float s[2];
      robot.read(s);
      planner.plan(s);  // the first plan may size scratch once
      LoopOptions o;
      o.hz = 1000.0;
      o.realtime = false;
      o.background = background;
      o.steps = steps;
      RealTimeLoop loop(planner, robot, o);
      const long before = g_allocations.load();
      loop.run();
      counts[i++] = g_allocations.load() - before;
    }
    if (background) {
      check(counts[0] == counts[1], "background: allocations do not grow with ticks (" + std::to_string(counts[0]) +
                                        " vs " + std::to_string(counts[1]) + ")");
    } else {
      check(counts[0] == 0 && counts[1] == 0, "synchronous run allocates nothing");
    }
  }
}

struct DimRobot final : planner::control::Robot {
  DimRobot(int obs, int act) : o(obs), a(act) {}
  int observation_dim() const override { return o; }
  int action_dim() const override { return a; }
  void read(float*) override {}
  void send(const float*) override {}
  int o, a;
};

struct NanRobot final : planner::control::Robot {
  int observation_dim() const override { return 2; }
  int action_dim() const override { return 1; }
  void read(float* obs) override {
    obs[0] = reads++ == 5 ? std::numeric_limits<float>::quiet_NaN() : 0.1f;
    obs[1] = 0.0f;
  }
  void send(const float*) override {}
  int reads = 0;
};

void test_bad_options_and_errors() {
  planner::Planner planner(mppi(64, 10, 1), planner::make_scorer("pendulum"), {1, 1, 1});
  SimulatedPendulum state_robot({}, PendulumObservation::kState, 0);
  SimulatedPendulum gym_robot({}, PendulumObservation::kGym, 0);
  auto make = [&](double hz, double fraction, int steps) {
    LoopOptions o;
    o.hz = hz;
    o.budget_fraction = fraction;
    o.steps = steps;
    RealTimeLoop loop(planner, state_robot, o);
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  check_throws<planner::ValueError>([&] { make(0.0, 0.8, 10); }, "hz = 0");
  check_throws<planner::ValueError>([&] { make(-5.0, 0.8, 10); }, "hz < 0");
  check_throws<planner::ValueError>([&] { make(nan, 0.8, 10); }, "hz NaN");
  check_throws<planner::ValueError>([&] { make(inf, 0.8, 10); }, "hz inf");
  check_throws<planner::ValueError>([&] { make(20.0, 0.0, 10); }, "budget_fraction = 0");
  check_throws<planner::ValueError>([&] { make(20.0, 1.01, 10); }, "budget_fraction > 1");
  check_throws<planner::ValueError>([&] { make(20.0, nan, 10); }, "budget_fraction NaN");
  check_throws<planner::ValueError>([&] { make(20.0, 0.8, 0); }, "steps = 0");
  make(20.0, 1.0, 1);  // the edges of the valid ranges
  check(true, "budget_fraction = 1 and steps = 1 accepted");
  LoopOptions o;
  o.hz = 20.0;
  o.steps = 5;
  try {
    RealTimeLoop loop(planner, gym_robot, o);
    check(false, "observation dim 3 vs S = 2 (no exception)");
  } catch (const planner::ValueError& e) {
    check(std::string(e.what()).find("observation_dim (3)") != std::string::npos, "observation/state dims disagree");
  }
  DimRobot two_actions(2, 2);
  try {
    RealTimeLoop loop(planner, two_actions, o);
    check(false, "action dim 2 vs A = 1 (no exception)");
  } catch (const planner::ValueError& e) {
    check(std::string(e.what()).find("action_dim (2)") != std::string::npos, "action dims disagree");
  }
  planner::Planner batched(mppi(64, 10, 1), planner::make_scorer("pendulum"), {2, 1, 1});
  check_throws<planner::ValueError>([&] { RealTimeLoop loop(batched, state_robot, o); }, "batch != 1");
  // A non-finite observation makes plan() throw; the loop stops and rethrows, from the
  // planning thread too, without hanging.
  for (bool background : {false, true}) {
    NanRobot nan_robot;
    o.realtime = false;
    o.background = background;
    o.steps = 20;
    RealTimeLoop loop(planner, nan_robot, o);
    check_throws<planner::ValueError>([&] { loop.run(); },
                                      std::string("non-finite observation propagates") +
                                          (background ? " (background)" : " (synchronous)"));
  }
}

void test_telemetry_summary() {
  Telemetry t;
  t.steps = 5;
  t.period_ms = 10.0;
  for (int i = 0; i < 5; ++i) t.records.push_back({i, 1.0 + i, 0.5, 0.1, i + 1, false});
  check(t.p50() == 3.0 && close(t.p99(), 4.96, 1e-12) && t.max() == 5.0, "percentiles interpolate like numpy");
  check(t.mean_iterations() == 3.0, "mean iterations");
  const std::string j = t.to_json();
  check(j.front() == '{' && j.back() == '}' && j.find("\"p99_ms\": 4.96") != std::string::npos &&
            j.find("\"iterations\": [1, 2, 3, 4, 5]") != std::string::npos,
        "to_json carries the summary and per-plan arrays");
  check(Telemetry{}.p99() == 0.0, "empty telemetry");
}

}  // namespace

int main() {
  test_angle_normalize();
  test_pendulum_reset_matches_gymnasium();
  test_pendulum_steps_match_gymnasium();
  test_pendulum_shifted_dynamics_match_equations();
  test_telemetry_summary();
  test_loop_counts_steps();
  test_budget_respected_structurally();
  test_background_executes_shifted_plans();
  test_ticks_allocate_nothing();
  test_bad_options_and_errors();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
