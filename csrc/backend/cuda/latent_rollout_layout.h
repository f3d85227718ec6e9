// The device layout of a latent world model for the fused rollout kernel
// (latent_rollout_kernel.cuh): layer descriptors, weights packed in the order the kernel's
// lanes load them, and the smem plan of one tile configuration. Plain C++ (no CUDA
// headers): latent_rollout.cu uploads what pack_model() returns, and the same code can be
// exercised on a machine without a GPU.
//
// Conventions shared with the kernel:
//  - Every step network (dynamics, reward, value) reads one canonical input tile
//    X = [z | a_n | c | 0-pad] of width Kx = pad16(Z + A + C). The first layer's weight
//    columns are permuted into that order at packing time (and are zero for an input the
//    network does not list), so the kernel never builds per-network inputs.
//  - Widths are padded to multiples of 16 (kBlock). Weights [n_pad, k_pad] are stored as
//    blocks of 16 output columns x 16 inputs (256 elements), column-block major, then
//    k-chunk; inside a block the order is the lane order of the precision's inner loop.
//  - A layer's outputs are split over the CTAs of a cluster in slices of slice_width()
//    columns, a multiple of `gran` (16, or lcm(16, simnorm group) so that no SimNorm group
//    straddles two CTAs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "planner/models/world_model.h"
#include "planner/scorers/latent.h"

// The few helpers the kernel shares with the host.
#if defined(__CUDACC__)
#define LR_HOST_DEVICE __host__ __device__
#else
#define LR_HOST_DEVICE
#endif

namespace planner::gpu::lr {

inline constexpr int kBlock = 16;        // column block and k chunk of the packed weights
inline constexpr int kBlockElems = 256;  // elements of one packed (16 x 16) block
inline constexpr int kThreads = 256;     // threads per CTA (8 warps)
inline constexpr int kWarps = kThreads / 32;
inline constexpr int kMaxCluster = 8;    // portable cluster size

enum class Prec : int { kF32 = 0, kTF32 = 1, kBF16 = 2 };
enum ActCode : int { kActNone = 0, kActReLU, kActELU, kActMish, kActTanh, kActSimNorm };

// One layer y = act(LN(W x + b)) as the kernel reads it. Offsets index the weight blob
// (in elements of the storage type) and the float blob.
struct LayerDesc {
  long long w = 0;      // first packed block of W
  int bias = 0;         // [n_pad] (zero-padded)
  int gamma = -1;       // [n_pad] LayerNorm weight, -1 without LayerNorm
  int beta = -1;        // [n_pad]
  int k_pad = 0;        // input width, multiple of 16
  int n = 0;            // outputs
  int n_pad = 0;        // outputs padded to 16
  int gran = kBlock;    // slice granule (multiple of 16)
  int act = kActNone;
  int simnorm = 0;      // SimNorm group size
  int ln = 0;           // 1: LayerNorm over the n outputs
  float eps = 1e-5f;
};

struct NetDesc {
  int first = 0, count = 0;  // layers [first, first + count) of the descriptor table
};

// Nets in the descriptor table: encoder, reward[0..M), dynamics[0..M), value (optional).
LR_HOST_DEVICE inline int net_encoder() { return 0; }
LR_HOST_DEVICE inline int net_reward(int m) { return 1 + m; }
LR_HOST_DEVICE inline int net_dynamics(int M, int m) { return 1 + M + m; }
LR_HOST_DEVICE inline int net_value(int M) { return 1 + 2 * M; }

struct PackedModel {
  Prec prec = Prec::kF32;
  int S = 0, A = 0, Z = 0, C = 0, M = 0;
  int Kx = 0;   // canonical step input width (pad16(Z + A + C))
  int Hw = 0;   // hidden buffer width: pad16(S) and every non-final layer's n_pad
  bool has_value = false;
  float discount = 1.0f, reward_scale = 1.0f, reward_shift = 0.0f, value_scale = 1.0f, value_shift = 0.0f;
  int obs_shift = 0, obs_scale = 0, a_scale = 0, a_shift = 0;  // float blob offsets ([S], [S], [A], [A])
  std::vector<LayerDesc> layers;
  std::vector<NetDesc> nets;
  std::vector<float> w32;       // packed weights (kF32, kTF32: TF32-rounded)
  std::vector<std::uint16_t> w16;  // packed weights (kBF16: bfloat16 bits)
  std::vector<float> floats;    // biases, LayerNorm affines, normalizations
  // Work per rollout, for the tile heuristic: multiply-adds per row for one step
  // (all 2M step networks), for the value head, and for the encoder (per CTA).
  double step_macs = 0, value_macs = 0, encoder_macs = 0;
  double step_weight_bytes = 0, value_weight_bytes = 0, encoder_weight_bytes = 0;
  int step_layers = 0, value_layers = 0, encoder_layers = 0;

  std::size_t weight_bytes() const { return w32.size() * sizeof(float) + w16.size() * sizeof(std::uint16_t); }
};

// Packs `model` for precision `p`. Throws ValueError for a model the kernel cannot run.
PackedModel pack_model(const WorldModel& model, Prec p);

LR_HOST_DEVICE inline int pad16(int x) { return (x + kBlock - 1) / kBlock * kBlock; }

// Columns of a layer each CTA of a `cluster`-CTA cluster owns (the kernel computes the
// same). CTA q owns [q * w, min((q + 1) * w, n_pad)), possibly empty.
LR_HOST_DEVICE inline int slice_width(int n_pad, int gran, int cluster) {
  const int per = (n_pad + cluster * gran - 1) / (cluster * gran) * gran;
  return per < n_pad ? per : n_pad;
}

// Shared-memory plan of one (rows per CTA, cluster size) configuration: strides in
// elements, offsets in bytes from the dynamic smem base (each 16-byte aligned).
struct SmemPlan {
  int rows = 0, cluster = 1;
  int sx = 0, sh = 0, ss = 0, sz = 0;  // X, H (storage type), scratch, ensemble sums (float)
  int off_x = 0, off_h = 0, off_scr = 0, off_zacc = 0, off_zsq = 0, off_stats = 0;
  int off_pen = 0, off_penall = 0, off_rsum = 0, off_ret = 0, off_val = 0, off_layers = 0, off_nets = 0;
  std::size_t bytes = 0;
};

SmemPlan plan_smem(const PackedModel& pm, int rows, int cluster, bool spread);

// Host float -> bfloat16 bits (round to nearest even) and -> TF32 (round to nearest,
// ties away, as cvt.rna.tf32.f32), shared by packing and tests.
std::uint16_t to_bf16(float x);
float bf16_to_float(std::uint16_t h);
float to_tf32(float x);

}  // namespace planner::gpu::lr
