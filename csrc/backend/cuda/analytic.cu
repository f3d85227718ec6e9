// Analytic scorers on the GPU: the math of planner/scorers/pendulum.cpp and
// diff_drive.cpp, operation for operation (compiled with -fmad=false, so the returns
// equal the CPU's bit for bit on the same actions).
//
// One thread per row keeps the whole rollout in registers. The block's action rows are
// staged through shared memory a few steps at a time: the global loads are coalesced
// (each row's chunk is contiguous) and the per-thread reads are conflict-free.
#include "backend/cuda/device_check.h"
#include "backend/cuda/device_math.cuh"
#include "backend/cuda/kernels.h"

namespace planner::gpu::kernels {
namespace {

constexpr int kRows = 128;   // rows (threads) per block
constexpr int kWidth = 32;   // floats of each row staged per chunk

struct Pendulum {
  static constexpr int kS = 2, kA = 1;
  PendulumParams p;
  float th, thd;
  __device__ void init(const float* s) {
    th = s[0];
    thd = s[1];
  }
  // Reward on the state before the step, then the step (Pendulum::score).
  __device__ float step(const float* u, float ret) {
    const float a = dm::clamp(u[0], -p.max_torque, p.max_torque);
    const float w = dm::wrap_angle(th);
    ret -= w * w + 0.1f * thd * thd + 0.001f * a * a;
    float v = thd + (p.k_sin * dm::sin(th) + p.k_u * a) * p.dt;
    v = dm::clamp(v, -p.max_speed, p.max_speed);
    th += v * p.dt;
    thd = v;
    return ret;
  }
};

struct DiffDrive {
  static constexpr int kS = 3, kA = 2;
  DiffDriveParams p;
  float x, y, yaw;
  __device__ void init(const float* s) {
    x = s[0];
    y = s[1];
    yaw = s[2];
  }
  // The step, then the reward on the state after it (DiffDrive::score).
  __device__ float step(const float* u, float ret) {
    const float wl = dm::clamp(u[0], -p.umax, p.umax);
    const float wr = dm::clamp(u[1], -p.umax, p.umax);
    const float v = 0.5f * p.r * (wl + wr);
    const float w = __fdiv_rn(p.r * (wr - wl), p.track);
    x += v * dm::cos(yaw) * p.dt;
    y += v * dm::sin(yaw) * p.dt;
    yaw += w * p.dt;
    const float dx = x - p.gx, dy = y - p.gy;
    const float dyaw = dm::wrap_angle(yaw - p.gyaw);
    const float ox = x - p.ox, oy = y - p.oy;
    const float hit = (ox * ox + oy * oy < p.orad2) ? p.ocost : 0.0f;
    ret -= dx * dx + dy * dy + p.yw * dyaw * dyaw + p.aw * (wl * wl + wr * wr) + hit;
    return ret;
  }
};

template <class Model>
__global__ void __launch_bounds__(kRows) analytic_kernel(Model model, const float* __restrict__ state,
                                                         const float* __restrict__ actions, int rows, int row_stride,
                                                         int H, float* __restrict__ returns) {
  constexpr int kA = Model::kA;
  constexpr int kSteps = kWidth / kA;  // steps per chunk
  constexpr int kW = kSteps * kA;      // floats per row per chunk
  constexpr int kPitch = kW + 1;       // +1: conflict-free per-thread reads
  __shared__ float tile[kRows * kPitch];
  const int b = blockIdx.y;
  const int r0 = blockIdx.x * kRows;
  const int row = r0 + threadIdx.x;
  const int HA = H * kA;
  const float* block_actions = actions + (static_cast<std::size_t>(b) * row_stride + r0) * HA;
  const int block_rows = min(kRows, rows - r0);
  model.init(state + static_cast<std::size_t>(b) * Model::kS);
  float ret = 0.0f;
  for (int t0 = 0; t0 < H; t0 += kSteps) {
    const int steps = min(kSteps, H - t0);
    const int width = steps * kA;
    __syncthreads();  // the previous chunk has been consumed
    for (int i = threadIdx.x; i < block_rows * kW; i += kRows) {
      const int r = i / kW, c = i - r * kW;
      if (c < width) tile[r * kPitch + c] = block_actions[static_cast<std::size_t>(r) * HA + t0 * kA + c];
    }
    __syncthreads();
    if (row < rows) {
      const float* u = tile + threadIdx.x * kPitch;
      for (int t = 0; t < steps; ++t) ret = model.step(u + t * kA, ret);
    }
  }
  if (row < rows) returns[static_cast<std::size_t>(b) * row_stride + row] = ret;
}

template <class Model>
void launch(const Model& model, const float* state, const float* actions, int batch, int rows, int row_stride,
            int horizon, float* returns, cudaStream_t stream, const char* name) {
  const dim3 grid(static_cast<unsigned>((rows + kRows - 1) / kRows), static_cast<unsigned>(batch));
  analytic_kernel<Model><<<grid, kRows, 0, stream>>>(model, state, actions, rows, row_stride, horizon, returns);
  check_launch(name);
}

}  // namespace

void launch_pendulum(const PendulumParams& p, const float* state, const float* actions, int batch, int rows,
                     int row_stride, int horizon, float* returns, cudaStream_t stream) {
  launch(Pendulum{p, 0.0f, 0.0f}, state, actions, batch, rows, row_stride, horizon, returns, stream,
         "analytic_kernel<Pendulum>");
}

void launch_diff_drive(const DiffDriveParams& p, const float* state, const float* actions, int batch, int rows,
                       int row_stride, int horizon, float* returns, cudaStream_t stream) {
  launch(DiffDrive{p, 0.0f, 0.0f, 0.0f}, state, actions, batch, rows, row_stride, horizon, returns, stream,
         "analytic_kernel<DiffDrive>");
}

}  // namespace planner::gpu::kernels
