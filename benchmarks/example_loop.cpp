// example_loop: a real-time control loop in C++ only. A simulated Pendulum-v1 (gymnasium's
// equations, see planner/control/pendulum_robot.h) is read, planned for within a budget
// of each control period, and commanded, at a fixed rate; prints the return and the loop
// telemetry.
//   usage: example_loop [MODEL] [--hz 20] [--steps 200] [--background] [--fast]
//                       [--m 1.0] [--l 1.0] [--g 10.0] [--threads 2] [--seed 100]
//                       [--samples N] [--horizon H] [--iterations I] [--sigma 1.0]
//                       [--temperature 1.0] [--budget-fraction 0.8] [--json PATH]
// With MODEL (a .lpm.safetensors file, e.g. planner/assets/pendulum_small.lpm.safetensors)
// it plans with the learned latent model from the robot's observation [cos, sin, thdot].
// Without one it plans with the analytic "pendulum" scorer, whose state is [theta, thdot]:
// the simulated robot then reports its true state as the observation (a stand-in for a
// state estimator), and the scorer keeps the nominal m, l, g, so --m/--l/--g shift the
// robot's dynamics away from the planner's model in both cases.
// Defaults follow `python -m planner eval` (MPPI, 500 samples, horizon 20, sigma 1,
// temperature 1, seed 100: the start state of its first episode) except iterations: 6
// is a ceiling, and the anytime budget decides how many fit each period (eval's fixed 2
// is about what a 2-core machine fits at 20 Hz). --fast runs ticks back to back
// (realtime off) with the same per-plan budget.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "planner/common/errors.h"
#include "planner/control/loop.h"
#include "planner/control/pendulum_robot.h"
#include "planner/planner.h"
#include "planner/scorers/latent.h"

namespace {

struct Args {
  std::string model, json;
  double hz = 20.0, budget_fraction = 0.8, m = 1.0, l = 1.0, g = 10.0, sigma = 1.0, temperature = 1.0;
  int steps = 200, threads = 2, samples = 500, horizon = 20, iterations = 6;
  long long seed = 100;
  bool background = false, fast = false;
};

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [MODEL] [--hz 20] [--steps 200] [--background] [--fast] [--m 1.0] [--l 1.0] [--g 10.0]\n"
               "          [--threads 2] [--seed 100] [--samples 500] [--horizon 20] [--iterations 6] [--sigma 1.0]\n"
               "          [--temperature 1.0] [--budget-fraction 0.8] [--json PATH]\n",
               argv0);
}

double to_double(const char* name, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  planner::require(end != text && *end == '\0' && std::isfinite(v), name, " expects a number, got '", text, "'");
  return v;
}

long long to_int(const char* name, const char* text) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  planner::require(end != text && *end == '\0', name, " expects an integer, got '", text, "'");
  return v;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "--background") == 0) {
      a.background = true;
      continue;
    }
    if (std::strcmp(arg, "--fast") == 0) {
      a.fast = true;
      continue;
    }
    if (std::strncmp(arg, "--", 2) != 0) {
      planner::require(a.model.empty(), "more than one model file given: '", a.model, "' and '", arg, "'");
      a.model = arg;
      continue;
    }
    planner::require(i + 1 < argc, arg, " expects a value");
    const char* v = argv[++i];
    auto is = [&](const char* name) { return std::strcmp(arg, name) == 0; };
    auto to_i = [&] { return static_cast<int>(to_int(arg, v)); };
    if (is("--hz")) a.hz = to_double(arg, v);
    else if (is("--steps")) a.steps = to_i();
    else if (is("--m")) a.m = to_double(arg, v);
    else if (is("--l")) a.l = to_double(arg, v);
    else if (is("--g")) a.g = to_double(arg, v);
    else if (is("--threads")) a.threads = to_i();
    else if (is("--seed")) a.seed = to_int(arg, v);
    else if (is("--samples")) a.samples = to_i();
    else if (is("--horizon")) a.horizon = to_i();
    else if (is("--iterations")) a.iterations = to_i();
    else if (is("--sigma")) a.sigma = to_double(arg, v);
    else if (is("--temperature")) a.temperature = to_double(arg, v);
    else if (is("--budget-fraction")) a.budget_fraction = to_double(arg, v);
    else if (is("--json")) a.json = v;
    else planner::throw_value_error("unknown option ", arg);
  }
  planner::require(a.seed >= 0, "--seed must be >= 0, got ", a.seed);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      usage(argv[0]);
      return 0;
    }
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const planner::ValueError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    usage(argv[0]);
    return 2;
  }
  try {
    using planner::control::PendulumObservation;
    std::shared_ptr<planner::Scorer> scorer;
    PendulumObservation observation = PendulumObservation::kGym;
    if (!a.model.empty()) {
      scorer = std::make_shared<planner::LatentScorer>(planner::WorldModel::load(a.model));
    } else {
      scorer = planner::make_scorer("pendulum");
      observation = PendulumObservation::kState;
    }
    planner::OptimizerConfig cfg;
    cfg.name = "mppi";
    cfg.samples = a.samples;
    cfg.horizon = a.horizon;
    cfg.iterations = a.iterations;
    cfg.init_std = {static_cast<float>(a.sigma)};
    cfg.temperature = static_cast<float>(a.temperature);
    cfg.momentum = 0.0f;  // MPPIConfig's default
    cfg.seed = static_cast<std::uint64_t>(a.seed);
    planner::Planner planner(cfg, scorer, {1, a.threads, 1});

    planner::control::PendulumParams params;
    params.m = a.m;
    params.l = a.l;
    params.g = a.g;
    planner::control::SimulatedPendulum robot(params, observation, static_cast<std::uint64_t>(a.seed));

    planner::control::LoopOptions options;
    options.hz = a.hz;
    options.budget_fraction = a.budget_fraction;
    options.realtime = !a.fast;
    options.background = a.background;
    options.steps = a.steps;
    planner::control::RealTimeLoop loop(planner, robot, options);

    // Warm-up off the clock, as a controller would before going live: first-touch page
    // faults and thread start-up stay out of the telemetry, and the planner's estimate of
    // an iteration's time is primed. reset() then restores the initial distribution.
    std::vector<float> obs(robot.observation_dim());
    robot.read(obs.data());
    for (int i = 0; i < 3; ++i) planner.plan(obs.data(), nullptr, nullptr, 0, 1000.0 * a.budget_fraction / a.hz);
    planner.reset();

    const planner::control::Telemetry& t = loop.run();
    std::printf("%s scorer, MPPI %d x H%d x <=%d iterations, %d threads; robot m=%g l=%g g=%g, seed %lld\n",
                a.model.empty() ? "analytic pendulum" : "latent", a.samples, a.horizon, a.iterations,
                planner.threads(), a.m, a.l, a.g, a.seed);
    std::printf("%s %s loop at %g Hz: period %.2f ms, plan budget %.2f ms, %d steps, %d plans, wall %.0f ms\n",
                a.fast ? "fast" : "realtime", a.background ? "background" : "synchronous", a.hz, t.period_ms,
                t.budget_ms, t.steps, t.plans(), t.wall_ms);
    std::printf("%10s %9s %9s %9s %8s %10s %13s %11s %10s %9s\n", "return", "p50 ms", "p99 ms", "max ms", "misses",
                "overruns", "max over ms", "mean iters", "max it ms", "skipped");
    std::printf("%10.1f %9.3f %9.3f %9.3f %8d %10d %13.3f %11.2f %10.3f %9d\n", robot.episode_return(), t.p50(),
                t.p99(), t.max(), t.deadline_misses, t.budget_overruns, t.max_overrun_ms, t.mean_iterations(),
                t.max_iteration_ms, t.skipped_ticks);
    if (!a.json.empty()) {
      std::ofstream f(a.json);
      planner::require(static_cast<bool>(f), "cannot open --json ", a.json, " for writing");
      char head[256];
      std::snprintf(head, sizeof(head), "{\"return\": %.10g, \"scorer\": \"%s\", \"m\": %g, \"l\": %g, \"g\": %g, ",
                    robot.episode_return(), a.model.empty() ? "pendulum" : "latent", a.m, a.l, a.g);
      f << head << "\"telemetry\": " << t.to_json() << "}\n";
      planner::require(static_cast<bool>(f), "writing --json ", a.json, " failed");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
