// Device code of the fused latent rollout (LatentRollout; latent_rollout.cu hosts it).
//
// One cluster of `cl` CTAs (1, 2, 4 or 8) owns a tile of R rows (16, 32 or 64 action
// sequences) of one problem and runs the whole rollout for it in one launch: encoder,
// H steps of M reward + M dynamics heads, the terminal value. Every CTA keeps the full
// activation tile of its rows in shared memory (X = [z | a_n | c] for the step, H for the
// hidden layers, in the precision's storage type) and computes a slice of every layer's
// output columns, so the cluster splits the weights (each CTA streams 1/cl of them) and
// activations never touch device memory. Per layer:
//   GEMM     this CTA's slice for all rows -> float scratch [R, slice]
//            (latent_rollout_gemm.cuh)
//   phase 1  + bias; the slice's LayerNorm partials (mean, M2), sent to every CTA
//   barrier  (cluster barrier: partials visible, nobody still reads the input tile)
//   phase 2  combine the partials in rank order (Chan et al.), normalize, activate
//            (SimNorm per group), write the slice into every CTA's tile (DSMEM)
//   barrier
// Reward and value heads (one output) finish on rank 0, which owns the returns; the
// ensemble mean of the next latent and its spread are per-slice sums. The encoder runs
// once per CTA on one m-tile and is broadcast to every row.
//
// Precision: weights are converted once at upload (TF32-rounded floats or bfloat16);
// activations are stored rounded to the same type after each float32 epilogue;
// accumulation, LayerNorm, activations, returns and the ensemble statistics are float32.
// The float32 path uses the CPU scorer's activation polynomials (fastmath.h), so it
// differs from the oracle only by summation order and fused multiply-adds.
#pragma once

#include <cstdint>

#include "backend/cuda/latent_rollout_gemm.cuh"
#include "backend/cuda/latent_rollout_layout.h"
#include "planner/common/fastmath.h"

namespace planner::gpu::lr {

// Everything one launch needs (passed by value; pointers are device pointers).
struct Params {
  const LayerDesc* layers;
  const NetDesc* nets;
  const void* weights;
  const float* fl;  // the float blob
  int num_layers, num_nets;
  int S, A, Z, C, M, run_value, spread;
  float lambda, discount, reward_scale, reward_shift, value_scale, value_shift;
  int obs_shift, obs_scale, a_scale, a_shift;
  const float* obs;      // [B, S]
  const float* context;  // [B, C]
  const float* actions;  // [B, row_stride, H, A]
  float* returns;        // [B, row_stride]
  int rows, row_stride, horizon, tiles;  // tiles: row tiles per problem
  int cl;                                // CTAs per cluster
  SmemPlan sp;
};

// ---------------------------------------------------------------- math
// The CPU scorer's activations themselves (planner/common/fastmath.h compiles for the
// device too), so the float32 path differs from it only by summation order and contraction.
LR_DEVICE float activate(float x, int act) {
  switch (act) {
    case kActReLU: return x > 0.0f ? x : 0.0f;
    case kActELU: return fm::elu(x);
    case kActMish: return fm::mish(x);
    case kActTanh: return fm::tanh(x);
    default: return x;
  }
}
LR_DEVICE float warp_sum(float v) {
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) v += shfl_xor(v, m);
  return v;
}
LR_DEVICE int clampi(int x, int lo, int hi) { return x < lo ? lo : (x > hi ? hi : x); }

// ---------------------------------------------------------------- epilogue and rollout
enum SinkKind : int { kToH, kToX, kZacc, kRowVal };

// Where a layer's outputs go: the hidden tile of every CTA, the z columns of X (every
// CTA), the CTA's ensemble sums of the next latent, or one number per row (rank 0).
struct Sink {
  int kind = kToH;
  int bcast = 0;  // the encoder: row 0's output to every row of the tile
  int first = 1;  // first ensemble member: store instead of accumulate
  int to_val = 0;  // kRowVal: 0 the reward sum, 1 the value
};

// The tile's smem regions, recomputed from the plan on use (an address is one add, and
// keeping a dozen pointers live across the GEMM costs registers).
template <Prec P>
struct Tile {
  using T = typename Traits<P>::T;
  int rank, R, rows_active;
  LR_DEVICE T* x(const Params& p) const { return reinterpret_cast<T*>(smem_base() + p.sp.off_x); }
  LR_DEVICE T* h(const Params& p) const { return reinterpret_cast<T*>(smem_base() + p.sp.off_h); }
  LR_DEVICE float* f(int off) const { return reinterpret_cast<float*>(smem_base() + off); }
  LR_DEVICE float* scr(const Params& p) const { return f(p.sp.off_scr); }
  LR_DEVICE float* zacc(const Params& p) const { return f(p.sp.off_zacc); }
  LR_DEVICE float* zsq(const Params& p) const { return f(p.sp.off_zsq); }
  LR_DEVICE float* pen(const Params& p) const { return f(p.sp.off_pen); }
  LR_DEVICE float* penall(const Params& p) const { return f(p.sp.off_penall); }
  LR_DEVICE float* rsum(const Params& p) const { return f(p.sp.off_rsum); }
  LR_DEVICE float* ret(const Params& p) const { return f(p.sp.off_ret); }
  LR_DEVICE float* val(const Params& p) const { return f(p.sp.off_val); }
  LR_DEVICE float2* stats(const Params& p) const { return reinterpret_cast<float2*>(smem_base() + p.sp.off_stats); }
  LR_DEVICE const LayerDesc* layers(const Params& p) const {
    return reinterpret_cast<const LayerDesc*>(smem_base() + p.sp.off_layers);
  }
  LR_DEVICE const NetDesc* nets(const Params& p) const {
    return reinterpret_cast<const NetDesc*>(smem_base() + p.sp.off_nets);
  }
};

// Applies f to ptr (in this CTA's smem) and to the same address in every other CTA of
// the cluster; a one-CTA cluster keeps plain shared-memory stores.
template <class T, class F>
LR_DEVICE void to_all(const Params& p, T* ptr, F&& f) {
  if (p.cl == 1) {
    f(ptr);
  } else {
    for (int q = 0; q < p.cl; ++q) f(map_rank(ptr, q));
  }
}

template <Prec P>
LR_DEVICE void sink4(const Params& p, const Tile<P>& tl, const Sink& sk, int r, int c, int lc, const float (&y)[4],
                     int n) {
  const SmemPlan& sp = p.sp;
  using T = typename Traits<P>::T;
  if (sk.kind == kToH) {
    to_all(p, tl.h(p) + r * sp.sh + c, [&](T* d) { store4<P>(d, y); });
  } else if (sk.kind == kToX) {
    to_all(p, tl.x(p) + r * sp.sx + c, [&](T* d) {
      if (c + 4 <= n) {
        store4<P>(d, y);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (c + e < n) d[e] = to_store<P>(y[e]);  // the columns after z belong to a
      }
    });
  } else if (sk.kind == kZacc) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (c + e < n) {
        float* za = tl.zacc(p) + r * sp.sz + lc + e;
        *za = sk.first ? y[e] : *za + y[e];
        if (p.spread) {
          float* zq = tl.zsq(p) + r * sp.sz + lc + e;
          *zq = sk.first ? y[e] * y[e] : *zq + y[e] * y[e];
        }
      }
    }
  } else if (c == 0) {
    float* rv = sk.to_val ? tl.val(p) : tl.rsum(p);
    rv[r] = sk.first ? y[0] : rv[r] + y[0];
  }
}

template <Prec P>
LR_DEVICE void sink1(const Params& p, const Tile<P>& tl, const Sink& sk, int r, int c, int lc, float y, int n) {
  const SmemPlan& sp = p.sp;
  if (sk.kind == kToH || sk.kind == kToX) {
    typename Traits<P>::T* base = sk.kind == kToH ? tl.h(p) + r * sp.sh : tl.x(p) + r * sp.sx;
    if (sk.kind == kToX && c >= n) return;
    to_all(p, base + c, [&](typename Traits<P>::T* d) { *d = to_store<P>(y); });
  } else if (sk.kind == kZacc) {
    if (c >= n) return;
    float* za = tl.zacc(p) + r * sp.sz + lc;
    *za = sk.first ? y : *za + y;
    if (p.spread) {
      float* zq = tl.zsq(p) + r * sp.sz + lc;
      *zq = sk.first ? y * y : *zq + y * y;
    }
  } else if (c == 0) {
    float* rv = sk.to_val ? tl.val(p) : tl.rsum(p);
    rv[r] = sk.first ? y : rv[r] + y;
  }
}

LR_DEVICE void block_or_cluster_sync(int cl) {
  if (cl > 1) cluster_sync();
  else __syncthreads();
}

// One layer for the tile: GEMM of this CTA's slice, then the fused epilogue.
template <Prec P, int MT, int WM>
LR_DEVICE void layer_step(const Params& p, const Tile<P>& tl, const LayerDesc& L, bool src_is_x, const Sink& sk,
                          int rows_gemm, int rows_epi) {
  const SmemPlan& sp = p.sp;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int ns = slice_width(L.n_pad, L.gran, p.cl);
  const int c0 = tl.rank * ns;
  const int ncols = clampi(L.n_pad - c0, 0, ns);
  const int cnt = clampi(L.n - c0, 0, ns);
  const bool in_place = (sk.kind == kToX && src_is_x) || (sk.kind == kToH && !src_is_x);
  const auto* W = static_cast<const typename Traits<P>::T*>(p.weights) + L.w;
  if (ncols > 0)
    gemm_slice<P, MT, WM>(W, L.k_pad, src_is_x ? tl.x(p) : tl.h(p), src_is_x ? sp.sx : sp.sh, c0, ncols, rows_gemm, tl.scr(p),
                          sp.ss);
  __syncthreads();  // scratch complete; this CTA no longer reads its input tile

  const float* bias = p.fl + L.bias + c0;
  // Phase 1: bias, and the LayerNorm partials of the slice (two-pass within the slice).
  const int rows1 = sk.bcast ? 1 : rows_epi;
  if (ncols > 0) {
    for (int r = warp; r < rows1; r += kWarps) {
      float* row = tl.scr(p) + r * sp.ss;
      float s = 0.0f;
      for (int j = 4 * lane; j < ncols; j += 128) {
        float4 v = *reinterpret_cast<float4*>(row + j);
        v.x += bias[j];
        v.y += bias[j + 1];
        v.z += bias[j + 2];
        v.w += bias[j + 3];
        *reinterpret_cast<float4*>(row + j) = v;
        s += (j < cnt ? v.x : 0.0f) + (j + 1 < cnt ? v.y : 0.0f) + (j + 2 < cnt ? v.z : 0.0f) +
             (j + 3 < cnt ? v.w : 0.0f);
      }
      if (L.ln) {
        const float mean = warp_sum(s) / static_cast<float>(cnt);
        float m2 = 0.0f;
        for (int j = 4 * lane; j < ncols; j += 128) {
          const float4 v = *reinterpret_cast<const float4*>(row + j);
          const float d[4] = {v.x - mean, v.y - mean, v.z - mean, v.w - mean};
#pragma unroll
          for (int e = 0; e < 4; ++e) m2 += j + e < cnt ? d[e] * d[e] : 0.0f;
        }
        m2 = warp_sum(m2);
        float2* st = tl.stats(p) + tl.rank * tl.R + r;
        if (p.cl == 1 && lane == 0) *st = make_float2(mean, m2);
        else if (lane < p.cl) *map_rank(st, lane) = make_float2(mean, m2);
      }
    }
  }
  // Before anyone overwrites a tile another CTA may still read, and before the
  // partials are read (phase 2 reads what other lanes / warps wrote in phase 1).
  if (p.cl > 1 && (L.ln || in_place)) cluster_sync();
  else if (sk.bcast) __syncthreads();
  else __syncwarp();

  // Phase 2: normalize, activate, write.
  const int rows2 = sk.bcast ? tl.R : rows_epi;
  if (ncols > 0) {
    const float* gamma = L.ln ? p.fl + L.gamma + c0 : nullptr;
    const float* beta = L.ln ? p.fl + L.beta + c0 : nullptr;
    for (int r = warp; r < rows2; r += kWarps) {
      const int sr = sk.bcast ? 0 : r;
      const float* row = tl.scr(p) + sr * sp.ss;
      float mean = 0.0f, inv = 1.0f;
      if (L.ln) {
        float var;
        if (p.cl == 1) {
          const float2 st = tl.stats(p)[sr];
          mean = st.x;
          var = st.y / static_cast<float>(L.n);
        } else {
          // Chan et al.: combine (count, mean, M2) of the slices in rank order (every CTA
          // gets the same numbers).
          float tot = 0.0f;
          for (int q = 0; q < p.cl; ++q) {
            const int cq = clampi(L.n - q * ns, 0, ns);
            if (cq > 0) tot += static_cast<float>(cq) * tl.stats(p)[q * tl.R + sr].x;
          }
          mean = tot / static_cast<float>(L.n);
          float m2 = 0.0f;
          for (int q = 0; q < p.cl; ++q) {
            const int cq = clampi(L.n - q * ns, 0, ns);
            if (cq > 0) {
              const float2 st = tl.stats(p)[q * tl.R + sr];
              const float d = st.x - mean;
              m2 += st.y + static_cast<float>(cq) * d * d;
            }
          }
          var = m2 / static_cast<float>(L.n);
        }
        inv = 1.0f / sqrtf(var + L.eps);
      }
      auto pre = [&](int j) {  // LayerNorm'd (or biased) value of slice column j
        const float v = row[j];
        return L.ln ? (v - mean) * inv * gamma[j] + beta[j] : v;
      };
      if (L.act != kActSimNorm) {
        for (int j = 4 * lane; j < ncols; j += 128) {
          float y[4];
#pragma unroll
          for (int e = 0; e < 4; ++e) y[e] = j + e < cnt ? activate(pre(j + e), L.act) : 0.0f;
          sink4<P>(p, tl, sk, r, c0 + j, j, y, L.n);
        }
      } else {
        // Softmax over each group of `simnorm` columns (groups never straddle slices).
        const int sd = L.simnorm;
        for (int g0 = lane * sd; g0 < ncols; g0 += 32 * sd) {
          if (g0 >= cnt) {
            for (int e = 0; e < sd && g0 + e < ncols; ++e) sink1<P>(p, tl, sk, r, c0 + g0 + e, g0 + e, 0.0f, L.n);
            continue;
          }
          float mx = pre(g0);
          for (int e = 1; e < sd; ++e) mx = fmaxf(mx, pre(g0 + e));
          float sum = 0.0f;
          for (int e = 0; e < sd; ++e) sum += fm::exp(pre(g0 + e) - mx);
          const float is = 1.0f / sum;
          for (int e = 0; e < sd; ++e) sink1<P>(p, tl, sk, r, c0 + g0 + e, g0 + e, fm::exp(pre(g0 + e) - mx) * is, L.n);
        }
      }
    }
  }
  block_or_cluster_sync(p.cl);  // outputs visible to every CTA before the next layer
}

template <Prec P, int MT, int WM>
LR_DEVICE void run_net(const Params& p, const Tile<P>& tl, int net, bool src_is_x, const Sink& last, int rows_gemm,
                       int rows_epi) {
  const NetDesc nd = tl.nets(p)[net];
  for (int l = 0; l < nd.count; ++l) {
    const LayerDesc L = tl.layers(p)[nd.first + l];
    const bool is_last = l + 1 == nd.count;
    layer_step<P, MT, WM>(p, tl, L, l == 0 && src_is_x, is_last ? last : Sink{}, rows_gemm,
                          is_last && last.bcast ? 1 : rows_epi);
  }
}

// Writes a_n of step t for the tile's rows into the a columns of this CTA's X.
template <Prec P>
LR_DEVICE void load_actions(const Params& p, const Tile<P>& tl, int b, int row0, int t) {
  const int n_el = tl.rows_active * p.A;
  const float* sc = p.fl + p.a_scale;
  const float* sh = p.fl + p.a_shift;
  for (int i = threadIdx.x; i < n_el; i += kThreads) {
    const int r = i / p.A, a = i - r * p.A;
    const int n = row0 + r;
    float v = 0.0f;
    if (n < p.rows) {
      const long long at = ((static_cast<long long>(b) * p.row_stride + n) * p.horizon + t) * p.A + a;
      v = __fadd_rn(__fmul_rn(p.actions[at], sc[a]), sh[a]);  // as the CPU: no contraction
    }
    tl.x(p)[r * p.sp.sx + p.Z + a] = to_store<P>(v);
  }
}

template <Prec P, int MT, int WM>
LR_DEVICE void rollout(const Params& p) {
  constexpr int R = 16 * MT * WM;
  const SmemPlan& sp = p.sp;
  using T = typename Traits<P>::T;
  Tile<P> tl;
  LayerDesc* layers = reinterpret_cast<LayerDesc*>(smem_base() + sp.off_layers);
  NetDesc* nets = reinterpret_cast<NetDesc*>(smem_base() + sp.off_nets);
  tl.R = R;
  tl.rank = p.cl > 1 ? cluster_rank() : 0;
  const int cluster = static_cast<int>(blockIdx.x) / p.cl;
  const int b = cluster / p.tiles;
  const int row0 = (cluster - b * p.tiles) * R;
  const int rows_here = p.rows - row0 < R ? p.rows - row0 : R;
  tl.rows_active = (rows_here + 15) / 16 * 16;
  const int tid = threadIdx.x;

  // Init: descriptors, zero X and the encoder's input rows, obs, context, a_0.
  {
    const int* src = reinterpret_cast<const int*>(p.layers);
    int* dst = reinterpret_cast<int*>(layers);
    const int n = p.num_layers * static_cast<int>(sizeof(LayerDesc) / sizeof(int));
    for (int i = tid; i < n; i += kThreads) dst[i] = src[i];
    const int* ns = reinterpret_cast<const int*>(p.nets);
    int* nd = reinterpret_cast<int*>(nets);
    for (int i = tid; i < p.num_nets * 2; i += kThreads) nd[i] = ns[i];
    uint4* zx = reinterpret_cast<uint4*>(tl.x(p));
    const int nx = R * sp.sx * static_cast<int>(sizeof(T)) / 16;
    for (int i = tid; i < nx; i += kThreads) zx[i] = make_uint4(0, 0, 0, 0);
    uint4* zh = reinterpret_cast<uint4*>(tl.h(p));
    const int nh = 16 * sp.sh * static_cast<int>(sizeof(T)) / 16;
    for (int i = tid; i < nh; i += kThreads) zh[i] = make_uint4(0, 0, 0, 0);
    for (int r = tid; r < R; r += kThreads) tl.pen(p)[r] = tl.ret(p)[r] = 0.0f;
  }
  __syncthreads();
  for (int i = tid; i < p.S; i += kThreads) {
    const float o = p.obs[static_cast<long long>(b) * p.S + i];
    tl.h(p)[i] = to_store<P>(__fdiv_rn(__fsub_rn(o, p.fl[p.obs_shift + i]), p.fl[p.obs_scale + i]));
  }
  for (int i = tid; i < R * p.C; i += kThreads) {
    const int r = i / p.C, c = i - r * p.C;
    tl.x(p)[r * sp.sx + p.Z + p.A + c] = to_store<P>(p.context[static_cast<long long>(b) * p.C + c]);
  }
  load_actions<P>(p, tl, b, row0, 0);
  // Every CTA of the cluster has started (and initialized) before any remote access.
  block_or_cluster_sync(p.cl);

  // z0 = encoder(obs_n), computed on one m-tile and broadcast into X.
  Sink enc_out;
  enc_out.kind = kToX;
  enc_out.bcast = 1;
  run_net<P, MT, WM>(p, tl, net_encoder(), false, enc_out, 16, 1);

  const float invM = 1.0f / static_cast<float>(p.M);
  const int zdesc_i = tl.nets(p)[net_dynamics(p.M, 0)].first + tl.nets(p)[net_dynamics(p.M, 0)].count - 1;
  float disc = 1.0f;
  const int ra = tl.rows_active;
  for (int t = 0; t < p.horizon; ++t) {
    // Rewards first: with M = 1 the dynamics head then writes z_{t+1} over X directly.
    for (int m = 0; m < p.M; ++m) {
      Sink s;
      s.kind = kRowVal;
      s.first = m == 0;
      run_net<P, MT, WM>(p, tl, net_reward(m), true, s, ra, ra);
    }
    for (int m = 0; m < p.M; ++m) {
      Sink s;
      s.kind = p.M == 1 ? kToX : kZacc;
      s.first = m == 0;
      run_net<P, MT, WM>(p, tl, net_dynamics(p.M, m), true, s, ra, ra);
    }
    const int warp = tid >> 5, lane = tid & 31;
    if (p.M > 1) {
      // Ensemble mean into X (every CTA) and this slice's share of the spread.
      const LayerDesc& zl = tl.layers(p)[zdesc_i];
      const int nsz = slice_width(zl.n_pad, zl.gran, p.cl);
      const int c0 = tl.rank * nsz, cnt = clampi(p.Z - c0, 0, nsz);
      for (int r = warp; r < ra; r += kWarps) {
        float s = 0.0f;
        for (int j = lane; j < cnt; j += 32) {
          const float mean = tl.zacc(p)[r * sp.sz + j] * invM;
          to_all(p, tl.x(p) + r * sp.sx + c0 + j, [&](T* d) { *d = to_store<P>(mean); });
          if (p.spread) {
            const float var = tl.zsq(p)[r * sp.sz + j] * invM - mean * mean;
            s += sqrtf(var > 0.0f ? var : 0.0f);
          }
        }
        if (p.spread) {
          s = warp_sum(s);
          if (lane == 0) tl.pen(p)[r] += disc * s;
        }
      }
    }
    if (tl.rank == 0)
      for (int r = tid; r < ra; r += kThreads) tl.ret(p)[r] += disc * (tl.rsum(p)[r] * invM * p.reward_scale + p.reward_shift);
    if (t + 1 < p.horizon) load_actions<P>(p, tl, b, row0, t + 1);
    if (p.M > 1) block_or_cluster_sync(p.cl);
    else __syncthreads();
    disc *= p.discount;
  }
  if (p.run_value) {
    Sink s;
    s.kind = kRowVal;
    s.to_val = 1;
    run_net<P, MT, WM>(p, tl, net_value(p.M), true, s, ra, ra);
    if (tl.rank == 0)
      for (int r = tid; r < ra; r += kThreads) tl.ret(p)[r] += disc * (tl.val(p)[r] * p.value_scale + p.value_shift);
  }
  if (p.spread && p.cl > 1) {
    if (tl.rank != 0)
      for (int r = tid; r < ra; r += kThreads) *map_rank(tl.penall(p) + tl.rank * R + r, 0) = tl.pen(p)[r];
    cluster_sync();  // also: no remote access after this point, so CTAs may exit
  }
  if (tl.rank == 0) {
    for (int r = tid; r < rows_here; r += kThreads) {
      float v = tl.ret(p)[r];
      if (p.spread) {
        float tot = tl.pen(p)[r];
        for (int q = 1; q < p.cl; ++q) tot += tl.penall(p)[q * R + r];
        v -= p.lambda * tot / static_cast<float>(p.Z);
      }
      p.returns[static_cast<long long>(b) * p.row_stride + row0 + r] = v;
    }
  }
}

// R = 16 MT WM rows per CTA.
template <Prec P, int MT, int WM>
LR_KERNEL latent_rollout_kernel(const __grid_constant__ Params p) {
  rollout<P, MT, WM>(p);
}

}  // namespace planner::gpu::lr
