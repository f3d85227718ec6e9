#include "planner/optimizers/icem.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "planner/common/errors.h"

namespace planner {

void colored_noise_matrix(int H, float beta, float* out) {
  // Real Fourier basis of length H: DC, (cos, sin) pairs, and the Nyquist cosine for
  // even H; column scale max(f, 1/H)^(-beta/2), times sqrt(1/2) on the DC and Nyquist
  // columns (they carry no sine partner). Rows are normalized to unit norm, so white
  // inputs give unit-variance outputs; beta = 0 gives exactly white noise.
  const double two_pi = 6.283185307179586476925286766559;
  std::vector<double> m(static_cast<std::size_t>(H) * H, 0.0);
  int col = 0;
  for (int k = 0; k <= H / 2; ++k) {
    const double f = std::max(static_cast<double>(k) / H, 1.0 / H);
    const double pair_scale = std::pow(f, -0.5 * static_cast<double>(beta));
    const bool has_sin = k > 0 && 2 * k != H;
    const double scale = has_sin ? pair_scale : pair_scale * std::sqrt(0.5);
    for (int t = 0; t < H; ++t) {
      m[static_cast<std::size_t>(t) * H + col] = scale * std::cos(two_pi * k * t / H);
      if (has_sin) m[static_cast<std::size_t>(t) * H + col + 1] = scale * std::sin(two_pi * k * t / H);
    }
    col += has_sin ? 2 : 1;
  }
  for (int t = 0; t < H; ++t) {
    double norm = 0.0;
    for (int s = 0; s < H; ++s) norm += m[static_cast<std::size_t>(t) * H + s] * m[static_cast<std::size_t>(t) * H + s];
    norm = std::sqrt(norm);
    for (int s = 0; s < H; ++s)
      out[static_cast<std::size_t>(t) * H + s] = static_cast<float>(m[static_cast<std::size_t>(t) * H + s] / norm);
  }
}

ICEM::ICEM(const OptimizerConfig& c, int batch, int action_dim) : CEM(c, batch, action_dim) {
  require(c.noise_beta >= 0.0f && std::isfinite(c.noise_beta), "noise_beta must be finite and >= 0, got ",
          c.noise_beta);
  require(c.pop_decay >= 1.0f && std::isfinite(c.pop_decay), "pop_decay must be >= 1, got ", c.pop_decay);
  require(c.keep_elites >= 0.0f && c.keep_elites <= 1.0f, "keep_elites must be in [0, 1], got ", c.keep_elites);
  require(2 * c.elites <= c.samples, "iCEM needs samples (N) >= 2 * elites (K); got N=", c.samples,
          " K=", c.elites);
  color_.resize(static_cast<std::size_t>(H_) * H_);
  colored_noise_matrix(H_, c.noise_beta, color_.data());
  elites_.resize(static_cast<std::size_t>(B_) * c.elites * HA_);
  elite_n_.resize(B_);
  best_.resize(static_cast<std::size_t>(B_) * HA_);
  best_val_.resize(B_);
  on_reset();
  on_begin();
}

int ICEM::kept() const { return static_cast<int>(std::floor(cfg_.keep_elites * static_cast<float>(cfg_.elites))); }

int ICEM::population_size(int i) const {
  const double n = std::floor(static_cast<double>(N_) * std::pow(static_cast<double>(cfg_.pop_decay), -i));
  return std::min(N_, std::max(static_cast<int>(n), 2 * cfg_.elites));
}

int ICEM::reserved_rows() const { return kept() + (cfg_.add_mean ? 1 : 0); }

int ICEM::fill_fixed_rows(int b, int r0, int limit) {
  int r = r0;
  const bool carry = iter_ > 0 || cfg_.shift_elites;
  if (carry) {
    const int n = std::min({kept(), elite_n_[b], limit});
    for (int e = 0; e < n; ++e, ++r) {
      const float* src = elites_.data() + (static_cast<std::size_t>(b) * cfg_.elites + e) * HA_;
      std::copy(src, src + HA_, row(b, r));
    }
  }
  if (cfg_.add_mean && iter_ == cfg_.iterations - 1 && r - r0 < limit) {
    const float* m = mean_.data() + static_cast<std::size_t>(b) * HA_;
    std::copy(m, m + HA_, row(b, r));
    clip_row(row(b, r));
    ++r;
  }
  return r - r0;
}

void ICEM::sample_rows(int b, int n0, int n1, float* scratch) {
  n0 = std::max(n0, fixed_rows_[b]);
  if (n1 <= n0) return;
  float* out = row(b, n0);
  fill_normal(stream(b), static_cast<std::uint64_t>(n0) * HA_, static_cast<std::size_t>(n1 - n0) * HA_, out);
  const float* M = color_.data();
  for (int n = n0; n < n1; ++n) {
    float* r = row(b, n);
    std::copy(r, r + HA_, scratch);
    std::fill(r, r + HA_, 0.0f);
    for (int t = 0; t < H_; ++t)
      for (int s = 0; s < H_; ++s) {
        const float w = M[t * H_ + s];
        for (int a = 0; a < A_; ++a) r[t * A_ + a] += w * scratch[s * A_ + a];
      }
  }
  finish_rows(b, n0, n1);
}

void ICEM::update_problem(int b, const float* R, int* ord, int finite) {
  const int k = std::min(cfg_.elites, finite);
  sort_top(R, ord, finite, k);
  fit_elites(b, ord, k);
  blend(b, fit_mean_.data(), fit_std_.data());
  for (int e = 0; e < k; ++e) {
    const float* src = row(b, ord[e]);
    std::copy(src, src + HA_, elites_.data() + (static_cast<std::size_t>(b) * cfg_.elites + e) * HA_);
  }
  elite_n_[b] = k;
  if (R[ord[0]] > best_val_[b]) {
    best_val_[b] = R[ord[0]];
    const float* src = row(b, ord[0]);
    std::copy(src, src + HA_, best_.data() + static_cast<std::size_t>(b) * HA_);
  }
}

void ICEM::on_shift(int k) {
  for (int b = 0; b < B_; ++b) {
    const float* m = mean_.data() + static_cast<std::size_t>(b) * HA_;  // already shifted
    for (int e = 0; e < elite_n_[b]; ++e) {
      float* r = elites_.data() + (static_cast<std::size_t>(b) * cfg_.elites + e) * HA_;
      std::copy(r + k * A_, r + HA_, r);
      std::copy(m + (H_ - k) * A_, m + HA_, r + (H_ - k) * A_);
    }
  }
}

void ICEM::on_reset() {
  for (int b = 0; b < B_; ++b) elite_n_[b] = 0;
}

void ICEM::on_begin() {
  // Until a sample scores finite, the plan to execute is the warm-started mean.
  std::copy(mean_.data(), mean_.data() + mean_.size(), best_.data());
  for (int b = 0; b < B_; ++b) best_val_[b] = -std::numeric_limits<float>::infinity();
}

}  // namespace planner
