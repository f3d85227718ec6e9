// bench_gemm: GFLOP/s of the planner's dense product Y = X W^T on the shapes the
// latent presets run (rows = one block of samples), single-threaded, as the planner
// calls it. Any hand-written kernel must beat the library here before it is used.
//   usage: bench_gemm [repeats=2000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "planner/models/gemm.h"
#include "planner/models/mlp.h"

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 2000;
  struct Shape {
    const char* what;
    int rows, out, in;
  };
  const Shape shapes[] = {
      {"latent-small first layer", 128, 128, 46},  {"latent-small hidden", 128, 128, 128},
      {"latent-small latent out", 128, 32, 128},   {"tdmpc2-1m first layer", 128, 384, 134},
      {"tdmpc2-1m hidden", 128, 384, 384},         {"tdmpc2-1m latent out", 128, 128, 384},
  };
  std::mt19937 rng(0);
  std::normal_distribution<float> nd;
  std::printf("backend %s\n%-28s %6s %6s %6s %10s %12s\n", planner::gemm_backend(), "shape", "rows", "out", "in",
              "us/call", "GFLOP/s");
  for (const auto& s : shapes) {
    std::vector<float> x(static_cast<std::size_t>(s.rows) * s.in), w(static_cast<std::size_t>(s.out) * s.in),
        y(static_cast<std::size_t>(s.rows) * s.out);
    for (auto& v : x) v = nd(rng);
    for (auto& v : w) v = nd(rng);
    for (int i = 0; i < 20; ++i) planner::gemm_xwt(s.rows, s.out, s.in, x.data(), w.data(), y.data());
    std::vector<double> us;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < repeats; ++i) planner::gemm_xwt(s.rows, s.out, s.in, x.data(), w.data(), y.data());
      const auto t1 = std::chrono::steady_clock::now();
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / repeats);
    }
    const double best = *std::min_element(us.begin(), us.end());
    const double flop = 2.0 * s.rows * s.out * s.in;
    std::printf("%-28s %6d %6d %6d %10.2f %12.1f\n", s.what, s.rows, s.out, s.in, best, flop / best * 1e-3);
  }
  // Epilogue cost on the widest latent-small layer, for comparison.
  planner::Layer layer;
  layer.in = 128;
  layer.out = 128;
  layer.bias.resize(128);
  layer.layer_norm = true;
  layer.norm_weight.resize(128);
  layer.norm_weight.fill(1.0f);
  layer.norm_bias.resize(128);
  layer.act = planner::Activation::kMish;
  std::vector<float> y(128 * 128);
  for (auto& v : y) v = nd(rng);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) planner::layer_epilogue(layer, y.data(), 128);
  const auto t1 = std::chrono::steady_clock::now();
  std::printf("%-28s %6d %6d %6s %10.2f\n", "epilogue LN+mish", 128, 128, "-",
              std::chrono::duration<double, std::micro>(t1 - t0).count() / repeats);
  return 0;
}
