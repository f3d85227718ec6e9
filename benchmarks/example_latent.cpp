// example_latent: loads a model file exported from Python (docs/MODEL_FORMAT.md) and
// plans with it natively: no Python, no torch.
//   usage: example_latent MODEL [threads=2] [samples=256] [horizon=12] [iterations=4]
// Plans from the all-zero observation (and context) and prints the first action, the
// best return and the latency of 50 plans.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include "planner/planner.h"
#include "planner/scorers/latent.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [threads=2] [samples=256] [horizon=12] [iterations=4]\n", argv[0]);
    return 2;
  }
  try {
    auto model = planner::WorldModel::load(argv[1]);
    std::printf("model: S=%d A=%d Z=%d C=%d M=%d, %lld parameters, value head: %s\n", model->obs_dim,
                model->action_dim, model->latent_dim, model->context_dim, model->ensemble, model->parameter_count(),
                model->has_value ? "yes" : "no");
    planner::OptimizerConfig cfg;
    cfg.name = "mppi";
    cfg.samples = argc > 3 ? std::atoi(argv[3]) : 256;
    cfg.horizon = argc > 4 ? std::atoi(argv[4]) : 12;
    cfg.iterations = argc > 5 ? std::atoi(argv[5]) : 4;
    cfg.init_std = {0.5f};
    cfg.temperature = 0.5f;
    cfg.momentum = 0.0f;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    planner::Planner p(cfg, std::make_shared<planner::LatentScorer>(model), {1, threads, 1});
    std::vector<float> obs(model->obs_dim, 0.0f), ctx(std::max(model->context_dim, 1), 0.0f);
    std::vector<double> ms;
    const planner::PlanResult* r = nullptr;
    for (int i = 0; i < 55; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      r = &p.plan(obs.data(), ctx.data());
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= 5) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("first action:");
    for (int a = 0; a < model->action_dim; ++a) std::printf(" %.4f", r->action[a]);
    std::printf("\nbest return %.4f, plan p50 %.3f ms, p99 %.3f ms (%d threads)\n", r->best_return[0],
                ms[ms.size() / 2], ms[ms.size() * 99 / 100], p.threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
