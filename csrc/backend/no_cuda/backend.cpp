#include "backend/backend.h"

#include "planner/common/errors.h"

namespace planner::backend {

bool cuda_available() { return false; }

std::string name() { return "none"; }

std::string build_summary() {
  return cat("latent-planner ", PLANNER_VERSION, ", compiler ", __VERSION__, ", backend none",
#if defined(__AVX512F__)
             ", simd avx512"
#elif defined(__AVX2__)
             ", simd avx2"
#else
             ", simd baseline"
#endif
  );
}

}  // namespace planner::backend
