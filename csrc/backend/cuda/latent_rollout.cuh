// The fused latent rollout on the GPU: the device counterpart of planner::LatentScorer
// (csrc/planner/scorers/latent.{h,cpp} is the oracle it must match).
//
// For each problem b and each active row n: z0 = encoder(normalized obs_b); for
// t = 0..H-1: a_n = action [b, n, t] mapped from the box to [-1, 1]; the ensemble-mean
// next latent and ensemble-mean reward from the M dynamics / reward heads (inputs
// concatenated in each network's declared order: z, a, c); returns accumulate the
// discounted, de-normalized reward, minus `disagreement` x the discounted ensemble spread
// when enabled; plus discount^H x value(z_H, c) when the model has a value head and the
// options ask for it. All H steps run inside one kernel launch (or one captured CUDA
// graph); intermediates stay in registers / shared memory, never in device memory.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "backend/gpu.h"

namespace planner::gpu {

class LatentRollout {
 public:
  // Uploads every weight of `model` to `device` (converted once to the precision's
  // storage type). Throws RuntimeError naming the CUDA call on failure.
  LatentRollout(std::shared_ptr<const WorldModel> model, const LatentOptions& options, Precision precision,
                int device);
  ~LatentRollout();
  LatentRollout(const LatentRollout&) = delete;
  LatentRollout& operator=(const LatentRollout&) = delete;

  int state_dim() const;
  int action_dim() const;
  int context_dim() const;
  Precision precision() const;

  // Enqueues scoring on `stream` (no host synchronization):
  //   obs      device [B, S]
  //   context  device [B, C] (nullptr when C == 0)
  //   actions  device [B, row_stride, H, A]; rows [0, rows) of each problem are scored
  //   returns  device [B, row_stride]; entries [0, rows) of each problem are written
  void score(const float* obs, const float* context, const float* actions, int batch, int rows, int row_stride,
             int horizon, float* returns, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace planner::gpu
