// Test and benchmark hooks of the fused latent rollout (latent_rollout.cu); not part of
// the planner's API. They act process-wide, on every LatentRollout.
#pragma once

#include <cstddef>

namespace planner::gpu::testing {

// Forces the tile of every later LatentRollout::score(): rows per CTA (16, 32 or 64) and
// CTAs per cluster (1, 2, 4 or 8). A configuration the model or device cannot run makes
// score() throw ValueError. (0, 0) restores the automatic choice.
void force_latent_tile(int rows_per_cta, int cluster);

// The configuration of the last score() launch in this process.
struct LatentTile {
  int rows_per_cta = 0;
  int cluster = 0;
  std::size_t smem_bytes = 0;
  int max_active_clusters = 0;  // clusters of this shape the device holds at once
};
LatentTile last_latent_tile();

}  // namespace planner::gpu::testing
