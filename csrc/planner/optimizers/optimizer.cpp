#include "planner/optimizers/optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/common/errors.h"

namespace planner {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Reads a per-dimension vector given with 0 (default), 1 (broadcast) or A values.
void per_dim(const std::vector<float>& v, int A, float fallback, const char* name, float* out) {
  require(v.empty() || v.size() == 1 || static_cast<int>(v.size()) == A, name,
          " must have 1 or A=", A, " values, got ", v.size());
  for (int a = 0; a < A; ++a) out[a] = v.empty() ? fallback : (v.size() == 1 ? v[0] : v[a]);
}

}  // namespace

Optimizer::Optimizer(const OptimizerConfig& c, int batch, int action_dim)
    : cfg_(c), B_(batch), N_(c.samples), H_(c.horizon), A_(action_dim), HA_(c.horizon * action_dim) {
  require(batch >= 1, "batch (B) must be >= 1, got ", batch);
  require(action_dim >= 1, "action_dim (A) must be >= 1, got ", action_dim);
  require(c.samples >= 1, "samples (N) must be >= 1, got ", c.samples);
  require(c.horizon >= 1, "horizon (H) must be >= 1, got ", c.horizon);
  require(c.iterations >= 1, "iterations (I) must be >= 1, got ", c.iterations);
  require(c.momentum >= 0.0f && c.momentum < 1.0f, "momentum must be in [0, 1), got ", c.momentum);
  require(c.min_std >= 0.0f && std::isfinite(c.min_std), "min_std must be finite and >= 0, got ", c.min_std);
  require(c.max_std >= c.min_std, "max_std must be >= min_std, got max_std=", c.max_std,
          " min_std=", c.min_std);
  require(static_cast<long long>(B_) * N_ * HA_ < (1LL << 34), "B*N*H*A too large: ",
          static_cast<long long>(B_) * N_ * HA_);

  lower_.resize(A_);
  upper_.resize(A_);
  init_mean_.resize(A_);
  init_std_.resize(A_);
  per_dim(c.lower, A_, -kInf, "lower", lower_.data());
  per_dim(c.upper, A_, kInf, "upper", upper_.data());
  for (int a = 0; a < A_; ++a) {
    require(!std::isnan(lower_[a]) && !std::isnan(upper_[a]), "lower/upper [A] must not be NaN (dim ", a, ")");
    require(lower_[a] <= upper_[a], "lower [A] must be <= upper [A]; dim ", a, " has lower=", lower_[a],
            " > upper=", upper_[a]);
  }
  Buffer<float> mid(A_), half(A_);
  for (int a = 0; a < A_; ++a) {
    const bool finite = std::isfinite(lower_[a]) && std::isfinite(upper_[a]);
    mid[a] = finite ? 0.5f * (lower_[a] + upper_[a]) : 0.0f;
    half[a] = finite ? 0.5f * (upper_[a] - lower_[a]) : 1.0f;
  }
  per_dim(c.init_mean, A_, 0.0f, "init_mean", init_mean_.data());
  if (c.init_mean.empty()) std::copy(mid.data(), mid.data() + A_, init_mean_.data());
  per_dim(c.init_std, A_, 0.0f, "init_std", init_std_.data());
  if (c.init_std.empty()) std::copy(half.data(), half.data() + A_, init_std_.data());
  for (int a = 0; a < A_; ++a) {
    require(std::isfinite(init_mean_[a]), "init_mean [A] must be finite (dim ", a, ")");
    require(std::isfinite(init_std_[a]) && init_std_[a] >= 0.0f, "init_std [A] must be finite and >= 0, dim ",
            a, " is ", init_std_[a]);
  }

  lower_ha_.resize(HA_);
  upper_ha_.resize(HA_);
  for (int j = 0; j < HA_; ++j) {
    lower_ha_[j] = lower_[j % A_];
    upper_ha_[j] = upper_[j % A_];
  }
  mean_.resize(static_cast<std::size_t>(B_) * HA_);
  std_.resize(static_cast<std::size_t>(B_) * HA_);
  pop_.resize(static_cast<std::size_t>(B_) * N_ * HA_);
  fit_mean_.resize(HA_);
  fit_std_.resize(HA_);
  order_.resize(N_);
  best_return_.resize(B_);
  fixed_rows_.resize(B_);
  nonfinite_.resize(B_);
  reset();
}

void Optimizer::reset() {
  for (int b = 0; b < B_; ++b)
    for (int j = 0; j < HA_; ++j) {
      mean_[b * HA_ + j] = init_mean_[j % A_];
      std_[b * HA_ + j] = init_std_[j % A_];
    }
  step_ = 0;
  P_ = 0;
  on_reset();
  begin();
}

void Optimizer::reset_problem(int b) {
  require(b >= 0 && b < B_, "problem index b must be in [0, B=", B_, "), got ", b);
  for (int j = 0; j < HA_; ++j) {
    mean_[b * HA_ + j] = init_mean_[j % A_];
    std_[b * HA_ + j] = init_std_[j % A_];
  }
  on_reset_problem(b);
}

void Optimizer::begin() {
  iter_ = 0;
  active_ = 0;
  fixed_rows_.fill(0);
  for (int b = 0; b < B_; ++b) {
    best_return_[b] = -kInf;
    nonfinite_[b] = 0;
  }
  on_begin();
}

void Optimizer::shift(int steps) {
  require(steps >= 0, "steps must be >= 0, got ", steps);
  if (steps == 0) return;
  const int k = std::min(steps, H_);
  for (int b = 0; b < B_; ++b) {
    float* m = mean_.data() + static_cast<std::size_t>(b) * HA_;
    std::copy(m + k * A_, m + HA_, m);
    for (int j = (H_ - k) * A_; j < HA_; ++j) m[j] = init_mean_[j % A_];
    float* s = std_.data() + static_cast<std::size_t>(b) * HA_;
    for (int j = 0; j < HA_; ++j) s[j] = init_std_[j % A_];
  }
  ++step_;
  P_ = 0;
  on_shift(k);
  begin();
}

int Optimizer::population_size(int) const { return N_; }
int Optimizer::fill_fixed_rows(int, int, int) { return 0; }

int Optimizer::max_candidates() const {
  int room = N_;
  for (int i = 0; i < cfg_.iterations; ++i) room = std::min(room, population_size(i));
  return std::max(room - reserved_rows() - 1, 0);
}

void Optimizer::set_candidates(const float* candidates, int count) {
  require(count >= 0, "candidates count P must be >= 0, got ", count);
  require(count <= max_candidates(), "candidates [B, P, H, A]: P=", count,
          " leaves no room for samples; at most ", max_candidates(), " for this optimizer");
  cand_.resize(static_cast<std::size_t>(B_) * count * HA_);
  if (count > 0) std::copy(candidates, candidates + cand_.size(), cand_.data());
  for (std::size_t i = 0; i < cand_.size(); ++i) {
    const int a = static_cast<int>(i % A_);
    cand_[i] = std::clamp(cand_[i], lower_[a], upper_[a]);
  }
  P_ = count;
}

int Optimizer::prepare() {
  active_ = std::min(population_size(iter_), N_);
  for (int b = 0; b < B_; ++b) {
    const int p = std::min(P_, active_);
    std::copy(cand_.data() + static_cast<std::size_t>(b) * P_ * HA_,
              cand_.data() + (static_cast<std::size_t>(b) * P_ + p) * HA_, row(b, 0));
    fixed_rows_[b] = std::min(p + fill_fixed_rows(b, p, active_ - p), active_);
  }
  return active_;
}

NormalStream Optimizer::stream(int b, int redraw) const {
  return NormalStream{cfg_.seed, static_cast<std::uint32_t>(b),
                      (static_cast<std::uint32_t>(iter_) & 0xffffffu) | (static_cast<std::uint32_t>(redraw) << 24),
                      step_};
}

void Optimizer::clip_row(float* r) const {
  for (int j = 0; j < HA_; ++j) r[j] = std::clamp(r[j], lower_ha_[j], upper_ha_[j]);
}

void Optimizer::finish_rows(int b, int n0, int n1) {
  const float* mu = mean_.data() + static_cast<std::size_t>(b) * HA_;
  const float* sd = std_.data() + static_cast<std::size_t>(b) * HA_;
  const float* lo = lower_ha_.data();
  const float* hi = upper_ha_.data();
  for (int n = n0; n < n1; ++n) {
    float* r = row(b, n);
    if (cfg_.sampling == Sampling::kTruncated) {
      // Redraw values outside the box from later streams; rare, so scalar.
      for (int j = 0; j < HA_; ++j) {
        float v = mu[j] + sd[j] * r[j];
        for (int redraw = 1; redraw <= kMaxRedraws && (v < lo[j] || v > hi[j]); ++redraw) {
          v = mu[j] + sd[j] * normal_at(stream(b, redraw), static_cast<std::uint64_t>(n) * HA_ + j);
        }
        r[j] = v;
      }
    } else {
      for (int j = 0; j < HA_; ++j) r[j] = mu[j] + sd[j] * r[j];
    }
    for (int j = 0; j < HA_; ++j) r[j] = std::clamp(r[j], lo[j], hi[j]);
  }
}

void Optimizer::sample_rows(int b, int n0, int n1, float*) {
  n0 = std::max(n0, fixed_rows_[b]);
  if (n1 <= n0) return;
  float* out = row(b, n0);
  fill_normal(stream(b), static_cast<std::uint64_t>(n0) * HA_, static_cast<std::size_t>(n1 - n0) * HA_, out);
  finish_rows(b, n0, n1);
}

void Optimizer::blend(int b, const float* fm_, const float* fs) {
  float* m = mean_.data() + static_cast<std::size_t>(b) * HA_;
  float* s = std_.data() + static_cast<std::size_t>(b) * HA_;
  const float mo = cfg_.momentum, keep = 1.0f - cfg_.momentum;
  for (int j = 0; j < HA_; ++j) {
    m[j] = mo * m[j] + keep * fm_[j];
    s[j] = std::clamp(mo * s[j] + keep * fs[j], cfg_.min_std, cfg_.max_std);
  }
}

void Optimizer::sort_top(const float* R, int* order, int finite, int k) {
  std::partial_sort(order, order + k, order + finite,
                    [R](int x, int y) { return R[x] > R[y] || (R[x] == R[y] && x < y); });
}

void Optimizer::update(const float* returns, int stride) {
  require(active_ > 0, "update() called before prepare()/ask()");
  for (int b = 0; b < B_; ++b) {
    const float* R = returns + static_cast<std::size_t>(b) * stride;
    int finite = 0;
    float best = -kInf;
    for (int n = 0; n < active_; ++n) {
      if (std::isfinite(R[n])) {
        order_[finite++] = n;
        best = std::max(best, R[n]);
      }
    }
    nonfinite_[b] += active_ - finite;
    if (finite == 0) continue;
    best_return_[b] = std::max(best_return_[b], best);
    update_problem(b, R, order_.data(), finite);
  }
  ++iter_;
}

}  // namespace planner
