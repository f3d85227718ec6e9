// Cross-entropy method: refit a diagonal Gaussian to the K best samples.
#pragma once

#include "planner/optimizers/optimizer.h"

namespace planner {

class CEM : public Optimizer {
 public:
  CEM(const OptimizerConfig& config, int batch, int action_dim);

 protected:
  void update_problem(int b, const float* returns, int* order, int finite) override;
  // Elite mean and population std of rows order[0, k) of problem b into fit_mean_/fit_std_.
  void fit_elites(int b, const int* order, int k);
};

}  // namespace planner
