#include "planner/common/errors.h"
#include "planner/optimizers/cem.h"
#include "planner/optimizers/icem.h"
#include "planner/optimizers/mppi.h"

namespace planner {

std::vector<std::string> optimizer_names() { return {"cem", "icem", "mppi"}; }

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c, int batch, int action_dim) {
  if (c.name == "cem") return std::make_unique<CEM>(c, batch, action_dim);
  if (c.name == "icem") return std::make_unique<ICEM>(c, batch, action_dim);
  if (c.name == "mppi") return std::make_unique<MPPI>(c, batch, action_dim);
  throw_value_error("optimizer: unknown name '", c.name, "'; expected one of cem, icem, mppi");
}

}  // namespace planner
