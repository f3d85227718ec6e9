// The GPU planner: the same ask/score/tell search as planner::Planner, with every stage
// on one CUDA device and enqueued on the caller's stream. Implemented in backend/cuda;
// backend/no_cuda provides the same symbols, whose constructors throw a clear error
// (CUDA by substitution: nothing outside csrc/backend tests for CUDA).
//
// Contract:
//  - Inputs (state, context) are device pointers, float32, C-contiguous, on the planner's
//    device. Outputs (action, plan, best return) stay on the device, valid until the
//    next plan(), shift() or reset().
//  - plan() only enqueues work on `stream` (a cudaStream_t passed as void*; nullptr is
//    the legacy default stream). It never synchronizes the host, except copy_action(),
//    which copies the action out and waits for that copy.
//  - Sampling is CPU-identical: for the same OptimizerConfig, seed, batch and step, the
//    samples drawn from the same distribution equal those planner::Planner draws
//    (NormalStream, the fm:: polynomials, no fused multiply-add in the sampling path).
//    The first iteration of a plan is therefore bit-identical; later iterations and
//    steps stay so only while the returns are (the analytic scorers, whose updates
//    also sum in the CPU's order). Latent returns agree with the CPU scorer to a
//    tolerance (float32: 1e-4 relative; TF32/BF16: measured, not bitwise), so their
//    later iterations may diverge.
//  - Device data is not inspected on the host: a non-finite state gives the fallback
//    result (best return -inf, the warm-started plan) rather than the CPU's ValueError.
//  - shift() and reset() enqueue on the stream of the last plan() (the legacy default
//    stream before the first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "planner/optimizers/config.h"
#include "planner/scorers/latent.h"
#include "planner/scorers/scorer.h"

namespace planner::gpu {

// Matrix precision of the latent rollout. kFloat32 uses CUDA cores (the parity
// reference); kTF32 and kBF16 use tensor cores with float32 accumulation.
enum class Precision { kFloat32, kTF32, kBF16 };

Precision parse_precision(const std::string& name);  // "float32" | "tf32" | "bf16"
std::string precision_name(Precision p);

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  std::size_t memory_bytes = 0;
};

// CUDA devices visible (0 without the CUDA backend, without a driver or without a GPU).
int device_count();
DeviceInfo device_info(int device);

// What the GPU planner scores with: an analytic model by name ("pendulum", "diff_drive",
// with the same params and defaults as planner::make_scorer), or a latent world model.
struct ScorerSpec {
  std::string analytic;                      // non-empty: an analytic scorer
  Params params;                             // its parameter overrides
  std::shared_ptr<const WorldModel> model;   // else: the latent model
  LatentOptions latent;                      // disagreement, terminal value
  Precision precision = Precision::kFloat32;
};

struct GpuPlanResult {
  const float* action = nullptr;       // device [B, A]
  const float* plan = nullptr;         // device [B, H, A]
  const float* best_return = nullptr;  // device [B]
  int iterations = 0;
};

class GpuPlanner {
 public:
  // Uploads the model once. Throws ValueError on a bad config and RuntimeError naming
  // the CUDA call when the device fails (or, in a build without CUDA, saying so).
  GpuPlanner(const OptimizerConfig& config, const ScorerSpec& scorer, int batch, int device = 0,
             int shift_after_plan = 1);
  ~GpuPlanner();
  GpuPlanner(const GpuPlanner&) = delete;
  GpuPlanner& operator=(const GpuPlanner&) = delete;

  int batch() const;
  int state_dim() const;
  int action_dim() const;
  int context_dim() const;
  int horizon() const;
  int samples() const;
  int device() const;
  std::string scorer_name() const;

  // Enqueues one plan on `stream`: state device [B, S]; context device [B, C] (required
  // when C > 0, else ignored). Then shifts the warm start by shift_after_plan steps.
  const GpuPlanResult& plan(const float* state, const float* context, void* stream);
  // Copies the action [B, A] of the last plan into host memory and waits for the copy.
  void copy_action(float* host, void* stream);
  void shift(int steps);
  void reset();
  void reset(int b);

  // Test hooks (device pointers, valid until the next plan): the population of the last
  // iteration [B, N, H, A] with its row count, and its returns [B, N].
  const float* last_population() const;
  int last_population_rows() const;
  const float* last_returns() const;
  // Copies the last population [B, N, H, A] and returns [B, N] to the host, whole
  // buffers (rows beyond last_population_rows() of each problem are stale), waiting on
  // the last plan's stream (tests only).
  void copy_last_iteration(std::vector<float>& population, std::vector<float>& returns) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace planner::gpu
