// bench_gpu: plan() latency of the CUDA planner, timed with CUDA events on one stream
// (device time of the whole plan: sampling, scoring, updates, warm-start shift), from
// C++ with no Python. Configurations: diff-drive MPPI 2048 x H100 and 16384 x H100, one
// iteration (the published MPPI-Generic anchors of BENCHMARKS.md), and with --model a
// latent MPPI plan (256 x H12 x 4 iterations, B = 1 and B = 64).
//   usage: bench_gpu [--calls 200] [--warmup 20] [--model PATH] [--json PATH]
// Prints one JSON object (also written to --json PATH). Exits 77 when no GPU is visible.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/gpu.h"
#include "planner/common/stats.h"
#include "planner/models/world_model.h"

namespace {

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

struct Case {
  std::string name;
  planner::OptimizerConfig config;
  planner::gpu::ScorerSpec scorer;
  int batch = 1;
};

// Runs warmup + calls plans from a rotating set of 16 device states [B, S] (and contexts).
std::string run_case(const Case& c, int calls, int warmup) {
  planner::gpu::GpuPlanner p(c.config, c.scorer, c.batch);
  const int B = c.batch, S = p.state_dim(), C = p.context_dim();
  constexpr int kStates = 16;
  std::vector<float> host_states(static_cast<std::size_t>(kStates) * B * S);
  for (std::size_t i = 0; i < host_states.size(); ++i)
    host_states[i] = 0.5f * std::sin(0.37f * static_cast<float>(i));
  std::vector<float> host_ctx(static_cast<std::size_t>(B) * std::max(C, 1), 0.1f);
  float *states = nullptr, *ctx = nullptr;
  cuda_ok(cudaMalloc(reinterpret_cast<void**>(&states), host_states.size() * sizeof(float)), "cudaMalloc");
  cuda_ok(cudaMalloc(reinterpret_cast<void**>(&ctx), host_ctx.size() * sizeof(float)), "cudaMalloc");
  cuda_ok(cudaMemcpy(states, host_states.data(), host_states.size() * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy");
  cuda_ok(cudaMemcpy(ctx, host_ctx.data(), host_ctx.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  cuda_ok(cudaEventCreate(&start), "cudaEventCreate");
  cuda_ok(cudaEventCreate(&stop), "cudaEventCreate");

  std::vector<double> device_ms, host_ms;
  std::vector<float> best(static_cast<std::size_t>(B));
  double best_sum = 0.0;
  long long best_count = 0;
  for (int i = 0; i < warmup + calls; ++i) {
    const float* state = states + static_cast<std::size_t>(i % kStates) * B * S;
    cuda_ok(cudaEventRecord(start, stream), "cudaEventRecord");
    const auto t0 = std::chrono::steady_clock::now();
    const auto& r = p.plan(state, C > 0 ? ctx : nullptr, stream);
    const auto t1 = std::chrono::steady_clock::now();
    cuda_ok(cudaEventRecord(stop, stream), "cudaEventRecord");
    cuda_ok(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.0f;
    cuda_ok(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (i < warmup) continue;
    device_ms.push_back(ms);
    host_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    cuda_ok(cudaMemcpy(best.data(), r.best_return, best.size() * sizeof(float), cudaMemcpyDeviceToHost),
            "cudaMemcpy (best return)");
    for (float v : best)
      if (std::isfinite(v)) {
        best_sum += v;
        ++best_count;
      }
  }
  cuda_ok(cudaEventDestroy(start), "cudaEventDestroy");
  cuda_ok(cudaEventDestroy(stop), "cudaEventDestroy");
  cuda_ok(cudaStreamDestroy(stream), "cudaStreamDestroy");
  cuda_ok(cudaFree(states), "cudaFree");
  cuda_ok(cudaFree(ctx), "cudaFree");

  const double p50 = planner::percentile(device_ms, 0.5);
  const double steps = static_cast<double>(B) * c.config.samples * c.config.horizon * c.config.iterations;
  std::ostringstream os;
  os << "{\"config\": \"" << c.name << "\", \"optimizer\": \"" << c.config.name << "\", \"scorer\": \""
     << p.scorer_name() << "\", \"batch\": " << B << ", \"samples\": " << c.config.samples
     << ", \"horizon\": " << c.config.horizon << ", \"iterations\": " << c.config.iterations
     << ", \"calls\": " << calls << ", \"p50_ms\": " << p50 << ", \"p99_ms\": " << planner::percentile(device_ms, 0.99)
     << ", \"host_enqueue_p50_ms\": " << planner::percentile(host_ms, 0.5) << ", \"dyn_steps_per_s\": " << steps / (p50 * 1e-3)
     << ", \"best_return_mean\": " << (best_count > 0 ? best_sum / static_cast<double>(best_count) : 0.0) << "}";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 200, warmup = 20;
  std::string model_path, json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--calls" && has_value) {
      calls = std::atoi(argv[++i]);
    } else if (a == "--warmup" && has_value) {
      warmup = std::atoi(argv[++i]);
    } else if (a == "--model" && has_value) {
      model_path = argv[++i];
    } else if (a == "--json" && has_value) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--calls 200] [--warmup 20] [--model PATH] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  if (calls < 1 || warmup < 0) {
    std::fprintf(stderr, "--calls must be >= 1 and --warmup >= 0\n");
    return 2;
  }
  if (planner::gpu::device_count() == 0) {
    std::fprintf(stderr, "bench_gpu: no CUDA device visible; nothing to measure\n");
    return 77;
  }
  try {
    std::vector<Case> cases;
    for (int n : {2048, 16384}) {
      Case c;
      c.name = "diff_drive-mppi-" + std::to_string(n) + "x100";
      c.config.name = "mppi";
      c.config.samples = n;
      c.config.horizon = 100;
      c.config.iterations = 1;
      c.config.init_std = {0.5f};
      c.config.temperature = 1.0f;
      c.config.momentum = 0.0f;
      c.scorer.analytic = "diff_drive";
      cases.push_back(c);
    }
    if (!model_path.empty()) {
      auto model = planner::WorldModel::load(model_path);
      for (int batch : {1, 64}) {
        Case c;
        c.name = batch == 1 ? "latent-mppi-256x12x4" : "latent-mppi-256x12x4-batched-64";
        c.config.name = "mppi";
        c.config.samples = 256;
        c.config.horizon = 12;
        c.config.iterations = 4;
        c.config.init_std = {0.5f};
        c.config.temperature = 0.5f;
        c.config.momentum = 0.0f;
        c.scorer.model = model;
        c.batch = batch;
        cases.push_back(c);
      }
    }
    const planner::gpu::DeviceInfo info = planner::gpu::device_info(0);
    std::ostringstream out;
    out << "{\"benchmark\": \"bench_gpu\", \"device\": {\"name\": \"" << info.name << "\", \"cc\": \"" << info.cc_major
        << "." << info.cc_minor << "\", \"multiprocessors\": " << info.multiprocessors
        << "}, \"build\": \"" << planner::backend::build_summary() << "\", \"timing\": \"cudaEvent per plan\", "
        << "\"results\": [";
    for (std::size_t i = 0; i < cases.size(); ++i) out << (i ? ",\n  " : "\n  ") << run_case(cases[i], calls, warmup);
    out << "\n]}\n";
    std::fputs(out.str().c_str(), stdout);
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      f << out.str();
      if (!f) {
        std::fprintf(stderr, "writing --json %s failed\n", json_path.c_str());
        return 1;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
