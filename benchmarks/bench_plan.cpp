// bench_plan: p50/p99 latency of the native planner on the BENCHMARKS.md
// configurations pendulum-mppi and pendulum-cem, from C++ with no Python.
//   usage: bench_plan [threads=2] [calls=200]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "planner/common/stats.h"
#include "planner/planner.h"

namespace {

struct Case {
  const char* name;
  planner::OptimizerConfig config;
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 200;
  planner::OptimizerConfig mppi;
  mppi.name = "mppi";
  mppi.samples = 1000;
  mppi.horizon = 20;
  mppi.iterations = 1;
  mppi.init_std = {1.0f};
  mppi.temperature = 1.0f;
  mppi.momentum = 0.0f;
  planner::OptimizerConfig cem;
  cem.name = "cem";
  cem.samples = 500;
  cem.horizon = 20;
  cem.iterations = 5;
  cem.elites = 50;
  cem.init_std = {1.0f};
  cem.momentum = 0.1f;
  cem.min_std = 0.05f;
  const std::vector<Case> cases = {{"pendulum-mppi", mppi}, {"pendulum-cem", cem}};

  auto scorer = planner::make_scorer("pendulum");
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> th(-3.14159f, 3.14159f), thd(-1.0f, 1.0f);
  std::printf("%-15s %8s %10s %10s %14s\n", "config", "threads", "p50_ms", "p99_ms", "dyn_steps/s");
  for (const auto& c : cases) {
    planner::Planner p(c.config, scorer, {1, threads, 1});
    std::vector<double> ms;
    for (int i = 0; i < calls + 10; ++i) {
      const float state[2] = {th(rng), thd(rng)};
      const auto t0 = std::chrono::steady_clock::now();
      const auto& r = p.plan(state);
      const auto t1 = std::chrono::steady_clock::now();
      if (!std::isfinite(r.action[0])) return 1;
      if (i >= 10) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    const double p50 = planner::percentile(ms, 0.5);
    const double steps = static_cast<double>(c.config.samples) * c.config.horizon * c.config.iterations;
    std::printf("%-15s %8d %10.4f %10.4f %14.3e\n", c.name, p.threads(), p50, planner::percentile(ms, 0.99), steps / (p50 * 1e-3));
  }
  return 0;
}
