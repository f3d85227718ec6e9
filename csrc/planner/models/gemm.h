// Dense products for the native model scorer. One entry point so that the BLAS
// (scipy-openblas32, the NumPy project's OpenBLAS build) and any hand-written kernel
// are peers behind it; benchmarks/bench_gemm compares them.
#pragma once

namespace planner {

// Y[rows, out] = X[rows, in] * W[out, in]^T, all row-major float32, single-threaded
// (the planner parallelizes over row blocks; BLAS threading is switched off).
void gemm_xwt(int rows, int out, int in, const float* X, const float* W, float* Y);

// The BLAS in use, for build_info().
const char* gemm_backend();

}  // namespace planner
