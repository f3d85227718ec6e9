#include "planner/optimizers/cem.h"

#include <algorithm>
#include <cmath>

#include "planner/common/errors.h"

namespace planner {

CEM::CEM(const OptimizerConfig& c, int batch, int action_dim) : Optimizer(c, batch, action_dim) {
  require(c.elites >= 1 && c.elites <= c.samples, "elites (K) must be in [1, samples=", c.samples, "], got ",
          c.elites);
}

void CEM::fit_elites(int b, const int* order, int k) {
  float* m = fit_mean_.data();
  float* s = fit_std_.data();
  std::fill(m, m + HA_, 0.0f);
  std::fill(s, s + HA_, 0.0f);
  for (int e = 0; e < k; ++e) {
    const float* r = row(b, order[e]);
    for (int j = 0; j < HA_; ++j) m[j] += r[j];
  }
  const float inv = 1.0f / static_cast<float>(k);
  for (int j = 0; j < HA_; ++j) m[j] *= inv;
  for (int e = 0; e < k; ++e) {
    const float* r = row(b, order[e]);
    for (int j = 0; j < HA_; ++j) {
      const float d = r[j] - m[j];
      s[j] += d * d;
    }
  }
  for (int j = 0; j < HA_; ++j) s[j] = std::sqrt(s[j] * inv);
}

void CEM::update_problem(int b, const float* R, int* ord, int finite) {
  const int k = std::min(cfg_.elites, finite);
  sort_top(R, ord, finite, k);
  fit_elites(b, ord, k);
  blend(b, fit_mean_.data(), fit_std_.data());
}

}  // namespace planner
