// The GEMM of the fused latent rollout (latent_rollout_kernel.cuh) and the hardware
// primitives it and the rollout use.
//
// One CTA computes scr[r, c] = sum_k act[r, k] W[c, k] for its rows and its slice of
// output columns, in blocks of 16 columns per warp: bf16 m16n8k16 and tf32 m16n8k8
// mma.sync with float32 accumulation, or float32 FFMA on CUDA cores (the parity
// reference). Weights stream from L2 in the packed lane order of
// latent_rollout_layout.h (one coalesced 16-byte load per lane, several chunks in
// flight in registers); activations come from shared memory with row strides of
// 4 x odd words, so the fragment loads are free of bank conflicts.
//
// The primitives (mma, cluster, shuffles, loads, conversions) sit in the first block so
// that the kernel logic can also be compiled for a CPU emulation of the CUDA execution
// model (LATENT_ROLLOUT_EMULATION), which supplies its own versions.
#pragma once

#include <cstdint>

#include "backend/cuda/latent_rollout_layout.h"

#if !defined(LATENT_ROLLOUT_EMULATION)
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#define LR_DEVICE __device__ __forceinline__
// One CTA of 8 warps per SM: the prefetched weight fragments need ~190-230 registers.
#define LR_KERNEL __global__ void __launch_bounds__(256, 1)

namespace planner::gpu::lr {

LR_DEVICE unsigned char* smem_base() {
  extern __shared__ __align__(16) unsigned char lr_smem[];
  return lr_smem;
}
LR_DEVICE int cluster_rank() { return static_cast<int>(cooperative_groups::this_cluster().block_rank()); }
LR_DEVICE void cluster_sync() { cooperative_groups::this_cluster().sync(); }
template <class T>
LR_DEVICE T* map_rank(T* p, int rank) {
  return cooperative_groups::this_cluster().map_shared_rank(p, static_cast<unsigned>(rank));
}
LR_DEVICE float shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
LR_DEVICE uint4 ldg128(const void* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }
LR_DEVICE float4 ldg_f4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }

// D = A B + D, m16n8k16, bf16 inputs, f32 accumulate (fragment layouts: PTX ISA,
// "Matrix Fragments for mma.m16n8k16 with floating point type").
LR_DEVICE void mma_bf16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
// D = A B + D, m16n8k8, tf32 inputs, f32 accumulate.
LR_DEVICE void mma_tf32(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
LR_DEVICE float round_tf32(float x) {
  uint32_t u;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
  return __uint_as_float(u);
}
LR_DEVICE uint16_t f2bf(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
LR_DEVICE uint32_t f2bf2(float lo, float hi) {
  return static_cast<uint32_t>(f2bf(lo)) | (static_cast<uint32_t>(f2bf(hi)) << 16);
}
LR_DEVICE uint32_t bitsf(float f) { return __float_as_uint(f); }

}  // namespace planner::gpu::lr
#endif  // !LATENT_ROLLOUT_EMULATION

namespace planner::gpu::lr {

template <Prec P>
struct Traits;
template <>
struct Traits<Prec::kF32> {
  using T = float;  // activation and weight storage
};
template <>
struct Traits<Prec::kTF32> {
  using T = float;  // pre-rounded to TF32
};
template <>
struct Traits<Prec::kBF16> {
  using T = uint16_t;  // bfloat16 bits
};

// Activation storage: float (float32), float pre-rounded to TF32 (so the mma reads
// exactly the rounded value), or bfloat16 bits.
template <Prec P>
LR_DEVICE typename Traits<P>::T to_store(float y) {
  if constexpr (P == Prec::kBF16) return f2bf(y);
  else if constexpr (P == Prec::kTF32) return round_tf32(y);
  else return y;
}
// Four consecutive values to d (8-byte aligned for bf16, 16-byte for float).
template <Prec P>
LR_DEVICE void store4(typename Traits<P>::T* d, const float (&y)[4]) {
  if constexpr (P == Prec::kBF16) {
    *reinterpret_cast<uint2*>(d) = make_uint2(f2bf2(y[0], y[1]), f2bf2(y[2], y[3]));
  } else {
    *reinterpret_cast<float4*>(d) = make_float4(to_store<P>(y[0]), to_store<P>(y[1]), to_store<P>(y[2]), to_store<P>(y[3]));
  }
}

// ---------------------------------------------------------------- GEMM
// scr[r, lc + 0..15] = sum_k src[r, k] W[c, k] for the 16-column block at packed block
// pointer wb (nk chunks of 16 inputs), rows [r0, r0 + 16 mt_act).

// bf16: m16n8k16; B fragments straight from L2 in lane order (one 16-byte load per lane
// per chunk), PF chunks in flight; A fragments from smem (conflict-free: the row
// stride is 4 x odd words).
template <int MT>
LR_DEVICE void block_bf16(const uint16_t* wb, int nk, const uint16_t* src, int ld, int r0, int mt_act, float* scr,
                          int ss, int lc) {
  constexpr int PF = 8;
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float acc[MT][2][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  uint4 b[PF];
#pragma unroll
  for (int s = 0; s < PF; ++s)
    if (s < nk) b[s] = ldg128(wb + s * kBlockElems + lane * 8);
  const uint16_t* abase = src + (r0 + g) * ld + 2 * t;
  for (int kc0 = 0; kc0 < nk; kc0 += PF) {
#pragma unroll
    for (int s = 0; s < PF; ++s) {
      const int kc = kc0 + s;
      if (kc < nk) {
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) {
          if (mi < mt_act) {
            const uint16_t* a = abase + mi * 16 * ld + kc * kBlock;
            const uint32_t a0 = *reinterpret_cast<const uint32_t*>(a);
            const uint32_t a1 = *reinterpret_cast<const uint32_t*>(a + 8 * ld);
            const uint32_t a2 = *reinterpret_cast<const uint32_t*>(a + 8);
            const uint32_t a3 = *reinterpret_cast<const uint32_t*>(a + 8 * ld + 8);
            mma_bf16(acc[mi][0], a0, a1, a2, a3, b[s].x, b[s].y);
            mma_bf16(acc[mi][1], a0, a1, a2, a3, b[s].z, b[s].w);
          }
        }
        if (kc + PF < nk) b[s] = ldg128(wb + (kc + PF) * kBlockElems + lane * 8);
      }
    }
  }
#pragma unroll
  for (int mi = 0; mi < MT; ++mi) {
    if (mi < mt_act) {
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        float* o = scr + (r0 + mi * 16 + g) * ss + lc + nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(o) = make_float2(acc[mi][nt][0], acc[mi][nt][1]);
        *reinterpret_cast<float2*>(o + 8 * ss) = make_float2(acc[mi][nt][2], acc[mi][nt][3]);
      }
    }
  }
}

// tf32: m16n8k8, two k8 steps per chunk; activations are stored pre-rounded to TF32.
template <int MT>
LR_DEVICE void block_tf32(const float* wb, int nk, const float* src, int ld, int r0, int mt_act, float* scr, int ss,
                          int lc) {
  constexpr int PF = 4;
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float acc[MT][2][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  uint4 b[PF][2];
#pragma unroll
  for (int s = 0; s < PF; ++s)
    if (s < nk) {
      b[s][0] = ldg128(wb + s * kBlockElems + lane * 8);
      b[s][1] = ldg128(wb + s * kBlockElems + lane * 8 + 4);
    }
  const float* abase = src + (r0 + g) * ld + t;
  for (int kc0 = 0; kc0 < nk; kc0 += PF) {
#pragma unroll
    for (int s = 0; s < PF; ++s) {
      const int kc = kc0 + s;
      if (kc < nk) {
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) {
          if (mi < mt_act) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const float* a = abase + mi * 16 * ld + kc * kBlock + h * 8;
              const uint32_t a0 = bitsf(a[0]), a1 = bitsf(a[8 * ld]), a2 = bitsf(a[4]), a3 = bitsf(a[8 * ld + 4]);
              mma_tf32(acc[mi][0], a0, a1, a2, a3, h ? b[s][0].z : b[s][0].x, h ? b[s][0].w : b[s][0].y);
              mma_tf32(acc[mi][1], a0, a1, a2, a3, h ? b[s][1].z : b[s][1].x, h ? b[s][1].w : b[s][1].y);
            }
          }
        }
        if (kc + PF < nk) {
          b[s][0] = ldg128(wb + (kc + PF) * kBlockElems + lane * 8);
          b[s][1] = ldg128(wb + (kc + PF) * kBlockElems + lane * 8 + 4);
        }
      }
    }
  }
#pragma unroll
  for (int mi = 0; mi < MT; ++mi) {
    if (mi < mt_act) {
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        float* o = scr + (r0 + mi * 16 + g) * ss + lc + nt * 8 + 2 * t;
        *reinterpret_cast<float2*>(o) = make_float2(acc[mi][nt][0], acc[mi][nt][1]);
        *reinterpret_cast<float2*>(o + 8 * ss) = make_float2(acc[mi][nt][2], acc[mi][nt][3]);
      }
    }
  }
}

// float32 on CUDA cores: lane (rg = lane & 3, cg = lane >> 2) owns rows r0 + rg + 4i and
// columns 2cg, 2cg + 1 of the block; per 4 inputs it reads 4 MT float4 of activations
// (4 distinct rows per quarter warp: conflict-free) and 2 float4 of weights.
template <int MT>
LR_DEVICE void block_f32(const float* wb, int nk, const float* src, int ld, int r0, int mt_act, float* scr, int ss,
                         int lc) {
  constexpr int PF = 2, RI = 4 * MT;
  const int lane = threadIdx.x & 31, rg = lane & 3, cg = lane >> 2;
  float acc[RI][2];
#pragma unroll
  for (int i = 0; i < RI; ++i) acc[i][0] = acc[i][1] = 0.0f;
  float4 b[PF][8];
#pragma unroll
  for (int s = 0; s < PF; ++s)
    if (s < nk)
#pragma unroll
      for (int q = 0; q < 8; ++q) b[s][q] = ldg_f4(wb + s * kBlockElems + (q >> 1) * 64 + cg * 8 + (q & 1) * 4);
  const float* abase = src + (r0 + rg) * ld;
  for (int kc0 = 0; kc0 < nk; kc0 += PF) {
#pragma unroll
    for (int s = 0; s < PF; ++s) {
      const int kc = kc0 + s;
      if (kc < nk) {
#pragma unroll
        for (int st = 0; st < 4; ++st) {
          const float4 w0 = b[s][2 * st], w1 = b[s][2 * st + 1];
#pragma unroll
          for (int i = 0; i < RI; ++i) {
            if (i / 4 < mt_act) {
              const float4 a = *reinterpret_cast<const float4*>(abase + 4 * i * ld + kc * kBlock + st * 4);
              acc[i][0] += a.x * w0.x;
              acc[i][0] += a.y * w0.y;
              acc[i][0] += a.z * w0.z;
              acc[i][0] += a.w * w0.w;
              acc[i][1] += a.x * w1.x;
              acc[i][1] += a.y * w1.y;
              acc[i][1] += a.z * w1.z;
              acc[i][1] += a.w * w1.w;
            }
          }
        }
        if (kc + PF < nk)
#pragma unroll
          for (int q = 0; q < 8; ++q)
            b[s][q] = ldg_f4(wb + (kc + PF) * kBlockElems + (q >> 1) * 64 + cg * 8 + (q & 1) * 4);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < RI; ++i)
    if (i / 4 < mt_act)
      *reinterpret_cast<float2*>(scr + (r0 + rg + 4 * i) * ss + lc + 2 * cg) = make_float2(acc[i][0], acc[i][1]);
}

// The CTA's slice [c0, c0 + ncols) of one layer: warps form a WM x WN grid; warp row wm
// owns rows [wm 16 MT, +16 MT), warp column wn the 16-column blocks wn, wn + WN, ...
template <Prec P, int MT, int WM>
LR_DEVICE void gemm_slice(const typename Traits<P>::T* w, int k_pad, const typename Traits<P>::T* src, int ld, int c0,
                          int ncols, int rows_active, float* scr, int ss) {
  constexpr int WN = kWarps / WM;
  const int warp = threadIdx.x >> 5;
  const int r0 = (warp / WN) * MT * 16;
  if (r0 >= rows_active) return;
  const int mt_act = (rows_active - r0) / 16 < MT ? (rows_active - r0) / 16 : MT;
  const int nk = k_pad / kBlock;
  for (int cb = warp % WN; cb * kBlock < ncols; cb += WN) {
    const auto* wb = w + static_cast<long long>(c0 / kBlock + cb) * nk * kBlockElems;
    if constexpr (P == Prec::kBF16) block_bf16<MT>(wb, nk, src, ld, r0, mt_act, scr, ss, cb * kBlock);
    else if constexpr (P == Prec::kTF32) block_tf32<MT>(wb, nk, src, ld, r0, mt_act, scr, ss, cb * kBlock);
    else block_f32<MT>(wb, nk, src, ld, r0, mt_act, scr, ss, cb * kBlock);
  }
}

}  // namespace planner::gpu::lr
