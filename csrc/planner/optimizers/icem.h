// iCEM (Pinneri et al., CoRL 2020): CEM with temporally colored noise (PSD ~ 1/f^beta),
// a population that shrinks by `pop_decay` each iteration, a fraction of the elites
// carried into the next iteration and (shifted) into the next control step, and the
// mean added as a candidate in the last iteration. Executes the best sample seen.
#pragma once

#include "planner/optimizers/cem.h"

namespace planner {

class ICEM : public CEM {
 public:
  ICEM(const OptimizerConfig& config, int batch, int action_dim);

  void sample_rows(int b, int n0, int n1, float* scratch) override;
  std::size_t scratch_floats() const override { return static_cast<std::size_t>(HA_); }
  const float* solution() const override { return best_.data(); }
  // Coloring matrix [H, H]: colored[t] = sum_s M[t, s] * white[s], unit variance per t.
  const float* coloring() const { return color_.data(); }

 protected:
  int population_size(int i) const override;
  int reserved_rows() const override;
  int fill_fixed_rows(int b, int row, int limit) override;
  void update_problem(int b, const float* returns, int* order, int finite) override;
  void on_shift(int steps) override;
  void on_reset() override;
  void on_reset_problem(int b) override { elite_n_[b] = 0; }
  void on_begin() override;

 private:
  int kept() const;
  Buffer<float> color_;     // [H, H]
  Buffer<float> elites_;    // [B, K, H, A], best first
  Buffer<int> elite_n_;     // [B]
  Buffer<float> best_;      // [B, H, A]
  Buffer<float> best_val_;  // [B]
};

// The iCEM coloring matrix for horizon H and exponent beta (row-major [H, H]).
void colored_noise_matrix(int horizon, float beta, float* out);

}  // namespace planner
