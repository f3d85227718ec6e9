// Model predictive path integral control: exponentially weighted mean of the samples,
// weights exp((R - max R) / temperature), optionally over the top-k only (TD-MPC2) and
// optionally refitting std from the same weights.
#pragma once

#include "planner/optimizers/optimizer.h"

namespace planner {

class MPPI : public Optimizer {
 public:
  MPPI(const OptimizerConfig& config, int batch, int action_dim);

 protected:
  void update_problem(int b, const float* returns, int* order, int finite) override;

 private:
  Buffer<float> weights_;  // [N]
};

}  // namespace planner
