// Error checking and small RAII helpers for the CUDA backend's host code. Every CUDA
// runtime call goes through check(), which throws std::runtime_error (RuntimeError in
// Python) naming the call and the runtime's message.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace planner::gpu {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call) {
  throw std::runtime_error(std::string("CUDA error in ") + call + ": " + cudaGetErrorString(err) + " (" +
                           cudaGetErrorName(err) + ")");
}

inline void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) throw_cuda_error(err, call);
}

// After a kernel launch: a bad configuration is reported here, not by the launch.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Makes `device` current for the scope and restores the caller's device after it.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// Owning device array, allocated once (never inside plan()).
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) { allocate(n); }
  ~DeviceArray() {
    if (data_) cudaFree(data_);  // nothing to do about an error in a destructor
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void allocate(std::size_t n) {
    if (data_) cudaFree(data_);
    data_ = nullptr;
    size_ = n;
    if (n > 0) check(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)), "cudaMalloc");
  }
  // Synchronous upload of n elements (construction time only).
  void upload(const T* host, std::size_t n) {
    if (n > 0) check(cudaMemcpy(data_, host, n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace planner::gpu
