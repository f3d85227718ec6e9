// CUDA backend tests (ctest): the CPU planner is the oracle. Exits 77 (ctest: skipped)
// when no CUDA device is visible. usage: test_cuda [ASSETS_DIR] (the latent-model
// tests need planner/assets; CMake passes it).
//
// What is checked, for cem / icem / mppi on pendulum and diff_drive, B = 3 problems:
//  - iteration 1: the population equals planner::Planner's bit for bit (CPU-identical
//    sampling), returns agree to 1e-4 relative;
//  - the analytic scorers and the updates round like the CPU, so whole multi-iteration
//    plans over several warm-started steps (and reset(b)) equal the CPU's exactly;
//    the action is also checked against a tolerance so a failure says how far off;
//  - graph replay equals direct launches; plan() allocates nothing on the host;
//  - the latent scorer: same samples, returns within 1e-4 relative (float32);
//  - bad inputs raise ValueError.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/gpu.h"
#include "planner/common/errors.h"
#include "planner/planner.h"
#include "planner/scorers/latent.h"

#include "check.h"

namespace {

using planner::OptimizerConfig;
using planner::gpu::GpuPlanner;
using planner::gpu::ScorerSpec;

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::printf("CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// A device copy of a host vector, freed at scope exit.
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<float>& host) : n_(host.size()) {
    cuda_ok(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<std::size_t>(n_, 1) * sizeof(float)), "cudaMalloc");
    if (n_) cuda_ok(cudaMemcpy(p_, host.data(), n_ * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  const float* get() const { return p_; }

 private:
  float* p_ = nullptr;
  std::size_t n_;
};

std::vector<float> to_host(const float* device, std::size_t n) {
  std::vector<float> out(n);
  cuda_ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  cuda_ok(cudaMemcpy(out.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return out;
}

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

float max_rel_diff(const float* a, const float* b, std::size_t n) {
  float worst = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isinf(a[i]) && a[i] == b[i]) continue;
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0f, std::fabs(a[i])));
  }
  return worst;
}

OptimizerConfig config(const std::string& name, int iterations) {
  OptimizerConfig c;
  c.name = name;
  c.samples = 300;  // not a multiple of the 256-value Philox tile
  c.horizon = 15;
  c.iterations = iterations;
  c.elites = 20;
  c.seed = 1234567891234ull;  // both key words in use
  c.momentum = 0.1f;
  c.temperature = 0.7f;
  return c;
}

std::vector<float> states(const std::string& scorer, int B) {
  std::vector<float> s;
  for (int b = 0; b < B; ++b) {
    if (scorer == "pendulum") {
      s.insert(s.end(), {3.0f - 0.9f * static_cast<float>(b), 0.5f * static_cast<float>(b) - 0.3f});
    } else {
      s.insert(s.end(), {0.1f * static_cast<float>(b), -0.2f, 0.3f * static_cast<float>(b) - 0.5f});
    }
  }
  return s;
}

struct Pair {
  std::unique_ptr<planner::Planner> cpu;
  std::unique_ptr<GpuPlanner> gpu;
};

Pair make_pair(const OptimizerConfig& c, const std::string& scorer, int B, const planner::Params& params = {}) {
  Pair p;
  p.cpu = std::make_unique<planner::Planner>(c, planner::make_scorer(scorer, params), planner::PlannerOptions{B, 1, 1});
  ScorerSpec spec;
  spec.analytic = scorer;
  spec.params = params;
  p.gpu = std::make_unique<GpuPlanner>(c, spec, B);
  return p;
}

// Compares the last iteration (population rows in use, returns) and the plan outputs.
// The CPU planner keeps no returns: its population is rescored with its own scorer,
// which is what its plan() did. exact: the plan must equal the CPU's bit for bit; else
// the action must be within action_tol (relative).
void compare_plans(Pair& p, const std::vector<float>& state, const std::vector<float>& context,
                   const planner::PlanResult& cr, const planner::gpu::GpuPlanResult& gr, const std::string& what,
                   bool exact, float action_tol = 1e-3f) {
  const int B = p.gpu->batch(), N = p.gpu->samples(), H = p.gpu->horizon(), A = p.gpu->action_dim();
  const int HA = H * A, S = p.gpu->state_dim(), C = p.gpu->context_dim();
  const int rows = p.gpu->last_population_rows();
  std::vector<float> pop, ret;
  p.gpu->copy_last_iteration(pop, ret);
  const float* cpu_pop = p.cpu->optimizer().population();
  const planner::Scorer& scorer = p.cpu->scorer();
  std::vector<float> cpu_ret(static_cast<std::size_t>(rows));
  std::vector<float> scratch(scorer.scratch_floats(rows, H) + 64);
  bool pop_same = true, ret_same = true;
  float worst = 0.0f;
  for (int b = 0; b < B; ++b) {
    const std::size_t off = static_cast<std::size_t>(b) * N * HA;
    pop_same = pop_same && same_bits(pop.data() + off, cpu_pop + off, static_cast<std::size_t>(rows) * HA);
    scorer.score(state.data() + static_cast<std::size_t>(b) * S,
                 C > 0 ? context.data() + static_cast<std::size_t>(b) * C : nullptr, cpu_pop + off, rows, H,
                 cpu_ret.data(), scratch.data());
    const float* g = ret.data() + static_cast<std::size_t>(b) * N;
    worst = std::max(worst, max_rel_diff(cpu_ret.data(), g, cpu_ret.size()));
    ret_same = ret_same && same_bits(cpu_ret.data(), g, cpu_ret.size());
  }
  check(pop_same, what + ": population bitwise equal to the CPU's");
  check(worst <= 1e-4f, what + ": returns within 1e-4 relative (worst " + std::to_string(worst) + ")");
  const std::vector<float> action = to_host(gr.action, static_cast<std::size_t>(B) * A);
  const std::vector<float> plan = to_host(gr.plan, static_cast<std::size_t>(B) * HA);
  const std::vector<float> best = to_host(gr.best_return, static_cast<std::size_t>(B));
  const float action_diff = max_rel_diff(cr.action, action.data(), action.size());
  check(action_diff <= action_tol, what + ": action within tolerance (off by " + std::to_string(action_diff) + ")");
  check(max_rel_diff(cr.best_return, best.data(), best.size()) < 1e-4f, what + ": best return within 1e-4");
  if (exact) {
    check(ret_same, what + ": returns bitwise equal to the CPU scorer's");
    check(same_bits(cr.plan, plan.data(), plan.size()), what + ": plan bitwise equal to the CPU's");
    check(same_bits(cr.best_return, best.data(), best.size()), what + ": best return bitwise equal");
  }
}

const char* const kMethods[] = {"cem", "icem", "mppi"};
const char* const kScorers[] = {"pendulum", "diff_drive"};

// One iteration: the samples are CPU-identical whatever the update does.
void test_first_iteration_parity() {
  for (const char* m : kMethods)
    for (const char* s : kScorers) {
      const int B = 3;
      Pair p = make_pair(config(m, 1), s, B);
      const std::vector<float> st = states(s, B);
      const DeviceVector d_state(st);
      const auto& cr = p.cpu->plan(st.data());
      const auto& gr = p.gpu->plan(d_state.get(), nullptr, nullptr);
      compare_plans(p, st, {}, cr, gr, std::string(m) + "/" + s + " I=1", true);
    }
}

// Several iterations and warm-started steps, B = 3, then reset(b) of one problem.
void test_multi_step_parity(OptimizerConfig base, const std::string& label, const planner::Params& params = {}) {
  for (const char* s : kScorers) {
    const int B = 3;
    OptimizerConfig c = base;
    Pair p = make_pair(c, s, B, s == std::string("pendulum") ? planner::Params{} : params);
    std::vector<float> st = states(s, B);
    for (int step = 0; step < 5; ++step) {
      if (step == 3) {
        p.cpu->reset(1);
        p.gpu->reset(1);
      }
      const DeviceVector d_state(st);
      const auto& cr = p.cpu->plan(st.data());
      const auto& gr = p.gpu->plan(d_state.get(), nullptr, nullptr);
      compare_plans(p, st, {}, cr, gr, label + "/" + s + " step " + std::to_string(step), true);
      for (float& x : st) x += 0.01f;  // the robot moved
    }
  }
}

void test_variants() {
  for (const char* m : kMethods) test_multi_step_parity(config(m, 4), std::string(m) + " I=4");
  OptimizerConfig c = config("mppi", 3);
  c.top_k = 25;
  test_multi_step_parity(c, "mppi top_k");
  c.adapt_std = true;
  test_multi_step_parity(c, "mppi top_k adapt_std");
  c.top_k = 0;
  test_multi_step_parity(c, "mppi adapt_std");
  c = config("cem", 3);
  c.sampling = planner::Sampling::kTruncated;
  c.init_std = {3.0f};  // wide: many values leave the box and are redrawn
  test_multi_step_parity(c, "cem truncated");
  c = config("icem", 4);
  c.shift_elites = false;
  c.add_mean = false;
  c.noise_beta = 0.0f;
  test_multi_step_parity(c, "icem white, no carried elites");
  c = config("icem", 3);
  c.samples = 200;
  c.elites = 30;
  c.keep_elites = 1.0f;
  c.pop_decay = 2.0f;  // populations 200, 100, 60
  c.min_std = 0.2f;
  c.max_std = 0.5f;
  c.lower = {-0.5f};
  c.upper = {0.7f};
  test_multi_step_parity(c, "icem decay, box, std clamp", {{"goal_x", -1.0}, {"obstacle_radius", 0.5}});
  ScorerSpec spec;
  spec.analytic = "pendulum";
  check(GpuPlanner(c, spec, 1).last_population_rows() == 60, "icem decay: last population has 60 rows");
}

// Graph replay (from the second plan on) must equal direct launches.
void test_graphs_match_direct() {
  const int B = 2;
  OptimizerConfig c = config("icem", 3);
  ScorerSpec spec;
  spec.analytic = "diff_drive";
  setenv("PLANNER_CUDA_GRAPHS", "0", 1);
  GpuPlanner direct(c, spec, B);
  unsetenv("PLANNER_CUDA_GRAPHS");
  GpuPlanner graphed(c, spec, B);
  cudaStream_t stream = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  std::vector<float> st = states("diff_drive", B);
  bool same = true;
  for (int i = 0; i < 6; ++i) {
    const DeviceVector d_state(st);
    const auto& a = direct.plan(d_state.get(), nullptr, stream);
    const auto& g = graphed.plan(d_state.get(), nullptr, stream);
    cuda_ok(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    same = same && same_bits(to_host(a.plan, 2 * 15 * 2).data(), to_host(g.plan, 2 * 15 * 2).data(), 2 * 15 * 2);
    if (i == 3) {
      direct.shift(2);
      graphed.shift(2);
    }
    for (float& x : st) x -= 0.02f;
  }
  check(same, "graph replay equals direct launches (with an extra shift)");
  cuda_ok(cudaStreamDestroy(stream), "cudaStreamDestroy");
}

void test_no_host_allocation_in_plan() {
  ScorerSpec spec;
  spec.analytic = "pendulum";
  GpuPlanner g(config("mppi", 2), spec, 4);
  const DeviceVector d_state(states("pendulum", 4));
  std::vector<float> action(4);
  g.plan(d_state.get(), nullptr, nullptr);
  g.plan(d_state.get(), nullptr, nullptr);  // captures the graph
  const long before = g_allocations.load();
  for (int i = 0; i < 10; ++i) {
    g.plan(d_state.get(), nullptr, nullptr);
    g.copy_action(action.data(), nullptr);
  }
  const long after = g_allocations.load();  // before the message string below allocates
  check(after == before, "plan() and copy_action() allocate nothing on the host");
  check(std::isfinite(action[0]) && std::fabs(action[0]) <= 2.0f, "pendulum action finite and in the box");
}

// All samples non-finite (NaN state): the distribution is kept and the plan is the
// warm-started mean, best return -inf (Planner's fallback, PlanResult::fallback).
void test_nonfinite_fallback() {
  ScorerSpec spec;
  spec.analytic = "pendulum";
  for (const char* m : kMethods) {
    OptimizerConfig c = config(m, 2);
    c.init_mean = {0.25f};
    GpuPlanner g(c, spec, 1, 0, 0);
    const DeviceVector d_state(std::vector<float>{std::nanf(""), 0.0f});
    const auto& r = g.plan(d_state.get(), nullptr, nullptr);
    const std::vector<float> plan = to_host(r.plan, 15);
    const std::vector<float> best = to_host(r.best_return, 1);
    check(std::isinf(best[0]) && best[0] < 0, std::string(m) + ": all non-finite -> best return -inf");
    check(std::all_of(plan.begin(), plan.end(), [](float x) { return x == 0.25f; }),
          std::string(m) + ": all non-finite -> the warm-started mean is the plan");
  }
}

void test_latent(const std::string& assets) {
  for (const char* file : {"pendulum_small.lpm.safetensors", "pendulum_pc.lpm.safetensors"}) {
    auto model = planner::WorldModel::load(assets + "/" + file);
    const int B = 3, S = model->obs_dim, C = model->context_dim;
    for (const char* m : kMethods) {
      OptimizerConfig c = config(m, 1);
      Pair p;
      p.cpu = std::make_unique<planner::Planner>(c, std::make_shared<planner::LatentScorer>(model),
                                                 planner::PlannerOptions{B, 1, 1});
      ScorerSpec spec;
      spec.model = model;
      p.gpu = std::make_unique<GpuPlanner>(c, spec, B);
      check(p.gpu->state_dim() == S && p.gpu->context_dim() == C && p.gpu->scorer_name() == "latent",
            std::string(file) + ": dimensions");
      std::vector<float> st(static_cast<std::size_t>(B) * S), ctx(static_cast<std::size_t>(B) * std::max(C, 1));
      for (std::size_t i = 0; i < st.size(); ++i) st[i] = 0.3f * std::sin(static_cast<float>(i));
      for (std::size_t i = 0; i < ctx.size(); ++i) ctx[i] = 0.2f * std::cos(static_cast<float>(i));
      const DeviceVector d_state(st), d_ctx(ctx);
      const auto& cr = p.cpu->plan(st.data(), ctx.data());
      const auto& gr = p.gpu->plan(d_state.get(), C > 0 ? d_ctx.get() : nullptr, nullptr);
      // Returns differ in the last bits, so CEM/iCEM may swap an elite: only MPPI's
      // smooth weighting bounds the action.
      const float tol = std::string(m) == "mppi" ? 1e-3f : INFINITY;
      compare_plans(p, st, ctx, cr, gr, std::string(file) + " " + m + " I=1", false, tol);
    }
  }
}

void test_bad_inputs() {
  ScorerSpec spec;
  spec.analytic = "cartpole";
  check_throws<planner::ValueError>([&] { GpuPlanner g(config("mppi", 1), spec, 1); },
                                    "cartpole has no GPU scorer: ValueError");
  spec.analytic = "pendulum";
  spec.params = {{"no_such_param", 1.0}};
  check_throws<planner::ValueError>([&] { GpuPlanner g(config("mppi", 1), spec, 1); },
                                    "unknown scorer param: ValueError");
  spec.params = {};
  OptimizerConfig c = config("cem", 1);
  c.elites = 1000;
  check_throws<planner::ValueError>([&] { GpuPlanner g(c, spec, 1); }, "elites > samples: ValueError");
  c = config("nope", 1);
  check_throws<planner::ValueError>([&] { GpuPlanner g(c, spec, 1); }, "unknown optimizer: ValueError");
  check_throws<planner::ValueError>([&] { GpuPlanner g(config("mppi", 1), spec, 0); }, "batch 0: ValueError");
  check_throws<planner::ValueError>([&] { GpuPlanner g(config("mppi", 1), spec, 1, 99); },
                                    "device out of range: ValueError");
  check_throws<planner::ValueError>([&] { GpuPlanner g(config("mppi", 1), ScorerSpec{}, 1); },
                                    "no scorer: ValueError");
  GpuPlanner g(config("mppi", 1), spec, 2);
  const std::vector<float> host_state(4, 0.0f);
  check_throws<planner::ValueError>([&] { g.plan(host_state.data(), nullptr, nullptr); },
                                    "host state pointer: ValueError");
  check_throws<planner::ValueError>([&] { g.plan(nullptr, nullptr, nullptr); }, "null state: ValueError");
  check_throws<planner::ValueError>([&] { g.reset(2); }, "reset(b) out of range: ValueError");
  check_throws<planner::ValueError>([&] { g.shift(-1); }, "shift(-1): ValueError");
  check_throws<planner::ValueError>([] { planner::gpu::parse_precision("fp64"); }, "bad precision: ValueError");
  check(planner::gpu::parse_precision("tf32") == planner::gpu::Precision::kTF32, "parse tf32");
  check(planner::gpu::precision_name(planner::gpu::Precision::kBF16) == "bf16", "name bf16");
  const planner::gpu::DeviceInfo info = planner::gpu::device_info(0);
  check(info.cc_major >= 1 && info.multiprocessors > 0 && info.memory_bytes > 0, "device_info(0) is filled");
}

}  // namespace

int main(int argc, char** argv) {
  if (planner::gpu::device_count() == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  const std::string assets = argc > 1 ? argv[1] : "planner/assets";
  const std::pair<const char*, std::function<void()>> tests[] = {
      {"first_iteration_parity", test_first_iteration_parity},
      {"variants", test_variants},
      {"graphs_match_direct", test_graphs_match_direct},
      {"no_host_allocation_in_plan", test_no_host_allocation_in_plan},
      {"nonfinite_fallback", test_nonfinite_fallback},
      {"latent", [&] { test_latent(assets); }},
      {"bad_inputs", test_bad_inputs},
  };
  for (const auto& [name, fn] : tests) {
    try {
      fn();
    } catch (const std::exception& e) {
      check(false, std::string(name) + " threw: " + e.what());
    }
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
