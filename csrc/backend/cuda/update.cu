// The optimizer's update and bookkeeping on the GPU, with the semantics of
// planner::Optimizer::update and CEM / ICEM / MPPI::update_problem, and the same rounding:
// every sum runs serially in the CPU's order (elites best first; MPPI over all finite rows
// in row order), so the same returns give the same mean and std bit for bit, and the
// next iteration's samples stay CPU-identical. Compiled with -fmad=false.
//
// update = select_kernel (one block per problem: finite rows, best return, exact top-k
// by radix select on (return, row) keys, MPPI weights, iCEM elites and best sample) then
// refit_kernel (one block per problem and 32 columns of [H, A]: moments and blend).
#include "backend/cuda/device_check.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/kernels.h"

namespace planner::gpu::kernels {
namespace {

constexpr int kSelectThreads = 512;
constexpr int kWarps = kSelectThreads / 32;
constexpr int kRefitThreads = 256;  // warp 0 sums, warps 1..7 stage rows into shared memory
constexpr int kChunk = 128;         // population rows per staged chunk
constexpr int kWeightChunk = 2048;  // MPPI weights per serial-sum chunk
constexpr int kRowThreads = 256;

// Ranking key: larger is better. Returns first (+0 and -0 equal, like the CPU's >), then
// the lower row; unique per row, so the top-k set and its order are those of sort_top.
__device__ __forceinline__ unsigned long long rank_key(float r, int row) {
  const unsigned bits = r == 0.0f ? 0u : __float_as_uint(r);
  const unsigned k = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(k) << 32) | static_cast<unsigned>(~row);
}

__device__ __forceinline__ bool finite(float x) { return isfinite(x); }

// Exclusive prefix sum of x over the block (kSelectThreads threads); total to all.
__device__ int block_exclusive_scan(int x, int& total, int* smem /* kWarps + 1 */) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = x;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += y;
  }
  if (lane == 31) smem[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int w = lane < kWarps ? smem[lane] : 0;
    int wi = w;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, wi, d);
      if (lane >= d) wi += y;
    }
    if (lane < kWarps) smem[lane] = wi - w;
    if (lane == kWarps - 1) smem[kWarps] = wi;
  }
  __syncthreads();
  const int out = smem[warp] + incl - x;
  total = smem[kWarps];
  __syncthreads();  // smem is reused by the next call
  return out;
}

template <class T, class Op>
__device__ T block_reduce(T x, Op op, T* smem /* kWarps */) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, d));
  if (lane == 0) smem[warp] = x;
  __syncthreads();
  T r = smem[0];
  for (int w = 1; w < kWarps; ++w) r = op(r, smem[w]);
  __syncthreads();
  return r;
}

// The key of rank k (1 = best) among the finite rows of R[0, active): MSB-first radix
// select, 8 bits a pass; stops as soon as the chosen digit bin holds exactly the rows
// still needed. Every finite row with key >= the result is in the top k, and exactly k are.
__device__ unsigned long long radix_select(const float* R, int active, int k, unsigned* hist /* 256 */,
                                           unsigned long long* s_prefix, int* s_need, int* s_done) {
  unsigned long long prefix = 0, mask = 0;
  int need = k;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    // Rows have similar returns, so most share a digit in the top passes: lanes with the
    // same digit add once per warp instead of contending on one shared-memory counter.
    for (int i0 = 0; i0 < active; i0 += blockDim.x) {  // uniform trip count: full warps below
      const int i = i0 + static_cast<int>(threadIdx.x);
      const float r = i < active ? R[i] : 0.0f;
      const unsigned long long key = i < active && finite(r) ? rank_key(r, i) : 0ull;
      const bool has = i < active && finite(r) && (key & mask) == prefix;
      const unsigned digit = has ? static_cast<unsigned>((key >> shift) & 0xffu) : 256u;
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      const bool leader = (threadIdx.x & 31) == static_cast<unsigned>(__ffs(peers) - 1);
      if (has && leader) atomicAdd(&hist[digit], static_cast<unsigned>(__popc(peers)));
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l owns digits 255 - 8l down to 248 - 8l: the warp scans from the top digit.
      const int lane = threadIdx.x;
      unsigned c[8];
      unsigned sum = 0;
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        c[q] = hist[255 - 8 * lane - q];
        sum += c[q];
      }
      unsigned incl = sum;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const unsigned y = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= d) incl += y;
      }
      const unsigned excl = incl - sum;
      const unsigned want = static_cast<unsigned>(need);
      if (excl < want && want <= incl) {
        unsigned cum = excl;
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          if (cum < want && want <= cum + c[q]) {
            *s_prefix = prefix | (static_cast<unsigned long long>(255 - 8 * lane - q) << shift);
            *s_need = static_cast<int>(want - cum);
            *s_done = c[q] == want - cum;
          }
          cum += c[q];
        }
      }
    }
    __syncthreads();
    prefix = *s_prefix;
    need = *s_need;
    const bool done = *s_done;
    mask |= 0xffull << shift;
    __syncthreads();
    if (done) break;
  }
  return prefix;
}

__global__ void __launch_bounds__(kSelectThreads) select_kernel(OptimizerView v, int active) {
  __shared__ int s_int[kWarps + 1];
  __shared__ float s_float[kWarps];
  __shared__ unsigned hist[256];
  __shared__ unsigned long long s_prefix;
  __shared__ int s_need, s_done;
  __shared__ float s_total;
  const int b = blockIdx.x;
  const float* R = v.returns + static_cast<std::size_t>(b) * v.N;

  // Optimizer::update: the finite rows and their best return.
  int finite_rows = 0;
  float best = -dm::kInf;
  for (int i = threadIdx.x; i < active; i += blockDim.x) {
    const float r = R[i];
    if (finite(r)) {
      ++finite_rows;
      best = fmaxf(best, r);
    }
  }
  finite_rows = block_reduce(finite_rows, [](int x, int y) { return x + y; }, s_int);
  best = block_reduce(best, [](float x, float y) { return fmaxf(x, y); }, s_float);
  if (finite_rows == 0) {  // keep the distribution for this iteration
    if (threadIdx.x == 0) v.count[b] = 0;
    return;
  }
  if (threadIdx.x == 0) v.best_return[b] = fmaxf(v.best_return[b], best);

  const bool mppi = v.method == Method::kMPPI;
  const bool ranked = !mppi || v.top_k > 0;  // sort_top is called
  const int k = min(mppi ? (v.top_k > 0 ? v.top_k : finite_rows) : v.num_elites, finite_rows);
  const unsigned long long threshold =
      k < finite_rows ? radix_select(R, active, k, hist, &s_prefix, &s_need, &s_done) : 0ull;

  // The k rows, in row order, with their keys.
  int* order = v.order + static_cast<std::size_t>(b) * v.N;
  unsigned long long* keys = v.keys + static_cast<std::size_t>(b) * v.N;
  int base = 0;
  for (int i0 = 0; i0 < active; i0 += blockDim.x) {
    const int i = i0 + threadIdx.x;
    const float r = i < active ? R[i] : 0.0f;
    const unsigned long long key = i < active && finite(r) ? rank_key(r, i) : 0ull;
    const bool take = i < active && finite(r) && key >= threshold;
    int total = 0;
    const int pos = block_exclusive_scan(take ? 1 : 0, total, s_int);
    if (take) {
      order[base + pos] = i;
      keys[base + pos] = key;
    }
    base += total;
  }
  __syncthreads();  // order / keys written by other threads are read below

  // sort_top: best first. Keys are unique, so a row's rank is the number of better keys.
  int* sorted = v.sorted + static_cast<std::size_t>(b) * v.N;
  if (ranked) {
    for (int e = threadIdx.x; e < k; e += blockDim.x) {
      const unsigned long long mine = keys[e];
      int rank = 0;
      for (int f = 0; f < k; ++f) rank += keys[f] > mine ? 1 : 0;
      sorted[rank] = order[e];
    }
    __syncthreads();
  }
  const int* ord = ranked ? sorted : order;
  if (threadIdx.x == 0) v.count[b] = k;

  if (mppi) {
    // weights exp((R - best) / temperature), their total summed in order, then w * (1 / total).
    // Thread 0 adds serially (the CPU's order) from shared memory, a chunk at a time.
    __shared__ float s_w[kWeightChunk];
    float* w = v.weights + static_cast<std::size_t>(b) * v.N;
    float total = 0.0f;
    for (int c0 = 0; c0 < k; c0 += kWeightChunk) {
      const int rows = min(kWeightChunk, k - c0);
      for (int e = threadIdx.x; e < rows; e += blockDim.x) {
        const float x = dm::exp(__fdiv_rn(R[ord[c0 + e]] - best, v.temperature));
        s_w[e] = x;
        w[c0 + e] = x;
      }
      __syncthreads();
      if (threadIdx.x == 0) {
#pragma unroll 8
        for (int e = 0; e < rows; ++e) total += s_w[e];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) s_total = __fdiv_rn(1.0f, total);  // total >= 1: the best sample has weight 1
    __syncthreads();
    const float inv = s_total;
    for (int e = threadIdx.x; e < k; e += blockDim.x) w[e] = w[e] * inv;
  } else if (v.method == Method::kICEM) {
    // ICEM::update_problem: the best `kept` elites carried (best first), the best sample.
    const int carried = min(v.kept, k);
    const float* pop = v.pop + static_cast<std::size_t>(b) * v.N * v.HA;
    for (int i = threadIdx.x; i < carried * v.HA; i += blockDim.x) {
      const int e = i / v.HA, j = i - e * v.HA;
      const float x = pop[static_cast<std::size_t>(ord[e]) * v.HA + j];
      v.elites[(static_cast<std::size_t>(b) * v.kept + e) * v.HA + j] = x;
    }
    const float top = R[ord[0]];
    const bool better = top > v.best_val[b];
    if (better) {
      for (int j = threadIdx.x; j < v.HA; j += blockDim.x)
        v.best[static_cast<std::size_t>(b) * v.HA + j] = pop[static_cast<std::size_t>(ord[0]) * v.HA + j];
    }
    __syncthreads();  // every thread has read best_val
    if (threadIdx.x == 0) {
      v.elite_n[b] = k;
      if (better) v.best_val[b] = top;
    }
  }
}

// Shared memory of refit_kernel: two chunks of staged rows (32 columns each) and weights.
struct RefitTiles {
  float rows[2][kChunk][33];  // +1 column: the stores of a staging warp hit distinct banks
  float weights[2][kChunk];
};

// Serial sum over the k update rows of column j0 + lane, in `ord` order, like the CPU's
// loops: warps 1..7 stage the next chunk of rows into shared memory while warp 0 adds.
// kPass 0: sum of w * x (CEM: x); kPass 1: sum of w * (d * d) (CEM: d * d), d = x - m.
// identity: ord[e] == e (MPPI with every row finite), which saves a dependent load.
template <int kPass>
__device__ float column_sum(const OptimizerView& v, int b, const int* ord, bool identity, const float* w, int k,
                            int j0, float m, RefitTiles& t) {
  const bool weighted = v.method == Method::kMPPI;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const float* pop = v.pop + static_cast<std::size_t>(b) * v.N * v.HA;
  const int cols = min(32, v.HA - j0);
  auto stage = [&](int buf, int c0) {
    const int rows = min(kChunk, k - c0);
    for (int i = threadIdx.x - 32; i < rows * 32; i += kRefitThreads - 32) {
      const int e = i >> 5, c = i & 31;
      const int row = identity ? c0 + e : ord[c0 + e];
      if (c < cols) t.rows[buf][e][c] = pop[static_cast<std::size_t>(row) * v.HA + j0 + c];
    }
    if (weighted)
      for (int e = threadIdx.x - 32; e < rows; e += kRefitThreads - 32) t.weights[buf][e] = w[c0 + e];
  };
  if (warp > 0) stage(0, 0);
  __syncthreads();
  float acc = 0.0f;
  for (int c0 = 0, buf = 0; c0 < k; c0 += kChunk, buf ^= 1) {
    if (warp > 0) {
      if (c0 + kChunk < k) stage(buf ^ 1, c0 + kChunk);
    } else if (lane < cols) {
      const int rows = min(kChunk, k - c0);
#pragma unroll 8
      for (int e = 0; e < rows; ++e) {
        const float x = t.rows[buf][e][lane];
        if constexpr (kPass == 0) {
          acc += weighted ? t.weights[buf][e] * x : x;
        } else {
          const float d = x - m;
          acc += weighted ? t.weights[buf][e] * (d * d) : d * d;
        }
      }
    }
    __syncthreads();  // chunk consumed and the next one staged
  }
  return acc;
}

// CEM::fit_elites + blend, MPPI's weighted mean (and std with adapt_std) + momentum.
__global__ void __launch_bounds__(kRefitThreads) refit_kernel(OptimizerView v, int active) {
  __shared__ RefitTiles tiles;
  const int b = blockIdx.y;
  const int k = v.count[b];
  if (k == 0) return;
  const int j0 = blockIdx.x * 32;
  const bool mppi = v.method == Method::kMPPI;
  const bool ranked = !mppi || v.top_k > 0;
  const int* ord = (ranked ? v.sorted : v.order) + static_cast<std::size_t>(b) * v.N;
  const bool identity = !ranked && k == active;
  const float* w = v.weights + static_cast<std::size_t>(b) * v.N;
  const bool fit_std = !mppi || v.adapt_std;
  const float inv = __fdiv_rn(1.0f, static_cast<float>(k));  // CEM: 1 / k
  float m = column_sum<0>(v, b, ord, identity, w, k, j0, 0.0f, tiles);
  if (!mppi) m *= inv;
  float s = 0.0f;
  if (fit_std) {
    s = column_sum<1>(v, b, ord, identity, w, k, j0, m, tiles);
    s = __fsqrt_rn(mppi ? s : s * inv);
  }
  const int j = j0 + static_cast<int>(threadIdx.x);
  if (threadIdx.x >= 32 || j >= v.HA) return;
  const std::size_t at = static_cast<std::size_t>(b) * v.HA + j;
  v.mean[at] = v.momentum * v.mean[at] + v.keep * m;
  if (fit_std) v.stddev[at] = dm::clamp(v.momentum * v.stddev[at] + v.keep * s, v.min_std, v.max_std);
}

__global__ void __launch_bounds__(kRowThreads) begin_kernel(OptimizerView v) {
  const int b = blockIdx.x;
  if (threadIdx.x == 0) v.best_return[b] = -dm::kInf;
  if (v.method == Method::kICEM) {
    // ICEM::on_begin: until a sample scores finite, the plan is the warm-started mean.
    for (int j = threadIdx.x; j < v.HA; j += blockDim.x)
      v.best[static_cast<std::size_t>(b) * v.HA + j] = v.mean[static_cast<std::size_t>(b) * v.HA + j];
    if (threadIdx.x == 0) v.best_val[b] = -dm::kInf;
  }
}

__global__ void __launch_bounds__(kRowThreads) finalize_kernel(OptimizerView v) {
  const int b = blockIdx.x;
  const float* sol = (v.method == Method::kICEM ? v.best : v.mean) + static_cast<std::size_t>(b) * v.HA;
  for (int j = threadIdx.x; j < v.HA; j += blockDim.x) {
    const int a = j % v.A;
    const float x = dm::clamp(sol[j], v.lower[a], v.upper[a]);
    v.plan_out[static_cast<std::size_t>(b) * v.HA + j] = x;
    if (j < v.A) v.action_out[static_cast<std::size_t>(b) * v.A + j] = x;
  }
  if (threadIdx.x == 0) v.best_out[b] = v.best_return[b];
}

// Optimizer::shift + ICEM::on_shift, in place through shift_tmp (one block per problem).
__global__ void __launch_bounds__(kRowThreads) shift_kernel(OptimizerView v, int k) {
  const int b = blockIdx.x;
  const int keep_n = (v.H - k) * v.A;  // values that move to the front
  const int rows = v.method == Method::kICEM ? 1 + min(v.kept, v.elite_n[b]) : 1;
  float* tmp = v.shift_tmp + static_cast<std::size_t>(b) * (1 + v.kept) * v.HA;
  auto src = [&](int r) {
    return r == 0 ? v.mean + static_cast<std::size_t>(b) * v.HA
                  : v.elites + (static_cast<std::size_t>(b) * v.kept + r - 1) * v.HA;
  };
  for (int i = threadIdx.x; i < rows * keep_n; i += blockDim.x) {
    const int r = i / keep_n, j = i - r * keep_n;
    tmp[static_cast<std::size_t>(r) * v.HA + j] = src(r)[j + k * v.A];
  }
  __syncthreads();
  // The tail of the mean (and so of every carried elite) is the initial mean; std resets.
  for (int i = threadIdx.x; i < rows * v.HA; i += blockDim.x) {
    const int r = i / v.HA, j = i - r * v.HA;
    src(r)[j] = j < keep_n ? tmp[static_cast<std::size_t>(r) * v.HA + j] : v.init_mean[j % v.A];
    if (r == 0) v.stddev[static_cast<std::size_t>(b) * v.HA + j] = v.init_std[j % v.A];
  }
  if (b == 0 && threadIdx.x == 0) *v.step += 1;
}

__global__ void __launch_bounds__(kRowThreads) reset_kernel(OptimizerView v, int first, bool all) {
  const int b = first + blockIdx.x;
  for (int j = threadIdx.x; j < v.HA; j += blockDim.x) {
    v.mean[static_cast<std::size_t>(b) * v.HA + j] = v.init_mean[j % v.A];
    v.stddev[static_cast<std::size_t>(b) * v.HA + j] = v.init_std[j % v.A];
  }
  if (threadIdx.x == 0) {
    if (v.elite_n) v.elite_n[b] = 0;
    if (all && blockIdx.x == 0) *v.step = 0;
  }
}

}  // namespace

void launch_update(const OptimizerView& v, int active, cudaStream_t stream) {
  select_kernel<<<v.B, kSelectThreads, 0, stream>>>(v, active);
  check_launch("select_kernel");
  const dim3 grid(static_cast<unsigned>((v.HA + 31) / 32), static_cast<unsigned>(v.B));
  refit_kernel<<<grid, kRefitThreads, 0, stream>>>(v, active);
  check_launch("refit_kernel");
}

void launch_begin(const OptimizerView& v, cudaStream_t stream) {
  begin_kernel<<<v.B, kRowThreads, 0, stream>>>(v);
  check_launch("begin_kernel");
}

void launch_finalize(const OptimizerView& v, cudaStream_t stream) {
  finalize_kernel<<<v.B, kRowThreads, 0, stream>>>(v);
  check_launch("finalize_kernel");
}

void launch_shift(const OptimizerView& v, int steps, cudaStream_t stream) {
  shift_kernel<<<v.B, kRowThreads, 0, stream>>>(v, steps < v.H ? steps : v.H);
  check_launch("shift_kernel");
}

void launch_reset(const OptimizerView& v, int problem, cudaStream_t stream) {
  const bool all = problem < 0;
  reset_kernel<<<all ? v.B : 1, kRowThreads, 0, stream>>>(v, all ? 0 : problem, all);
  check_launch("reset_kernel");
}

}  // namespace planner::gpu::kernels
