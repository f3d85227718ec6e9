#include "backend/backend.h"

#include "planner/common/errors.h"

namespace planner::backend {

bool cuda_available() { return false; }

std::string name() { return "none"; }

std::string build_summary() {
  return cat("latent-planner ", PLANNER_VERSION, ", compiler ", __VERSION__, ", backend none, simd ", simd_name());
}

}  // namespace planner::backend
