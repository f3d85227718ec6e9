#include "planner/models/gemm.h"

#include <cblas.h>

#include <mutex>

namespace planner {

namespace {
void single_threaded_blas() {
  // Our thread pool owns the cores; a BLAS that spawned its own threads per call
  // would oversubscribe them and make timings erratic.
  static std::once_flag once;
  std::call_once(once, [] { scipy_openblas_set_num_threads(1); });
}
}  // namespace

void gemm_xwt(int rows, int out, int in, const float* X, const float* W, float* Y) {
  single_threaded_blas();
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
}

const char* gemm_backend() { return "scipy-openblas32"; }

}  // namespace planner
