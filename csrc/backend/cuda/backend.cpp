#include "backend/backend.h"

#include <cuda_runtime_api.h>

#include "backend/gpu.h"
#include "planner/common/errors.h"

#ifndef PLANNER_CUDA_ARCHS
#define PLANNER_CUDA_ARCHS "unknown"
#endif

namespace planner::backend {

bool cuda_available() { return gpu::device_count() > 0; }

std::string name() { return "cuda"; }

std::string build_summary() {
  // The runtime is linked statically: its version is the toolkit's. The driver's is 0
  // when no driver is installed.
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = CUDART_VERSION;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  (void)cudaGetLastError();
  return cat("latent-planner ", PLANNER_VERSION, ", compiler ", __VERSION__, ", backend cuda (CUDA runtime ",
             runtime / 1000, ".", (runtime % 1000) / 10, ", driver ",
             driver > 0 ? cat(driver / 1000, ".", (driver % 1000) / 10) : std::string("none"), ", archs ",
             PLANNER_CUDA_ARCHS, ", devices ", gpu::device_count(), ")",
             ", simd ", simd_name());
}

}  // namespace planner::backend
