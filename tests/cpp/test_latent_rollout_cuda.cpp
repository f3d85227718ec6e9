// GPU parity of the fused latent rollout (backend/cuda/latent_rollout.cu) against the CPU
// oracle planner::LatentScorer: float32 to 1e-4 (normwise relative), TF32 and BF16 to
// loose bounds with the measured errors printed. Covers the shipped model files (with
// and without a context), synthetic models for what they lack (ensembles with the
// disagreement penalty, SimNorm latents, a terminal value head, inputs listed in another
// order, odd widths, TD-MPC2-sized layers), every tile shape the model fits, batches,
// partial tiles, strides, determinism, no allocation per call, and bad arguments.
//
// Usage: test_latent_rollout_cuda [SOURCE_DIR [MODEL_FILE]]; the model files default to
// SOURCE_DIR/planner/assets/. Exits 77 (skipped) when no CUDA device is visible.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cuda/latent_rollout.cuh"
#include "backend/cuda/latent_rollout_test.cuh"
#include "check.h"
#include "planner/common/errors.h"
#include "planner/models/world_model.h"
#include "planner/scorers/latent.h"

namespace {

using planner::Activation;
using planner::Input;
using planner::LatentOptions;
using planner::WorldModel;
using planner::gpu::LatentRollout;
using planner::gpu::Precision;
using ModelPtr = std::shared_ptr<const WorldModel>;

constexpr double kTol[] = {1e-4, 1e-2, 3e-2};  // float32, TF32, BF16 (normwise relative)
double g_worst[3] = {0.0, 0.0, 0.0};
const char* kPrecName[] = {"float32", "tf32", "bf16"};

std::size_t sz(long long n) { return static_cast<std::size_t>(n); }

// ------------------------------------------------------------------ synthetic models
struct Spec {
  int S = 5, A = 2, Z = 16, C = 0, M = 1, hidden = 32, hidden_layers = 2;
  Activation act = Activation::kMish;
  bool ln = true;
  int simnorm = 0;  // > 0: latent heads end in LayerNorm + SimNorm over groups of this size
  bool value = false;
  bool permute = false;  // reward reads [c, a, z] and value [c, z]
  unsigned seed = 1;
};

planner::Layer make_layer(std::mt19937& rng, int in, int out, bool ln, Activation act, int sd) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  planner::Layer L;
  L.in = in;
  L.out = out;
  L.weight.resize(sz(static_cast<long long>(in) * out));
  L.bias.resize(sz(out));
  const float s = 1.7f / std::sqrt(static_cast<float>(in));
  for (std::size_t i = 0; i < L.weight.size(); ++i) L.weight[i] = u(rng) * s;
  for (std::size_t i = 0; i < L.bias.size(); ++i) L.bias[i] = 0.2f * u(rng);
  L.layer_norm = ln;
  if (ln) {
    L.norm_weight.resize(sz(out));
    L.norm_bias.resize(sz(out));
    for (std::size_t i = 0; i < sz(out); ++i) {
      L.norm_weight[i] = 1.0f + 0.3f * u(rng);
      L.norm_bias[i] = 0.2f * u(rng);
    }
  }
  L.act = act;
  L.simnorm_dim = sd;
  return L;
}

planner::Network make_net(std::mt19937& rng, const Spec& s, std::vector<Input> inputs, int in, int out, bool latent) {
  planner::Network n;
  n.inputs = std::move(inputs);
  int w = in;
  for (int l = 0; l < s.hidden_layers; ++l) {
    n.mlp.layers.push_back(make_layer(rng, w, s.hidden, s.ln, s.act, 0));
    w = s.hidden;
  }
  if (latent)
    n.mlp.layers.push_back(
        make_layer(rng, w, out, s.ln, s.simnorm ? Activation::kSimNorm : Activation::kNone, s.simnorm));
  else
    n.mlp.layers.push_back(make_layer(rng, w, out, false, Activation::kNone, 0));
  return n;
}

ModelPtr make_model(const Spec& s) {
  std::mt19937 rng(s.seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto m = std::make_shared<WorldModel>();
  m->obs_dim = s.S;
  m->action_dim = s.A;
  m->latent_dim = s.Z;
  m->context_dim = s.C;
  m->ensemble = s.M;
  m->discount = 0.97f;
  for (int a = 0; a < s.A; ++a) {
    m->action_low.push_back(-1.0f - std::fabs(u(rng)));
    m->action_high.push_back(0.5f + std::fabs(u(rng)));
  }
  for (int i = 0; i < s.S; ++i) {
    m->obs_shift.push_back(0.3f * u(rng));
    m->obs_scale.push_back(0.5f + std::fabs(u(rng)));
  }
  m->reward_shift = 0.25f;
  m->reward_scale = 1.5f;
  m->value_shift = -0.5f;
  m->value_scale = 2.0f;
  const int zac = s.Z + s.A + s.C;
  m->encoder = make_net(rng, s, {Input::kObs}, s.S, s.Z, true);
  for (int k = 0; k < s.M; ++k) {
    m->dynamics.push_back(make_net(rng, s, {Input::kZ, Input::kA, Input::kC}, zac, s.Z, true));
    m->reward.push_back(make_net(
        rng, s, s.permute ? std::vector<Input>{Input::kC, Input::kA, Input::kZ} : std::vector<Input>{Input::kZ, Input::kA, Input::kC},
        zac, 1, false));
  }
  if (s.value) {
    m->has_value = true;
    m->value = make_net(rng, s, s.permute ? std::vector<Input>{Input::kC, Input::kZ} : std::vector<Input>{Input::kZ, Input::kC},
                        s.Z + s.C, 1, false);
  }
  return m;
}

// ------------------------------------------------------------------ device helpers
struct DeviceBuf {
  float* p = nullptr;
  explicit DeviceBuf(std::size_t n) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), std::max<std::size_t>(n, 1) * sizeof(float)) != cudaSuccess)
      throw std::runtime_error("cudaMalloc failed");
  }
  ~DeviceBuf() { cudaFree(p); }
  DeviceBuf(const DeviceBuf&) = delete;
  DeviceBuf& operator=(const DeviceBuf&) = delete;
  void put(const std::vector<float>& v) {
    if (cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
      throw std::runtime_error("cudaMemcpy H2D failed");
  }
  std::vector<float> get(std::size_t n) const {
    std::vector<float> v(n);
    if (cudaMemcpy(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess)
      throw std::runtime_error("cudaMemcpy D2H failed");
    return v;
  }
};

struct Shape {
  int B = 1, rows = 64, stride = 64, H = 3;
};

// Random observations, contexts and actions (a little outside the box, too).
struct Inputs {
  std::vector<float> obs, ctx, act;
};
Inputs make_inputs(const WorldModel& m, const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Inputs in;
  in.obs.resize(sz(static_cast<long long>(s.B) * m.obs_dim));
  in.ctx.resize(sz(static_cast<long long>(s.B) * m.context_dim));
  in.act.resize(sz(static_cast<long long>(s.B) * s.stride * s.H * m.action_dim));
  for (auto& v : in.obs) v = 2.0f * u(rng);
  for (auto& v : in.ctx) v = u(rng);
  for (std::size_t i = 0; i < in.act.size(); ++i) {
    const std::size_t a = i % sz(m.action_dim);
    const float lo = m.action_low[a], hi = m.action_high[a];
    in.act[i] = lo + (hi - lo) * (0.5f + 0.55f * u(rng));
  }
  return in;
}

// The CPU oracle, one problem at a time, into [B, stride] (entries >= rows stay 0).
std::vector<float> cpu_returns(const ModelPtr& model, const LatentOptions& opts, const Inputs& in, const Shape& s) {
  planner::LatentScorer scorer(model, opts);
  const int S = model->obs_dim, C = model->context_dim, A = model->action_dim;
  std::vector<float> ref(sz(static_cast<long long>(s.B) * s.stride), 0.0f);
  std::vector<float> scratch(scorer.scratch_floats(s.rows, s.H));
  for (int b = 0; b < s.B; ++b)
    scorer.score(in.obs.data() + sz(static_cast<long long>(b) * S), C ? in.ctx.data() + sz(static_cast<long long>(b) * C) : nullptr,
                 in.act.data() + sz(static_cast<long long>(b) * s.stride * s.H * A), s.rows, s.H,
                 ref.data() + sz(static_cast<long long>(b) * s.stride), scratch.data());
  return ref;
}

constexpr float kSentinel = 12345.0f;

// One model, options and call shape with its inputs and the CPU returns.
struct Problem {
  std::string what;
  ModelPtr model;
  LatentOptions opts;
  Shape s;
  Inputs in;
  std::vector<float> ref;
};

Problem make_problem(const std::string& what, const ModelPtr& model, const LatentOptions& opts, const Shape& s) {
  Problem pr{what, model, opts, s, make_inputs(*model, s, 11u + static_cast<unsigned>(s.rows + 7 * s.H + 31 * s.B)), {}};
  pr.ref = cpu_returns(model, opts, pr.in, s);
  return pr;
}

// Scores on the GPU and compares; returns false when the forced tile does not fit.
bool run_case(const Problem& pr, Precision prec, int force_rows, int force_cluster, cudaStream_t stream) {
  const Shape& s = pr.s;
  const std::string what = pr.what + (force_rows > 0 ? " [forced tile]" : "");
  LatentRollout gpu(pr.model, pr.opts, prec, 0);
  DeviceBuf obs(pr.in.obs.size()), ctx(pr.in.ctx.size()), act(pr.in.act.size()), ret(pr.ref.size());
  obs.put(pr.in.obs);
  if (!pr.in.ctx.empty()) ctx.put(pr.in.ctx);
  act.put(pr.in.act);
  const float* ctx_p = pr.model->context_dim ? ctx.p : nullptr;
  std::vector<float> got;
  planner::gpu::testing::force_latent_tile(force_rows, force_cluster);
  try {
    for (int rep = 0; rep < 2; ++rep) {
      ret.put(std::vector<float>(pr.ref.size(), kSentinel));
      gpu.score(obs.p, ctx_p, act.p, s.B, s.rows, s.stride, s.H, ret.p, stream);
      check(cudaStreamSynchronize(stream) == cudaSuccess, what + ": kernel ran without a CUDA error");
      std::vector<float> r = ret.get(pr.ref.size());
      if (rep == 1) check(r == got, what + ": two calls give bitwise identical returns");
      got = std::move(r);
    }
  } catch (const planner::ValueError&) {
    planner::gpu::testing::force_latent_tile(0, 0);
    if (force_rows > 0) return false;  // this tile does not fit the model
    throw;
  }
  planner::gpu::testing::force_latent_tile(0, 0);
  const auto tile = planner::gpu::testing::last_latent_tile();
  double max_ref = 0.0, max_err = 0.0;
  bool untouched = true, finite = true;
  for (int b = 0; b < s.B; ++b)
    for (int n = 0; n < s.stride; ++n) {
      const std::size_t i = sz(static_cast<long long>(b) * s.stride + n);
      if (n >= s.rows) {
        untouched = untouched && got[i] == kSentinel;
        continue;
      }
      finite = finite && std::isfinite(got[i]);
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(pr.ref[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - static_cast<double>(pr.ref[i])));
    }
  const double rel = max_err / std::max(max_ref, 1e-30);
  const int pi = static_cast<int>(prec);
  g_worst[pi] = std::max(g_worst[pi], rel);
  std::printf("  %-52s %-7s B=%d N=%3d H=%2d tile %2dx%d (%6zu B smem): max rel err %.2e\n", what.c_str(),
              kPrecName[pi], s.B, s.rows, s.H, tile.rows_per_cta, tile.cluster, tile.smem_bytes, rel);
  check(finite, what + ": finite returns");
  check(untouched, what + ": entries past `rows` untouched");
  check(rel <= kTol[pi], what + " " + kPrecName[pi] + ": max relative error " + std::to_string(rel) +
                             " within " + std::to_string(kTol[pi]));
  return true;
}

const Precision kPrecs[] = {Precision::kFloat32, Precision::kTF32, Precision::kBF16};

// Every precision with the automatic tile, then float32 on every tile that fits.
void sweep(const std::string& what, const ModelPtr& model, const LatentOptions& opts, const Shape& s,
           cudaStream_t stream, bool all_tiles) {
  const Problem pr = make_problem(what, model, opts, s);
  for (Precision p : kPrecs) run_case(pr, p, 0, 0, stream);
  if (!all_tiles) return;
  for (int rows : {64, 32, 16})
    for (int cl : {1, 2, 4, 8})
      if (!run_case(pr, Precision::kFloat32, rows, cl, stream))
        std::printf("  %-52s tile %2dx%d does not fit\n", what.c_str(), rows, cl);
}

void test_files(const std::string& assets, const std::string& small_path, cudaStream_t stream) {
  std::printf("model files\n");
  ModelPtr small, oc;
  try {
    small = WorldModel::load(small_path);
    oc = WorldModel::load(assets + "pendulum_oc.lpm.safetensors");
  } catch (const std::exception& e) {
    check(false, std::string("loading the model files (pass the source dir as argv[1]): ") + e.what());
    return;
  }
  LatentOptions opts;
  sweep("pendulum_small", small, opts, {1, 256, 256, 12}, stream, true);
  sweep("pendulum_small, B=3, N=100 in stride 103, H=5", small, opts, {3, 100, 103, 5}, stream, false);
  sweep("pendulum_small, one row, H=1", small, opts, {2, 1, 4, 1}, stream, false);
  sweep("pendulum_oc (C=8)", oc, opts, {2, 130, 130, 6}, stream, true);
}

void test_synthetic(cudaStream_t stream) {
  std::printf("synthetic models\n");
  Spec ens;
  ens.S = 7, ens.A = 3, ens.Z = 24, ens.C = 5, ens.M = 3, ens.hidden = 40, ens.simnorm = 8, ens.value = true;
  ens.permute = true, ens.seed = 3;
  const ModelPtr m_ens = make_model(ens);
  LatentOptions opts;
  sweep("M=3, SimNorm, value, inputs [c,a,z]", m_ens, opts, {2, 70, 72, 4}, stream, true);
  opts.disagreement = 0.7f;
  sweep("M=3, SimNorm, value, disagreement 0.7", m_ens, opts, {2, 70, 72, 4}, stream, true);
  opts.terminal_value = false;
  sweep("M=3, disagreement 0.7, terminal value off", m_ens, opts, {1, 33, 33, 3}, stream, false);

  Spec odd;
  odd.S = 3, odd.A = 1, odd.Z = 30, odd.M = 2, odd.hidden = 50, odd.simnorm = 10, odd.value = true;
  odd.act = Activation::kELU, odd.seed = 5;
  LatentOptions lam;
  lam.disagreement = 0.3f;
  sweep("M=2, SimNorm groups of 10, ELU, width 50", make_model(odd), lam, {2, 20, 21, 4}, stream, true);

  Spec plain = odd;
  plain.ln = false, plain.act = Activation::kTanh, plain.simnorm = 0, plain.hidden_layers = 1, plain.seed = 9;
  sweep("no LayerNorm, tanh, one hidden layer", make_model(plain), LatentOptions{}, {1, 70, 70, 2}, stream, false);
  plain.act = Activation::kReLU, plain.hidden_layers = 0, plain.seed = 10;
  sweep("no hidden layer (linear heads), ReLU", make_model(plain), LatentOptions{}, {1, 40, 40, 3}, stream, false);

  // TD-MPC2-sized: 1M (Z=128, hidden 384) and 5M (Z=512, hidden 512), SimNorm, value.
  Spec t1;
  t1.S = 17, t1.A = 6, t1.Z = 128, t1.hidden = 384, t1.simnorm = 8, t1.value = true, t1.seed = 21;
  sweep("tdmpc2-1m sized", make_model(t1), LatentOptions{}, {1, 512, 512, 3}, stream, true);
  Spec t5 = t1;
  t5.Z = 512, t5.hidden = 512, t5.seed = 22;
  sweep("tdmpc2-5m sized", make_model(t5), LatentOptions{}, {1, 512, 512, 3}, stream, true);
  Spec t5e = t5;
  t5e.M = 5, t5e.seed = 23;
  LatentOptions lam5;
  lam5.disagreement = 0.5f;
  sweep("tdmpc2-5m sized, M=5, disagreement 0.5", make_model(t5e), lam5, {2, 96, 96, 2}, stream, false);
}

void test_contract(const std::string& small_path, cudaStream_t stream) {
  std::printf("contract\n");
  ModelPtr small;
  try {
    small = WorldModel::load(small_path);
  } catch (const std::exception&) {
    return;  // reported by test_files
  }
  Spec ctxs;
  ctxs.C = 4;
  const ModelPtr with_ctx = make_model(ctxs);
  LatentRollout gpu(small, LatentOptions{}, Precision::kFloat32, 0);
  check(gpu.state_dim() == 3 && gpu.action_dim() == 1 && gpu.context_dim() == 0, "dims of pendulum_small");
  check(gpu.precision() == Precision::kFloat32, "precision()");
  const Shape s{2, 64, 64, 4};
  const Inputs in = make_inputs(*small, s, 5);
  DeviceBuf obs(in.obs.size()), act(in.act.size()), ret(sz(s.B * s.stride));
  obs.put(in.obs);
  act.put(in.act);
  using planner::ValueError;
  check_throws<ValueError>([&] { gpu.score(obs.p, nullptr, act.p, -1, 4, 4, 2, ret.p, stream); }, "batch < 0");
  check_throws<ValueError>([&] { gpu.score(obs.p, nullptr, act.p, 1, 8, 4, 2, ret.p, stream); }, "row_stride < rows");
  check_throws<ValueError>([&] { gpu.score(obs.p, nullptr, act.p, 1, 4, 4, 0, ret.p, stream); }, "horizon 0");
  check_throws<ValueError>([&] { gpu.score(nullptr, nullptr, act.p, 1, 4, 4, 2, ret.p, stream); }, "null obs");
  LatentRollout gpu_ctx(with_ctx, LatentOptions{}, Precision::kBF16, 0);
  check_throws<ValueError>([&] { gpu_ctx.score(obs.p, nullptr, act.p, 1, 4, 4, 2, ret.p, stream); },
                           "null context with C > 0");
  check_throws<ValueError>([&] { LatentRollout bad(nullptr, LatentOptions{}, Precision::kFloat32, 0); },
                           "null model");
  LatentOptions neg;
  neg.disagreement = -1.0f;
  check_throws<ValueError>([&] { LatentRollout bad(small, neg, Precision::kFloat32, 0); }, "negative disagreement");
  // A model needing much shared memory keeps working after a small one is set up (the
  // kernels' smem limit is process-wide).
  Spec wide;
  wide.S = 3, wide.A = 1, wide.Z = 128, wide.hidden = 384, wide.seed = 31;
  LatentRollout big(make_model(wide), LatentOptions{}, Precision::kFloat32, 0);
  LatentRollout after(small, LatentOptions{}, Precision::kFloat32, 0);
  big.score(obs.p, nullptr, act.p, s.B, s.rows, s.stride, s.H, ret.p, stream);
  check(cudaStreamSynchronize(stream) == cudaSuccess, "a wide model after a small one");
  gpu.score(obs.p, nullptr, act.p, 0, 4, 4, 2, ret.p, stream);  // empty batch: a no-op
  gpu.score(obs.p, nullptr, act.p, 2, 0, 4, 2, ret.p, stream);  // no rows: a no-op
  // No host allocation per call once the call shape has been seen.
  gpu.score(obs.p, nullptr, act.p, s.B, s.rows, s.stride, s.H, ret.p, stream);
  const long before = g_allocations.load();
  for (int i = 0; i < 3; ++i) gpu.score(obs.p, nullptr, act.p, s.B, s.rows, s.stride, s.H, ret.p, stream);
  check(g_allocations.load() == before, "score() allocates nothing on the host");
  check(cudaStreamSynchronize(stream) == cudaSuccess, "contract calls ran without a CUDA error");
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major < 9) {
    std::printf("SKIP: the fused latent rollout needs compute capability 9.0 (device 0: %s, %d.%d)\n", prop.name,
                prop.major, prop.minor);
    return 77;
  }
  std::printf("device 0: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  const std::string source = argc > 1 ? argv[1] : ".";
  const std::string assets = source + "/planner/assets/";
  const std::string small_path = argc > 2 ? argv[2] : assets + "pendulum_small.lpm.safetensors";
  cudaStream_t stream = nullptr;
  if (cudaStreamCreate(&stream) != cudaSuccess) {
    std::printf("FAILED: cudaStreamCreate\n");
    return 1;
  }
  try {
    test_files(assets, small_path, stream);
    test_synthetic(stream);
    test_contract(small_path, stream);
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  cudaStreamDestroy(stream);
  std::printf("worst normwise relative error: float32 %.2e, tf32 %.2e, bf16 %.2e\n", g_worst[0], g_worst[1],
              g_worst[2]);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
