// What this build contains. Exactly one of backend/cuda or backend/no_cuda is compiled
// (CUDA by substitution); nothing else in the core tests for CUDA.
#pragma once

#include <string>

namespace planner::backend {

// True when the CUDA backend was compiled in and a device is present.
bool cuda_available();
// "cuda" or "none".
std::string name();
// Compiler, flags and version as a short human-readable string.
std::string build_summary();
// The widest SIMD instruction set the core was compiled for: "avx512", "avx2" or "baseline".
std::string simd_name();

}  // namespace planner::backend
