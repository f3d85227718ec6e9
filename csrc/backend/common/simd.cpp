#include "backend/backend.h"

namespace planner::backend {

std::string simd_name() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__)
  return "avx2";
#else
  return "baseline";
#endif
}

}  // namespace planner::backend
