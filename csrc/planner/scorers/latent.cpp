#include "planner/scorers/latent.h"

#include <algorithm>
#include <cmath>

#include "planner/common/errors.h"

namespace planner {

LatentScorer::LatentScorer(std::shared_ptr<const WorldModel> model, LatentOptions options)
    : model_(std::move(model)), options_(options) {
  require(model_ != nullptr, "LatentScorer: model must not be null");
  require(options.disagreement >= 0.0f && std::isfinite(options.disagreement),
          "disagreement must be finite and >= 0, got ", options.disagreement);
  const WorldModel& m = *model_;
  int widest = 0;
  auto visit = [&](const Network& n) {
    step_width_ = std::max(step_width_, m.input_width(n.inputs));
    widest = std::max(widest, n.mlp.max_width());
  };
  visit(m.encoder);
  for (const auto& n : m.dynamics) visit(n);
  for (const auto& n : m.reward) visit(n);
  if (m.has_value) visit(m.value);
  mlp_scratch_ = 2 * widest;
  for (int a = 0; a < m.action_dim; ++a) {
    const float lo = m.action_low[a], hi = m.action_high[a];
    a_scale_.push_back(2.0f / (hi - lo));
    a_shift_.push_back(-2.0f * lo / (hi - lo) - 1.0f);
  }
}

void LatentScorer::default_bounds(float* lower, float* upper) const {
  for (int a = 0; a < model_->action_dim; ++a) {
    lower[a] = model_->action_low[a];
    upper[a] = model_->action_high[a];
  }
}

std::size_t LatentScorer::scratch_floats(int rows, int) const {
  const std::size_t R = static_cast<std::size_t>(rows), Z = model_->latent_dim;
  // z, z_next (ensemble sum), z_sq (spread), one member output, input, a_n, rewards x2, MLP scratch
  return R * (4 * Z + step_width_ + model_->action_dim + 2 + mlp_scratch_) + model_->obs_dim + Z + 64;
}

void LatentScorer::build_input(const Network& net, const float* z, const float* a_n, const float* c, int rows,
                               float* x) const {
  const WorldModel& m = *model_;
  const int width = m.input_width(net.inputs);
  for (int r = 0; r < rows; ++r) {
    float* dst = x + static_cast<std::size_t>(r) * width;
    for (Input in : net.inputs) {
      switch (in) {
        case Input::kZ:
          std::copy(z + static_cast<std::size_t>(r) * m.latent_dim, z + static_cast<std::size_t>(r + 1) * m.latent_dim, dst);
          dst += m.latent_dim;
          break;
        case Input::kA:
          std::copy(a_n + static_cast<std::size_t>(r) * m.action_dim, a_n + static_cast<std::size_t>(r + 1) * m.action_dim,
                    dst);
          dst += m.action_dim;
          break;
        case Input::kC:
          std::copy(c, c + m.context_dim, dst);
          dst += m.context_dim;
          break;
        case Input::kObs:
          break;  // only the encoder reads obs; it is built separately
      }
    }
  }
}

void LatentScorer::score(const float* obs, const float* context, const float* actions, int rows, int H,
                         float* returns, float* scratch) const {
  rollout(obs, context, actions, rows, H, returns, scratch, nullptr);
}

void LatentScorer::encode(const float* obs, int rows, float* latents, float* scratch) const {
  const WorldModel& m = *model_;
  const int S = m.obs_dim;
  float* obs_n = scratch;
  float* mlp = scratch + S;
  for (int r = 0; r < rows; ++r) {
    for (int s = 0; s < S; ++s)
      obs_n[s] = (obs[static_cast<std::size_t>(r) * S + s] - m.obs_shift[s]) / m.obs_scale[s];
    m.encoder.mlp.forward(obs_n, 1, latents + static_cast<std::size_t>(r) * m.latent_dim, mlp);
  }
}

void LatentScorer::rollout(const float* obs, const float* context, const float* actions, int rows, int H,
                           float* returns, float* scratch, float* latents) const {
  const WorldModel& m = *model_;
  const int Z = m.latent_dim, A = m.action_dim, S = m.obs_dim, M = m.ensemble;
  const std::size_t R = static_cast<std::size_t>(rows);
  float* z = scratch;
  float* znext = z + R * Z;
  float* zsq = znext + R * Z;
  float* member = zsq + R * Z;
  float* x = member + R * Z;
  float* a_n = x + R * step_width_;
  float* r_sum = a_n + R * A;
  float* r_one = r_sum + R;
  float* mlp = r_one + R;
  float* obs_n = mlp + R * mlp_scratch_;
  float* z0 = obs_n + S;

  // Encode once and broadcast: every row starts from the same observation.
  for (int s = 0; s < S; ++s) obs_n[s] = (obs[s] - m.obs_shift[s]) / m.obs_scale[s];
  m.encoder.mlp.forward(obs_n, 1, z0, mlp);
  for (std::size_t r = 0; r < R; ++r) std::copy(z0, z0 + Z, z + r * Z);
  std::fill(returns, returns + rows, 0.0f);
  // latents [rows, H + 1, Z]: the ensemble-mean latent at every step, z0 first.
  auto record = [&](int t, const float* zt) {
    if (latents == nullptr) return;
    for (std::size_t r = 0; r < R; ++r)
      std::copy(zt + r * Z, zt + (r + 1) * Z, latents + (r * (H + 1) + t) * Z);
  };
  record(0, z);

  const float invM = 1.0f / static_cast<float>(M);
  const bool spread = options_.disagreement > 0.0f && M > 1;
  float disc = 1.0f;
  for (int t = 0; t < H; ++t) {
    for (std::size_t r = 0; r < R; ++r)
      for (int a = 0; a < A; ++a)
        a_n[r * A + a] = actions[(r * H + t) * A + a] * a_scale_[a] + a_shift_[a];
    std::fill(znext, znext + R * Z, 0.0f);
    std::fill(r_sum, r_sum + R, 0.0f);
    if (spread) std::fill(zsq, zsq + R * Z, 0.0f);
    for (int k = 0; k < M; ++k) {
      build_input(m.dynamics[k], z, a_n, context, rows, x);
      float* out = M == 1 ? znext : member;
      m.dynamics[k].mlp.forward(x, rows, out, mlp);
      if (M > 1)
        for (std::size_t i = 0; i < R * Z; ++i) {
          znext[i] += member[i];
          if (spread) zsq[i] += member[i] * member[i];
        }
      if (m.reward[k].inputs != m.dynamics[k].inputs)
        build_input(m.reward[k], z, a_n, context, rows, x);
      m.reward[k].mlp.forward(x, rows, r_one, mlp);
      for (std::size_t r = 0; r < R; ++r) r_sum[r] += r_one[r];
    }
    for (std::size_t r = 0; r < R; ++r)
      returns[r] += disc * (r_sum[r] * invM * m.reward_scale + m.reward_shift);
    if (M > 1) {
      if (spread) {
        for (std::size_t r = 0; r < R; ++r) {
          float s = 0.0f;
          for (int i = 0; i < Z; ++i) {
            const float mean = znext[r * Z + i] * invM;
            const float var = zsq[r * Z + i] * invM - mean * mean;
            s += std::sqrt(var > 0.0f ? var : 0.0f);
          }
          returns[r] -= options_.disagreement * disc * s / static_cast<float>(Z);
        }
      }
      for (std::size_t i = 0; i < R * Z; ++i) znext[i] *= invM;
    }
    std::swap(z, znext);
    record(t + 1, z);
    disc *= m.discount;
  }
  if (m.has_value && options_.terminal_value) {
    build_input(m.value, z, a_n, context, rows, x);
    m.value.mlp.forward(x, rows, r_one, mlp);
    for (std::size_t r = 0; r < R; ++r) returns[r] += disc * (r_one[r] * m.value_scale + m.value_shift);
  }
}

}  // namespace planner
