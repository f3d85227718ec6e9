// Sampling on the GPU, bit-identical to Optimizer::sample_rows / ICEM::sample_rows on the
// CPU (compiled with -fmad=false; see device_math.cuh).
//
// One thread per Philox block: it makes the four normals of that block, which are the
// stream elements tile * 256 + lane * 64 + j (philox.h's tiled layout), so the stores of
// a warp are contiguous. Problem b, iteration i and control step s select the stream
// exactly as Optimizer::stream() does; element e of problem b is population value
// [b, e / HA, e % HA], so rows and their stream indices match the CPU's.
#include "backend/cuda/device_check.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/kernels.h"

namespace planner::gpu::kernels {
namespace {

constexpr int kThreads = 256;

// Optimizer::finish_rows for one value: a = clip(mean + std * eps), with truncated
// redraws from streams 1..kMaxRedraws (planner::kMaxRedraws) when configured.
__device__ __forceinline__ float finish(const OptimizerView& v, int b, int iteration, std::uint32_t step,
                                        std::uint32_t e, int j, float eps) {
  constexpr int kMaxRedraws = 8;
  const float mu = v.mean[static_cast<std::size_t>(b) * v.HA + j];
  const float sd = v.stddev[static_cast<std::size_t>(b) * v.HA + j];
  const int a = j % v.A;
  const float lo = v.lower[a], hi = v.upper[a];
  float x = mu + sd * eps;
  if (v.truncated) {
    for (int redraw = 1; redraw <= kMaxRedraws && (x < lo || x > hi); ++redraw) {
      x = mu + sd * dm::normal_at(dm::make_stream(v.seed, b, iteration, redraw, step), e);
    }
  }
  return dm::clamp(x, lo, hi);
}

// Rows [0, active) of problem blockIdx.y. kRaw: store the white noise (iCEM colors it
// next); else store the finished action.
template <bool kRaw>
__global__ void __launch_bounds__(kThreads) sample_kernel(OptimizerView v, int iteration, int active) {
  const int b = blockIdx.y;
  const std::uint32_t block = blockIdx.x * kThreads + threadIdx.x;  // Philox counter c0
  const std::uint32_t total = static_cast<std::uint32_t>(active) * static_cast<std::uint32_t>(v.HA);
  const std::uint32_t e0 = (block / dm::kTileBlocks) * dm::kTile + block % dm::kTileBlocks;
  if (e0 >= total) return;
  const std::uint32_t step = *v.step;
  const dm::Stream s = dm::make_stream(v.seed, b, iteration, 0, step);
  float z[4];
  dm::normal_block(s, block, z);
  const std::size_t base = static_cast<std::size_t>(b) * v.N * v.HA;
#pragma unroll
  for (int lane = 0; lane < 4; ++lane) {
    const std::uint32_t e = e0 + lane * dm::kTileBlocks;
    if (e >= total) break;
    if constexpr (kRaw) {
      v.noise[base + e] = z[lane];
    } else {
      const int j = static_cast<int>(e % static_cast<std::uint32_t>(v.HA));
      v.pop[base + e] = finish(v, b, iteration, step, e, j, z[lane]);
    }
  }
}

// iCEM: the fixed rows of prepare() (carried elites, then the clipped mean in the last
// iteration), then every other row colored (colored[t] = sum_s M[t, s] white[s], summed
// in s order like the CPU) and finished. One thread per value of rows [0, active).
__global__ void __launch_bounds__(kThreads) icem_rows_kernel(OptimizerView v, int iteration, int active) {
  const int b = blockIdx.y;
  const std::uint32_t e = blockIdx.x * kThreads + threadIdx.x;
  const std::uint32_t total = static_cast<std::uint32_t>(active) * static_cast<std::uint32_t>(v.HA);
  if (e >= total) return;
  const int n = static_cast<int>(e / static_cast<std::uint32_t>(v.HA));
  const int j = static_cast<int>(e - static_cast<std::uint32_t>(n) * static_cast<std::uint32_t>(v.HA));
  const bool carry = iteration > 0 || v.shift_elites;
  const int n_keep = carry ? min(min(v.kept, v.elite_n[b]), active) : 0;
  const bool mean_row = v.add_mean && iteration == v.iterations - 1 && n_keep < active;
  const std::size_t out = static_cast<std::size_t>(b) * v.N * v.HA + e;
  if (n < n_keep) {
    v.pop[out] = v.elites[(static_cast<std::size_t>(b) * v.kept + n) * v.HA + j];
    return;
  }
  if (mean_row && n == n_keep) {
    const int a = j % v.A;
    v.pop[out] = dm::clamp(v.mean[static_cast<std::size_t>(b) * v.HA + j], v.lower[a], v.upper[a]);
    return;
  }
  const int t = j / v.A, a = j - t * v.A;
  const float* white = v.noise + static_cast<std::size_t>(b) * v.N * v.HA + static_cast<std::size_t>(n) * v.HA + a;
  const float* m = v.color + static_cast<std::size_t>(t) * v.H;
  float acc = 0.0f;
  for (int s = 0; s < v.H; ++s) acc += m[s] * white[s * v.A];
  v.pop[out] = finish(v, b, iteration, *v.step, e, j, acc);
}

unsigned blocks_for(std::uint32_t items, unsigned per_block) { return (items + per_block - 1) / per_block; }

}  // namespace

void launch_sample(const OptimizerView& v, int iteration, int active, cudaStream_t stream) {
  const std::uint32_t total = static_cast<std::uint32_t>(active) * static_cast<std::uint32_t>(v.HA);
  const std::uint32_t tiles = (total + dm::kTile - 1) / dm::kTile;
  // One thread per Philox block of the tiles covering rows [0, active).
  const dim3 noise_grid(blocks_for(tiles * dm::kTileBlocks, kThreads), static_cast<unsigned>(v.B));
  if (v.method == Method::kICEM) {
    sample_kernel<true><<<noise_grid, kThreads, 0, stream>>>(v, iteration, active);
    check_launch("sample_kernel (iCEM white noise)");
    const dim3 grid(blocks_for(total, kThreads), static_cast<unsigned>(v.B));
    icem_rows_kernel<<<grid, kThreads, 0, stream>>>(v, iteration, active);
    check_launch("icem_rows_kernel");
  } else {
    sample_kernel<false><<<noise_grid, kThreads, 0, stream>>>(v, iteration, active);
    check_launch("sample_kernel");
  }
}

}  // namespace planner::gpu::kernels
