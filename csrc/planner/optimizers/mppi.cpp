#include "planner/optimizers/mppi.h"

#include <algorithm>
#include <cmath>

#include "planner/common/errors.h"
#include "planner/common/fastmath.h"

namespace planner {

MPPI::MPPI(const OptimizerConfig& c, int batch, int action_dim) : Optimizer(c, batch, action_dim) {
  require(c.temperature > 0.0f && std::isfinite(c.temperature), "temperature must be finite and > 0, got ",
          c.temperature);
  require(c.top_k >= 0 && c.top_k <= c.samples, "top_k must be in [0, samples=", c.samples, "], got ", c.top_k);
  weights_.resize(c.samples);
}

void MPPI::update_problem(int b, const float* R, int* ord, int finite) {
  int k = finite;
  if (cfg_.top_k > 0) {
    k = std::min(cfg_.top_k, finite);
    sort_top(R, ord, finite, k);
  }
  float best = R[ord[0]];
  for (int e = 1; e < k; ++e) best = std::max(best, R[ord[e]]);
  float total = 0.0f;
  for (int e = 0; e < k; ++e) {
    weights_[e] = fm::exp((R[ord[e]] - best) / cfg_.temperature);
    total += weights_[e];
  }
  const float inv = 1.0f / total;  // total >= 1: the best sample has weight 1
  float* m = fit_mean_.data();
  std::fill(m, m + HA_, 0.0f);
  for (int e = 0; e < k; ++e) {
    const float w = weights_[e] * inv;
    const float* r = row(b, ord[e]);
    for (int j = 0; j < HA_; ++j) m[j] += w * r[j];
  }
  float* s = fit_std_.data();
  if (cfg_.adapt_std) {
    std::fill(s, s + HA_, 0.0f);
    for (int e = 0; e < k; ++e) {
      const float w = weights_[e] * inv;
      const float* r = row(b, ord[e]);
      for (int j = 0; j < HA_; ++j) {
        const float d = r[j] - m[j];
        s[j] += w * (d * d);
      }
    }
    for (int j = 0; j < HA_; ++j) s[j] = std::sqrt(s[j]);
    blend(b, m, s);
  } else {
    float* mean = mean_.data() + static_cast<std::size_t>(b) * HA_;
    const float mo = cfg_.momentum, keep = 1.0f - cfg_.momentum;
    for (int j = 0; j < HA_; ++j) mean[j] = mo * mean[j] + keep * m[j];
  }
}

}  // namespace planner
