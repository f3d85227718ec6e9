#include "planner/models/context_encoder.h"

#include <algorithm>
#include <climits>

#include "planner/common/errors.h"

namespace planner {

ContextEncoder::ContextEncoder(std::shared_ptr<const WorldModel> model) : model_(std::move(model)) {
  require(model_ != nullptr, "ContextEncoder: model must not be null");
  const WorldModel& m = *model_;
  require(m.has_context_encoder,
          "ContextEncoder: the model file has no context encoder (networks.context_encoder; docs/MODEL_FORMAT.md)");
  embed_width_ = m.context_embed.out_dim();
  for (int a = 0; a < m.action_dim; ++a) {
    const float lo = m.action_low[a], hi = m.action_high[a];
    a_scale_.push_back(2.0f / (hi - lo));
    a_shift_.push_back(-2.0f * lo / (hi - lo) - 1.0f);
  }
}

std::size_t ContextEncoder::scratch_floats(int batch) const {
  const WorldModel& m = *model_;
  const std::size_t B = static_cast<std::size_t>(std::max(batch, 0));
  const std::size_t rows = B * static_cast<std::size_t>(m.history);
  const std::size_t width = 2 * static_cast<std::size_t>(m.obs_dim) + m.action_dim;
  const std::size_t E = embed_width_, C = m.context_dim;
  // The two MLPs run one after the other and share one scratch area (MLP::scratch_floats,
  // computed here in size_t so that a large B * K cannot overflow int).
  const std::size_t mlp = std::max(2 * rows * m.context_embed.max_width(), 2 * B * m.context_head.max_width());
  // x [rows, 2S+A], e [rows, E], MLP scratch, pooled [B, E], head output [B, 2C]
  return rows * width + rows * E + mlp + B * E + B * 2 * C;
}

void ContextEncoder::infer(const float* obs, const float* act, const float* next_obs, const unsigned char* mask,
                           int batch, float* mu, float* scratch) const {
  const WorldModel& m = *model_;
  const int K = m.history, S = m.obs_dim, A = m.action_dim, C = m.context_dim, E = embed_width_;
  require(batch >= 0, "ContextEncoder.infer: batch must be >= 0, got ", batch);
  require(static_cast<long long>(batch) * K <= INT_MAX, "ContextEncoder.infer: B * K = ",
          static_cast<long long>(batch) * K, " transitions exceed one forward pass");
  const std::size_t B = static_cast<std::size_t>(batch), rows = B * K;
  const std::size_t width = 2 * static_cast<std::size_t>(S) + A;
  float* x = scratch;
  float* e = x + rows * width;
  float* mlp = e + rows * E;
  const std::size_t mlp_floats =
      std::max(2 * rows * m.context_embed.max_width(), 2 * B * m.context_head.max_width());
  float* pooled = mlp + mlp_floats;
  float* out = pooled + B * E;

  // Only the valid transitions are packed into x, in (b, k) order: padding is neither
  // computed nor read, so whatever the caller left there (zeros, stale data, NaN)
  // cannot reach mu, and a window at the start of an episode costs what it holds.
  std::size_t n = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    if (!mask[i]) continue;
    const float* s = obs + i * S;
    const float* s1 = next_obs + i * S;
    const float* a = act + i * A;
    float* xi = x + n * width;
    for (int j = 0; j < S; ++j) {
      xi[j] = (s[j] - m.obs_shift[j]) / m.obs_scale[j];
      // The change s' - s is taken before scaling (not as a difference of normalized
      // observations): the format's definition, and exact for small steps.
      xi[S + A + j] = (s1[j] - s[j]) / m.obs_scale[j];
    }
    for (int j = 0; j < A; ++j) xi[S + j] = a[j] * a_scale_[j] + a_shift_[j];
    ++n;
  }
  // One forward for every valid transition of the batch: one GEMM per layer.
  if (n > 0) m.context_embed.forward(x, static_cast<int>(n), e, mlp);

  // Masked mean in a fixed order (k ascending), so the result is reproducible.
  const float* ek = e;
  for (std::size_t b = 0; b < B; ++b) {
    float* p = pooled + b * E;
    std::fill(p, p + E, 0.0f);
    int count = 0;
    for (int k = 0; k < K; ++k) {
      if (!mask[b * K + k]) continue;
      for (int j = 0; j < E; ++j) p[j] += ek[j];
      ek += E;
      ++count;
    }
    if (count > 0)
      for (int j = 0; j < E; ++j) p[j] /= static_cast<float>(count);
  }
  if (B == 0) return;
  m.context_head.forward(pooled, batch, out, mlp);
  for (std::size_t b = 0; b < B; ++b) std::copy(out + b * 2 * C, out + b * 2 * C + C, mu + b * C);
}

}  // namespace planner
