// GpuPlanner (backend/gpu.h): the host side of the CUDA planner. Validation and the
// resolved configuration come from the CPU optimizer and scorer themselves (one source
// of truth); every buffer is allocated here, once; plan() only enqueues kernels
// (kernels.h) or replays them as one captured CUDA graph.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/device_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/latent_rollout.cuh"
#include "backend/gpu.h"
#include "planner/common/errors.h"
#include "planner/optimizers/icem.h"
#include "planner/optimizers/optimizer.h"
#include "planner/scorers/analytic.h"
#include "planner/scorers/latent.h"

namespace planner::gpu {
namespace {

// The CPU scorers' parameter tables (pendulum.cpp, diff_drive.cpp) and the same derived
// constants, computed in float in the same order. The parity tests
// compare returns bit for bit, so a drift here fails them.
kernels::PendulumParams pendulum_params(const Params& given) {
  const analytic::ParamTable t("pendulum", analytic::pendulum_defaults(), given);
  const float g = t.get("g"), m = t.get("m"), l = t.get("l");
  kernels::PendulumParams p{};
  p.dt = t.get("dt");
  p.k_sin = 3.0f * g / (2.0f * l);
  p.k_u = 3.0f / (m * l * l);
  p.max_speed = t.get("max_speed");
  p.max_torque = t.get("max_torque");
  return p;
}

kernels::DiffDriveParams diff_drive_params(const Params& given) {
  const analytic::ParamTable t("diff_drive", analytic::diff_drive_defaults(), given);
  kernels::DiffDriveParams p{};
  p.dt = t.get("dt");
  p.r = t.get("wheel_radius");
  p.track = t.get("track");
  p.umax = t.get("max_wheel_speed");
  p.gx = t.get("goal_x");
  p.gy = t.get("goal_y");
  p.gyaw = t.get("goal_yaw");
  p.yw = t.get("yaw_weight");
  p.aw = t.get("action_weight");
  p.ox = t.get("obstacle_x");
  p.oy = t.get("obstacle_y");
  p.orad2 = t.get("obstacle_radius") * t.get("obstacle_radius");
  p.ocost = t.get("obstacle_cost");
  return p;
}

kernels::Method method_of(const std::string& name) {
  if (name == "cem") return kernels::Method::kCEM;
  if (name == "icem") return kernels::Method::kICEM;
  return kernels::Method::kMPPI;  // make_optimizer has rejected anything else
}

// A plan input must live on the planner's device (or be managed memory).
void require_device_pointer(const void* p, int device, const char* what) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw_value_error(what, " must be a CUDA device pointer (cudaPointerGetAttributes: ", cudaGetErrorString(err),
                      ")");
  }
  if (attr.type == cudaMemoryTypeManaged) return;
  require(attr.type == cudaMemoryTypeDevice, what, " must be CUDA device memory on device ", device,
          "; got host memory");
  require(attr.device == device, what, " is on CUDA device ", attr.device, " but the planner runs on device ", device);
}

}  // namespace

struct GpuPlanner::Impl {
  OptimizerConfig cfg;
  int B = 0, N = 0, H = 0, A = 0, HA = 0, S = 0, C = 0, I = 0;
  int device = 0, shift_after = 0;
  std::string scorer_name;
  std::vector<int> active;  // population rows of each iteration

  enum class Analytic { kNone, kPendulum, kDiffDrive } analytic = Analytic::kNone;
  kernels::PendulumParams pendulum{};
  kernels::DiffDriveParams diff_drive{};
  std::unique_ptr<LatentRollout> rollout;

  DeviceArray<float> lower, upper, init_mean, init_std, color;
  DeviceArray<float> mean, stddev, pop, noise, returns, weights, best_return, elites, best, best_val, shift_tmp;
  DeviceArray<int> order, sorted, count, elite_n;
  DeviceArray<unsigned long long> keys;
  DeviceArray<std::uint32_t> step;
  DeviceArray<float> state, context, plan_out, action_out, best_out;
  kernels::OptimizerView view;
  GpuPlanResult result;

  // CUDA graph of the whole plan: captured on the second plan() (the first one runs
  // directly, so anything the scorer sets up lazily happens outside the capture).
  bool graphs = true;
  long long plans = 0;
  cudaStream_t capture_stream = nullptr;
  cudaGraphExec_t graph = nullptr;
  cudaStream_t last_stream = nullptr;  // where shift() / reset() enqueue

  Impl(const OptimizerConfig& config, const ScorerSpec& spec, int batch, int dev, int shift_after_plan);
  ~Impl();
  void enqueue(cudaStream_t s);
  bool capture();
};

GpuPlanner::Impl::Impl(const OptimizerConfig& config, const ScorerSpec& spec, int batch, int dev,
                       int shift_after_plan)
    : cfg(config), B(batch), device(dev), shift_after(shift_after_plan) {
  require(batch >= 1 && batch <= 65535, "batch (B) must be in [1, 65535], got ", batch);
  require(shift_after_plan >= 0, "shift_after_plan must be >= 0, got ", shift_after_plan);
  // The scorer: dimensions, default box and parameter validation from the CPU scorer.
  std::shared_ptr<const Scorer> cpu_scorer;
  if (!spec.analytic.empty()) {
    require(spec.analytic == "pendulum" || spec.analytic == "diff_drive", "scorer: '", spec.analytic,
            "' has no GPU implementation; the GPU analytic scorers are pendulum, diff_drive");
    cpu_scorer = make_scorer(spec.analytic, spec.params);  // throws on unknown / bad params
    if (spec.analytic == "pendulum") {
      analytic = Analytic::kPendulum;
      pendulum = pendulum_params(spec.params);
    } else {
      analytic = Analytic::kDiffDrive;
      diff_drive = diff_drive_params(spec.params);
    }
  } else {
    require(spec.model != nullptr, "scorer: give an analytic scorer name or a latent world model");
    cpu_scorer = std::make_shared<LatentScorer>(spec.model, spec.latent);
  }
  scorer_name = cpu_scorer->name();
  S = cpu_scorer->state_dim();
  A = cpu_scorer->action_dim();
  C = cpu_scorer->context_dim();
  {  // Planner's with_scorer_bounds
    std::vector<float> lo(A), hi(A);
    cpu_scorer->default_bounds(lo.data(), hi.data());
    if (cfg.lower.empty()) cfg.lower = lo;
    if (cfg.upper.empty()) cfg.upper = hi;
  }

  // The CPU optimizer validates the config and resolves bounds, initial mean / std, the
  // population schedule and (iCEM) the coloring matrix; the GPU uses exactly those. None
  // of that depends on B, so it is built for one problem (its population is host memory).
  std::unique_ptr<Optimizer> ref = make_optimizer(cfg, 1, A);
  N = ref->samples();
  H = ref->horizon();
  HA = H * A;
  I = cfg.iterations;
  require(static_cast<long long>(N) * HA < (1LL << 31), "samples x horizon x action_dim (N*H*A) must be < 2^31 on ",
          "the GPU, got ", static_cast<long long>(N) * HA);
  {
    std::vector<float> zeros(static_cast<std::size_t>(N), 0.0f);
    for (int i = 0; i < I; ++i) {
      active.push_back(ref->prepare());
      ref->update(zeros.data(), N);
    }
    ref->reset();
  }
  std::vector<float> m0(ref->mean(), ref->mean() + A), s0(ref->stddev(), ref->stddev() + A);
  const auto method = method_of(cfg.name);
  const int kept = method == kernels::Method::kICEM
                       ? static_cast<int>(std::floor(cfg.keep_elites * static_cast<float>(cfg.elites)))
                       : 0;  // ICEM::kept()

  const int count_devices = device_count();
  if (count_devices == 0) throw std::runtime_error("GpuPlanner: no CUDA device is visible");
  require(dev >= 0 && dev < count_devices, "device must be in [0, ", count_devices, "), got ", dev);
  DeviceGuard guard(device);
  if (analytic == Analytic::kNone) rollout = std::make_unique<LatentRollout>(spec.model, spec.latent, spec.precision,
                                                                            device);

  const std::size_t BN = static_cast<std::size_t>(B) * N, BHA = static_cast<std::size_t>(B) * HA;
  lower.allocate(A);
  lower.upload(ref->lower(), A);
  upper.allocate(A);
  upper.upload(ref->upper(), A);
  init_mean.allocate(A);
  init_mean.upload(m0.data(), A);
  init_std.allocate(A);
  init_std.upload(s0.data(), A);
  mean.allocate(BHA);
  stddev.allocate(BHA);
  pop.allocate(BN * HA);
  returns.allocate(BN);
  order.allocate(BN);
  sorted.allocate(BN);
  keys.allocate(BN);
  weights.allocate(method == kernels::Method::kMPPI ? BN : 0);
  count.allocate(B);
  best_return.allocate(B);
  step.allocate(1);
  if (method == kernels::Method::kICEM) {
    const auto* icem = dynamic_cast<const ICEM*>(ref.get());
    color.allocate(static_cast<std::size_t>(H) * H);
    color.upload(icem->coloring(), static_cast<std::size_t>(H) * H);
    noise.allocate(BN * HA);
    elites.allocate(static_cast<std::size_t>(B) * kept * HA);
    elite_n.allocate(B);
    best.allocate(BHA);
    best_val.allocate(B);
  }
  shift_tmp.allocate(static_cast<std::size_t>(B) * (1 + kept) * HA);
  state.allocate(static_cast<std::size_t>(B) * S);
  context.allocate(static_cast<std::size_t>(B) * (C > 0 ? C : 1));
  plan_out.allocate(BHA);
  action_out.allocate(static_cast<std::size_t>(B) * A);
  best_out.allocate(B);
  // Rows past a problem's active count are never scored; keep them defined for the hooks.
  check(cudaMemset(pop.data(), 0, BN * HA * sizeof(float)), "cudaMemset (population)");
  check(cudaMemset(returns.data(), 0, BN * sizeof(float)), "cudaMemset (returns)");

  kernels::OptimizerView& v = view;
  v.B = B;
  v.N = N;
  v.H = H;
  v.A = A;
  v.HA = HA;
  v.iterations = I;
  v.method = method;
  v.seed = cfg.seed;
  v.truncated = cfg.sampling == Sampling::kTruncated;
  v.num_elites = cfg.elites;
  v.top_k = cfg.top_k;
  v.kept = kept;
  v.shift_elites = cfg.shift_elites;
  v.add_mean = cfg.add_mean;
  v.adapt_std = cfg.adapt_std;
  v.momentum = cfg.momentum;
  v.keep = 1.0f - cfg.momentum;
  v.min_std = cfg.min_std;
  v.max_std = cfg.max_std;
  v.temperature = cfg.temperature;
  v.lower = lower.data();
  v.upper = upper.data();
  v.init_mean = init_mean.data();
  v.init_std = init_std.data();
  v.color = color.data();
  v.mean = mean.data();
  v.stddev = stddev.data();
  v.pop = pop.data();
  v.noise = noise.data();
  v.returns = returns.data();
  v.order = order.data();
  v.sorted = sorted.data();
  v.keys = keys.data();
  v.weights = weights.data();
  v.count = count.data();
  v.best_return = best_return.data();
  v.elites = elites.data();
  v.elite_n = elite_n.data();
  v.best = best.data();
  v.best_val = best_val.data();
  v.shift_tmp = shift_tmp.data();
  v.step = step.data();
  v.plan_out = plan_out.data();
  v.action_out = action_out.data();
  v.best_out = best_out.data();
  result.action = action_out.data();
  result.plan = plan_out.data();
  result.best_return = best_out.data();

  kernels::launch_reset(view, -1, nullptr);
  kernels::launch_begin(view, nullptr);
  kernels::launch_finalize(view, nullptr);  // the outputs hold the initial plan until the first plan()
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (GpuPlanner setup)");

  const char* env = std::getenv("PLANNER_CUDA_GRAPHS");
  graphs = !(env != nullptr && std::strcmp(env, "0") == 0);
  if (graphs) check(cudaStreamCreateWithFlags(&capture_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
}

GpuPlanner::Impl::~Impl() {
  // Errors cannot be reported from a destructor; the memory goes back with the context.
  int previous = 0;
  const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != device &&
                        cudaSetDevice(device) == cudaSuccess;
  if (graph) cudaGraphExecDestroy(graph);
  if (capture_stream) cudaStreamDestroy(capture_stream);
  rollout.reset();
  for (DeviceArray<float>* a : {&lower, &upper, &init_mean, &init_std, &color, &mean, &stddev, &pop, &noise, &returns,
                                &weights, &best_return, &elites, &best, &best_val, &shift_tmp, &state, &context,
                                &plan_out, &action_out, &best_out})
    a->allocate(0);
  for (DeviceArray<int>* a : {&order, &sorted, &count, &elite_n}) a->allocate(0);
  keys.allocate(0);
  step.allocate(0);
  if (switched) cudaSetDevice(previous);
}

// One whole plan: begin, I x (sample, score, update), finalize, warm-start shift. No
// argument depends on device data, so the sequence replays as a graph.
void GpuPlanner::Impl::enqueue(cudaStream_t s) {
  kernels::launch_begin(view, s);
  for (int it = 0; it < I; ++it) {
    const int rows = active[it];
    kernels::launch_sample(view, it, rows, s);
    switch (analytic) {
      case Analytic::kPendulum:
        kernels::launch_pendulum(pendulum, state.data(), pop.data(), B, rows, N, H, returns.data(), s);
        break;
      case Analytic::kDiffDrive:
        kernels::launch_diff_drive(diff_drive, state.data(), pop.data(), B, rows, N, H, returns.data(), s);
        break;
      case Analytic::kNone:
        rollout->score(state.data(), C > 0 ? context.data() : nullptr, pop.data(), B, rows, N, H, returns.data(), s);
        break;
    }
    kernels::launch_update(view, rows, s);
  }
  kernels::launch_finalize(view, s);
  if (shift_after > 0) kernels::launch_shift(view, shift_after, s);
}

bool GpuPlanner::Impl::capture() {
  if (cudaStreamBeginCapture(capture_stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void)cudaGetLastError();
    graphs = false;  // plan with direct launches
    return false;
  }
  cudaGraph_t g = nullptr;
  bool ok = true;
  try {
    enqueue(capture_stream);
  } catch (const std::exception&) {
    ok = false;
  }
  const cudaError_t end = cudaStreamEndCapture(capture_stream, &g);
  ok = ok && end == cudaSuccess && g != nullptr;
  if (ok) ok = cudaGraphInstantiate(&graph, g, 0) == cudaSuccess;
  if (g) cudaGraphDestroy(g);
  if (!ok) {
    // Not capturable (e.g. a scorer that synchronizes): plan with direct launches.
    (void)cudaGetLastError();
    graph = nullptr;
    graphs = false;
  }
  return ok;
}

GpuPlanner::GpuPlanner(const OptimizerConfig& config, const ScorerSpec& scorer, int batch, int device,
                       int shift_after_plan)
    : impl_(std::make_unique<Impl>(config, scorer, batch, device, shift_after_plan)) {}

GpuPlanner::~GpuPlanner() = default;

int GpuPlanner::batch() const { return impl_->B; }
int GpuPlanner::state_dim() const { return impl_->S; }
int GpuPlanner::action_dim() const { return impl_->A; }
int GpuPlanner::context_dim() const { return impl_->C; }
int GpuPlanner::horizon() const { return impl_->H; }
int GpuPlanner::samples() const { return impl_->N; }
int GpuPlanner::device() const { return impl_->device; }
std::string GpuPlanner::scorer_name() const { return impl_->scorer_name; }

const GpuPlanResult& GpuPlanner::plan(const float* state, const float* context, void* stream) {
  Impl& m = *impl_;
  require(state != nullptr, "state [B, S] must not be null");
  require(m.C == 0 || context != nullptr, "context [B, C] is required: the scorer takes a context of C=", m.C);
  DeviceGuard guard(m.device);
  require_device_pointer(state, m.device, "state [B, S]");
  if (m.C > 0) require_device_pointer(context, m.device, "context [B, C]");
  const auto s = static_cast<cudaStream_t>(stream);
  // Planner-owned copies: the graph reads fixed addresses whatever the caller passes.
  check(cudaMemcpyAsync(m.state.data(), state, static_cast<std::size_t>(m.B) * m.S * sizeof(float),
                        cudaMemcpyDeviceToDevice, s),
        "cudaMemcpyAsync (state)");
  if (m.C > 0)
    check(cudaMemcpyAsync(m.context.data(), context, static_cast<std::size_t>(m.B) * m.C * sizeof(float),
                          cudaMemcpyDeviceToDevice, s),
          "cudaMemcpyAsync (context)");
  if (m.graph == nullptr && m.graphs && m.plans >= 1) m.capture();
  if (m.graph != nullptr) {
    check(cudaGraphLaunch(m.graph, s), "cudaGraphLaunch");
  } else {
    m.enqueue(s);
  }
  ++m.plans;
  m.last_stream = s;
  m.result.iterations = m.I;
  return m.result;
}

void GpuPlanner::copy_action(float* host, void* stream) {
  Impl& m = *impl_;
  require(host != nullptr, "copy_action: host [B, A] must not be null");
  DeviceGuard guard(m.device);
  const auto s = static_cast<cudaStream_t>(stream);
  check(cudaMemcpyAsync(host, m.action_out.data(), static_cast<std::size_t>(m.B) * m.A * sizeof(float),
                        cudaMemcpyDeviceToHost, s),
        "cudaMemcpyAsync (action)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (action)");
}

void GpuPlanner::shift(int steps) {
  require(steps >= 0, "steps must be >= 0, got ", steps);
  if (steps == 0) return;
  DeviceGuard guard(impl_->device);
  kernels::launch_shift(impl_->view, steps, impl_->last_stream);
}

void GpuPlanner::reset() {
  DeviceGuard guard(impl_->device);
  kernels::launch_reset(impl_->view, -1, impl_->last_stream);
}

void GpuPlanner::reset(int b) {
  require(b >= 0 && b < impl_->B, "problem index b must be in [0, B=", impl_->B, "), got ", b);
  DeviceGuard guard(impl_->device);
  kernels::launch_reset(impl_->view, b, impl_->last_stream);
}

const float* GpuPlanner::last_population() const { return impl_->pop.data(); }
int GpuPlanner::last_population_rows() const { return impl_->active.back(); }
const float* GpuPlanner::last_returns() const { return impl_->returns.data(); }

void GpuPlanner::copy_last_iteration(std::vector<float>& population, std::vector<float>& returns) const {
  const Impl& m = *impl_;
  DeviceGuard guard(m.device);
  check(cudaStreamSynchronize(m.last_stream), "cudaStreamSynchronize (last iteration)");
  population.resize(m.pop.size());
  returns.resize(m.returns.size());
  check(cudaMemcpy(population.data(), m.pop.data(), m.pop.size() * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (population)");
  check(cudaMemcpy(returns.data(), m.returns.data(), m.returns.size() * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (returns)");
}

}  // namespace planner::gpu
