// Device discovery for the CUDA backend (backend/gpu.h). Never throws for a machine
// without a driver or a GPU: those simply have no devices.
#include <cuda_runtime_api.h>

#include "backend/cuda/device_check.h"
#include "backend/gpu.h"
#include "planner/common/errors.h"

namespace planner::gpu {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver / no device: not sticky, clear it for later calls
    return 0;
  }
  return n;
}

DeviceInfo device_info(int device) {
  const int n = device_count();
  require(device >= 0 && device < n, "device must be in [0, ", n, ") (CUDA devices visible), got ", device);
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  DeviceInfo info;
  info.index = device;
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.memory_bytes = prop.totalGlobalMem;
  return info;
}

}  // namespace planner::gpu
