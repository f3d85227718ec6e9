// Host side of the fused latent rollout: packs and uploads the model once, chooses a
// tile (rows per CTA x CTAs per cluster) per call, and launches one kernel per score().
// The kernel and its design are in latent_rollout_kernel.cuh, the packing in
// latent_rollout_layout.{h,cpp}.
#include "backend/cuda/latent_rollout.cuh"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cuda/device_check.h"
#include "backend/cuda/latent_rollout_kernel.cuh"
#include "backend/cuda/latent_rollout_test.cuh"
#include "planner/common/errors.h"

namespace planner::gpu {
namespace {

using KernelFn = void (*)(lr::Params);

template <lr::Prec P>
KernelFn kernel_for(int rows) {
  // R = 16 MT WM: 64 rows as 2 x 2 m-tiles per warp pair, 32 as 2 warp rows, 16 as one.
  if (rows == 64) return lr::latent_rollout_kernel<P, 2, 2>;
  if (rows == 32) return lr::latent_rollout_kernel<P, 1, 2>;
  return lr::latent_rollout_kernel<P, 1, 1>;
}

KernelFn kernel_for(lr::Prec p, int rows) {
  switch (p) {
    case lr::Prec::kF32: return kernel_for<lr::Prec::kF32>(rows);
    case lr::Prec::kTF32: return kernel_for<lr::Prec::kTF32>(rows);
    case lr::Prec::kBF16: return kernel_for<lr::Prec::kBF16>(rows);
  }
  return nullptr;
}

lr::Prec to_prec(Precision p) {
  switch (p) {
    case Precision::kFloat32: return lr::Prec::kF32;
    case Precision::kTF32: return lr::Prec::kTF32;
    case Precision::kBF16: return lr::Prec::kBF16;
  }
  return lr::Prec::kF32;
}

constexpr int kRowChoices[] = {64, 32, 16};
constexpr int kClusterChoices[] = {1, 2, 4, 8};

// Test hooks (latent_rollout_test.cuh).
std::atomic<int> g_force_rows{0}, g_force_cluster{0};
std::atomic<int> g_last_rows{0}, g_last_cluster{0}, g_last_clusters{0};
std::atomic<std::size_t> g_last_smem{0};

// Clusters of this shape the device holds at once (0: it cannot run it).
int resident_clusters(KernelFn fn, std::size_t smem, int cluster, int sms) {
  if (cluster == 1) {
    int blocks = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fn, lr::kThreads, smem) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return blocks * sms;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(cluster * 16));
  cfg.blockDim = dim3(lr::kThreads);
  cfg.dynamicSmemBytes = smem;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = static_cast<unsigned>(cluster);
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  int n = 0;
  if (cudaOccupancyMaxActiveClusters(&n, fn, &cfg) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace

namespace testing {
void force_latent_tile(int rows_per_cta, int cluster) {
  g_force_rows.store(rows_per_cta);
  g_force_cluster.store(cluster);
}
LatentTile last_latent_tile() {
  LatentTile t;
  t.rows_per_cta = g_last_rows.load();
  t.cluster = g_last_cluster.load();
  t.smem_bytes = g_last_smem.load();
  t.max_active_clusters = g_last_clusters.load();
  return t;
}
}  // namespace testing

struct LatentRollout::Impl {
  struct Config {
    int rows = 0, cluster = 1;
    lr::SmemPlan sp;
    KernelFn fn = nullptr;
    int resident = 0;  // clusters held at once
  };

  std::shared_ptr<const WorldModel> model;
  LatentOptions options;
  Precision precision = Precision::kFloat32;
  lr::Prec prec = lr::Prec::kF32;
  int device = 0;
  bool spread = false;
  int sms = 1;
  lr::PackedModel pm;
  DeviceArray<unsigned char> weights;
  DeviceArray<float> floats;
  DeviceArray<lr::LayerDesc> layers;
  DeviceArray<lr::NetDesc> nets;
  std::vector<Config> configs;  // every tile this model runs on this device
  // The last choice, reused while the call shape stays the same.
  int memo_batch = -1, memo_rows = -1, memo_horizon = -1, memo_fr = -1, memo_fc = -1;
  std::size_t memo_index = 0;

  // Rough time of one launch in microseconds: waves x (per-CTA compute and weight
  // streaming, split over the cluster, plus per-layer barriers). Only ranks tiles;
  // force_latent_tile() overrides it for tuning.
  double estimate(const Config& c, int batch, int rows, int horizon) const {
    const double tiles = std::ceil(static_cast<double>(rows) / c.rows);
    const double clusters = static_cast<double>(batch) * tiles;
    const double waves = std::ceil(clusters / c.resident);
    const double in_wave = std::min(clusters, static_cast<double>(c.resident));
    const double share = std::max(1.0, in_wave * c.cluster / sms);  // CTAs sharing an SM
    const double rate = (prec == lr::Prec::kF32 ? 110e3 : prec == lr::Prec::kTF32 ? 450e3 : 900e3) *
                        (c.rows == 64 ? 1.0 : c.rows == 32 ? 0.8 : 0.55);  // MAC per us per SM
    const double H = horizon;
    const double macs = c.rows * (pm.step_macs * H + pm.value_macs) + 16.0 * pm.encoder_macs;
    const double bytes = pm.step_weight_bytes * H + pm.value_weight_bytes + pm.encoder_weight_bytes;
    const double layers_n = pm.step_layers * H + pm.value_layers + pm.encoder_layers;
    const double cta = share * (macs / rate + bytes / 60e3) / c.cluster + layers_n * (c.cluster > 1 ? 0.8 : 0.3);
    const double l2 = in_wave * bytes / 5.5e6;  // the whole wave through L2
    return waves * std::max(cta, l2);
  }

  const Config& choose(int batch, int rows, int horizon) {
    const int fr = g_force_rows.load(std::memory_order_relaxed);
    const int fc = g_force_cluster.load(std::memory_order_relaxed);
    if (batch == memo_batch && rows == memo_rows && horizon == memo_horizon && fr == memo_fr && fc == memo_fc)
      return configs[memo_index];
    std::size_t best = configs.size();
    if (fr > 0 || fc > 0) {
      for (std::size_t i = 0; i < configs.size(); ++i)
        if (configs[i].rows == fr && configs[i].cluster == fc) best = i;
      if (best == configs.size())
        throw_value_error("latent rollout: the forced tile (", fr, " rows per CTA, cluster ", fc,
                          ") does not fit this model on this device");
    } else {
      double best_t = 0.0;
      for (std::size_t i = 0; i < configs.size(); ++i) {
        const double t = estimate(configs[i], batch, rows, horizon);
        if (best == configs.size() || t < best_t * 0.97) {  // ties: the earlier (larger tile, smaller cluster)
          best = i;
          best_t = t;
        }
      }
    }
    memo_batch = batch;
    memo_rows = rows;
    memo_horizon = horizon;
    memo_fr = fr;
    memo_fc = fc;
    memo_index = best;
    return configs[best];
  }
};

LatentRollout::LatentRollout(std::shared_ptr<const WorldModel> model, const LatentOptions& options,
                             Precision precision, int device)
    : impl_(std::make_unique<Impl>()) {
  require(model != nullptr, "LatentRollout: model must not be null");
  require(options.disagreement >= 0.0f && std::isfinite(options.disagreement),
          "disagreement must be finite and >= 0, got ", options.disagreement);
  Impl& I = *impl_;
  I.model = std::move(model);
  I.options = options;
  I.precision = precision;
  I.prec = to_prec(precision);
  I.device = device;
  I.spread = options.disagreement > 0.0f && I.model->ensemble > 1;

  DeviceGuard guard(device);
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  if (prop.major < 9)
    throw std::runtime_error("LatentRollout: needs a GPU of compute capability 9.0 or newer (thread block clusters); "
                             "device " + std::to_string(device) + " (" + prop.name + ") is " +
                             std::to_string(prop.major) + "." + std::to_string(prop.minor));
  I.sms = prop.multiProcessorCount;

  I.pm = lr::pack_model(*I.model, I.prec);
  const std::size_t wbytes = I.pm.weight_bytes();
  I.weights.allocate(wbytes);
  I.weights.upload(I.prec == lr::Prec::kBF16 ? reinterpret_cast<const unsigned char*>(I.pm.w16.data())
                                             : reinterpret_cast<const unsigned char*>(I.pm.w32.data()),
                   wbytes);
  I.floats.allocate(I.pm.floats.size());
  I.floats.upload(I.pm.floats.data(), I.pm.floats.size());
  I.layers.allocate(I.pm.layers.size());
  I.layers.upload(I.pm.layers.data(), I.pm.layers.size());
  I.nets.allocate(I.pm.nets.size());
  I.nets.upload(I.pm.nets.data(), I.pm.nets.size());
  // The host copies of the weights are no longer needed.
  I.pm.w32 = {};
  I.pm.w16 = {};

  std::size_t smallest = 0;
  for (int rows : kRowChoices) {
    const KernelFn fn = kernel_for(I.prec, rows);
    std::vector<Impl::Config> fit;
    for (int cl : kClusterChoices) {
      Impl::Config c;
      c.rows = rows;
      c.cluster = cl;
      c.fn = fn;
      c.sp = lr::plan_smem(I.pm, rows, cl, I.spread);
      smallest = smallest == 0 ? c.sp.bytes : std::min(smallest, c.sp.bytes);
      if (c.sp.bytes <= prop.sharedMemPerBlockOptin) fit.push_back(c);
    }
    if (fit.empty()) continue;
    // The limit is per kernel and process-wide: the device maximum serves every model.
    check(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(prop.sharedMemPerBlockOptin)),
          "cudaFuncSetAttribute (latent rollout shared memory)");
    for (auto& c : fit) {
      c.resident = resident_clusters(fn, c.sp.bytes, c.cluster, I.sms);
      if (c.resident > 0) I.configs.push_back(c);
    }
  }
  if (I.configs.empty())
    throw_value_error("LatentRollout: the model's layers are too wide for the fused rollout (it needs at least ",
                      smallest, " bytes of shared memory per CTA; device ", device, " allows ",
                      prop.sharedMemPerBlockOptin, ")");
}

LatentRollout::~LatentRollout() = default;

int LatentRollout::state_dim() const { return impl_->model->obs_dim; }
int LatentRollout::action_dim() const { return impl_->model->action_dim; }
int LatentRollout::context_dim() const { return impl_->model->context_dim; }
Precision LatentRollout::precision() const { return impl_->precision; }

void LatentRollout::score(const float* obs, const float* context, const float* actions, int batch, int rows,
                          int row_stride, int horizon, float* returns, cudaStream_t stream) {
  Impl& I = *impl_;
  require(batch >= 0, "latent rollout: batch (B) must be >= 0, got ", batch);
  require(rows >= 0, "latent rollout: rows must be >= 0, got ", rows);
  require(row_stride >= rows, "latent rollout: row_stride (", row_stride, ") must be >= rows (", rows, ")");
  require(horizon >= 1, "latent rollout: horizon (H) must be >= 1, got ", horizon);
  if (batch == 0 || rows == 0) return;
  require(obs != nullptr && actions != nullptr && returns != nullptr,
          "latent rollout: obs [B, S], actions [B, N, H, A] and returns [B, N] must be device pointers, got null");
  require(I.pm.C == 0 || context != nullptr, "latent rollout: context [B, C] is required (the model has C = ",
          I.pm.C, ")");
  const Impl::Config& c = I.choose(batch, rows, horizon);
  const long long tiles = (rows + c.rows - 1) / c.rows;
  const long long ctas = static_cast<long long>(batch) * tiles * c.cluster;
  require(ctas <= INT_MAX, "latent rollout: B x N too large for one launch (", ctas, " CTAs)");

  lr::Params p = {};
  p.layers = I.layers.data();
  p.nets = I.nets.data();
  p.weights = I.weights.data();
  p.fl = I.floats.data();
  p.num_layers = static_cast<int>(I.pm.layers.size());
  p.num_nets = static_cast<int>(I.pm.nets.size());
  p.S = I.pm.S;
  p.A = I.pm.A;
  p.Z = I.pm.Z;
  p.C = I.pm.C;
  p.M = I.pm.M;
  p.run_value = I.pm.has_value && I.options.terminal_value ? 1 : 0;
  p.spread = I.spread ? 1 : 0;
  p.lambda = I.options.disagreement;
  p.discount = I.pm.discount;
  p.reward_scale = I.pm.reward_scale;
  p.reward_shift = I.pm.reward_shift;
  p.value_scale = I.pm.value_scale;
  p.value_shift = I.pm.value_shift;
  p.obs_shift = I.pm.obs_shift;
  p.obs_scale = I.pm.obs_scale;
  p.a_scale = I.pm.a_scale;
  p.a_shift = I.pm.a_shift;
  p.obs = obs;
  p.context = context;
  p.actions = actions;
  p.returns = returns;
  p.rows = rows;
  p.row_stride = row_stride;
  p.horizon = horizon;
  p.tiles = static_cast<int>(tiles);
  p.cl = c.cluster;
  p.sp = c.sp;

  DeviceGuard guard(I.device);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(ctas));
  cfg.blockDim = dim3(lr::kThreads);
  cfg.dynamicSmemBytes = c.sp.bytes;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  if (c.cluster > 1) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = static_cast<unsigned>(c.cluster);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
  }
  check(cudaLaunchKernelEx(&cfg, c.fn, p), "cudaLaunchKernelEx (latent rollout)");
  g_last_rows.store(c.rows, std::memory_order_relaxed);
  g_last_cluster.store(c.cluster, std::memory_order_relaxed);
  g_last_smem.store(c.sp.bytes, std::memory_order_relaxed);
  g_last_clusters.store(c.resident, std::memory_order_relaxed);
}

}  // namespace planner::gpu
