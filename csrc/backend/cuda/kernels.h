// Host-side launchers of the GPU planner's kernels (sampling.cu, update.cu, analytic.cu)
// and the device views they work on. Plain C++: gpu_planner.cpp includes it.
//
// Every launcher only enqueues on `stream` and checks the launch; none synchronizes.
// Kernel arguments never depend on device data, so the whole plan() sequence can be
// captured into a CUDA graph once and replayed.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace planner::gpu::kernels {

enum class Method : int { kCEM, kICEM, kMPPI };

// The optimizer's configuration and device state. Layouts as in planner::Optimizer:
// population [B, N, H, A], mean/std/solution [B, H, A], returns [B, N].
struct OptimizerView {
  int B = 0, N = 0, H = 0, A = 0, HA = 0;
  int iterations = 0;
  Method method = Method::kMPPI;
  std::uint64_t seed = 0;
  bool truncated = false;  // Sampling::kTruncated
  int num_elites = 0;      // K (CEM, iCEM)
  int top_k = 0;           // MPPI: 0 = all finite samples
  int kept = 0;            // iCEM: elites carried to the next iteration / step
  bool shift_elites = false, add_mean = false, adapt_std = false;
  float momentum = 0.0f, keep = 1.0f;  // keep = 1 - momentum, rounded on the host like the CPU
  float min_std = 0.0f, max_std = 0.0f, temperature = 1.0f;

  const float* lower = nullptr;      // [A]
  const float* upper = nullptr;      // [A]
  const float* init_mean = nullptr;  // [A]
  const float* init_std = nullptr;   // [A]
  const float* color = nullptr;      // [H, H] iCEM coloring matrix

  float* mean = nullptr;     // [B, HA]
  float* stddev = nullptr;   // [B, HA]
  float* pop = nullptr;      // [B, N, HA]
  float* noise = nullptr;    // [B, N, HA] iCEM: white noise before coloring
  float* returns = nullptr;  // [B, N]
  int* order = nullptr;      // [B, N] rows the update uses, ascending row index
  int* sorted = nullptr;     // [B, N] the same rows, best first (CEM, iCEM, MPPI top-k)
  unsigned long long* keys = nullptr;  // [B, N] ranking keys of `order`
  float* weights = nullptr;  // [B, N] MPPI normalized weights, in `order` / `sorted` order
  int* count = nullptr;      // [B] rows the update uses; 0 = none finite, keep the distribution
  float* best_return = nullptr;  // [B] best finite return of the current plan
  float* elites = nullptr;       // [B, kept, HA] iCEM carried elites, best first
  int* elite_n = nullptr;        // [B] iCEM: elites of the last update (CPU elite_n_)
  float* best = nullptr;         // [B, HA] iCEM best sample of the current plan
  float* best_val = nullptr;     // [B]
  float* shift_tmp = nullptr;    // [B, (1 + kept), HA] scratch of the in-place shift
  std::uint32_t* step = nullptr; // [1] control step (the NormalStream c3); device-side so graphs replay
  float* plan_out = nullptr;     // [B, HA]
  float* action_out = nullptr;   // [B, A]
  float* best_out = nullptr;     // [B]
};

// Optimizer::begin(): best returns to -inf; iCEM: best sample = mean.
void launch_begin(const OptimizerView& v, cudaStream_t stream);
// Fills rows [0, active) of every problem for iteration `iteration` (sample_rows and the
// iCEM fixed rows of prepare()).
void launch_sample(const OptimizerView& v, int iteration, int active, cudaStream_t stream);
// Optimizer::update() on returns [B, active] (row stride N): ranks, then refits.
void launch_update(const OptimizerView& v, int active, cudaStream_t stream);
// plan = clip(solution), action = plan[:, 0], best_out = best_return.
void launch_finalize(const OptimizerView& v, cudaStream_t stream);
// Optimizer::shift(steps) for steps >= 1: also advances the control step.
void launch_shift(const OptimizerView& v, int steps, cudaStream_t stream);
// Optimizer::reset() (problem < 0) or reset_problem(problem).
void launch_reset(const OptimizerView& v, int problem, cudaStream_t stream);

// Analytic scorers: parameters resolved on the host exactly as the CPU scorers do.
struct PendulumParams {
  float dt, k_sin, k_u, max_speed, max_torque;
};
struct DiffDriveParams {
  float dt, r, track, umax, gx, gy, gyaw, yw, aw, ox, oy, orad2, ocost;
};

// returns[b, n] for rows n < rows of every problem: state [B, S], actions [B, row_stride, H, A].
void launch_pendulum(const PendulumParams& p, const float* state, const float* actions, int batch, int rows,
                     int row_stride, int horizon, float* returns, cudaStream_t stream);
void launch_diff_drive(const DiffDriveParams& p, const float* state, const float* actions, int batch, int rows,
                       int row_stride, int horizon, float* returns, cudaStream_t stream);

}  // namespace planner::gpu::kernels
