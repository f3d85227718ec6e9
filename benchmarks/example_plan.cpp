// example_plan: closed-loop Pendulum-v1 swing-up planned natively, no Python.
// The plant is simulated in double precision with gymnasium's Pendulum-v1 equations;
// the planner uses its own float32 analytic model of it.
//   usage: example_plan [episodes=3] [threads=2]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "planner/planner.h"

namespace {

struct Pendulum {  // gymnasium Pendulum-v1, nominal parameters
  double th, thd;
  double step(double u) {
    u = std::fmin(std::fmax(u, -2.0), 2.0);
    const double w = std::remainder(th, 2.0 * M_PI);
    const double cost = w * w + 0.1 * thd * thd + 0.001 * u * u;
    double v = thd + (3.0 * 10.0 / 2.0 * std::sin(th) + 3.0 * u) * 0.05;
    v = std::fmin(std::fmax(v, -8.0), 8.0);
    th += v * 0.05;
    thd = v;
    return -cost;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int episodes = argc > 1 ? std::atoi(argv[1]) : 3;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  planner::OptimizerConfig cfg;
  cfg.name = "mppi";
  cfg.samples = 1000;
  cfg.horizon = 20;
  cfg.iterations = 1;
  cfg.init_std = {1.0f};
  cfg.temperature = 1.0f;
  cfg.momentum = 0.0f;
  cfg.seed = 7;
  planner::Planner planner(cfg, planner::make_scorer("pendulum"), {1, threads, 1});
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> th0(-M_PI, M_PI), thd0(-1.0, 1.0);
  double total = 0.0;
  for (int e = 0; e < episodes; ++e) {
    Pendulum env{th0(rng), thd0(rng)};
    planner.reset();
    double ret = 0.0;
    for (int t = 0; t < 200; ++t) {
      const float state[2] = {static_cast<float>(env.th), static_cast<float>(env.thd)};
      ret += env.step(planner.plan(state).action[0]);
    }
    std::printf("episode %d: return %.1f\n", e, ret);
    total += ret;
  }
  std::printf("mean return over %d episodes: %.1f\n", episodes, total / episodes);
  return 0;
}
