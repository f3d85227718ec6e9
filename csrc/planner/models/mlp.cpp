#include "planner/models/mlp.h"

#include <algorithm>
#include <cmath>

#include "planner/common/errors.h"
#include "planner/common/fastmath.h"
#include "planner/models/gemm.h"

namespace planner {

Activation parse_activation(const std::string& name, const std::string& what) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kReLU;
  if (name == "elu") return Activation::kELU;
  if (name == "mish") return Activation::kMish;
  if (name == "tanh") return Activation::kTanh;
  if (name == "simnorm") return Activation::kSimNorm;
  throw_value_error(what, ": unknown activation '", name, "'; expected none, relu, elu, mish, tanh or simnorm");
}

int MLP::max_width() const {
  int w = 0;
  for (const auto& l : layers) w = std::max({w, l.in, l.out});
  return w;
}

std::size_t MLP::scratch_floats(int rows) const { return 2 * static_cast<std::size_t>(rows) * max_width(); }

void layer_epilogue(const Layer& L, float* y, int rows) {
  const int n = L.out;
  const float* b = L.bias.data();
  for (int r = 0; r < rows; ++r) {
    float* v = y + static_cast<std::size_t>(r) * n;
    for (int j = 0; j < n; ++j) v[j] += b[j];
    if (L.layer_norm) {
      float mean = 0.0f;
      for (int j = 0; j < n; ++j) mean += v[j];
      mean /= static_cast<float>(n);
      float var = 0.0f;
      for (int j = 0; j < n; ++j) {
        const float d = v[j] - mean;
        var += d * d;
      }
      const float inv = 1.0f / std::sqrt(var / static_cast<float>(n) + L.eps);
      const float* g = L.norm_weight.data();
      const float* beta = L.norm_bias.data();
      for (int j = 0; j < n; ++j) v[j] = (v[j] - mean) * inv * g[j] + beta[j];
    }
    switch (L.act) {
      case Activation::kNone: break;
      case Activation::kReLU:
        for (int j = 0; j < n; ++j) v[j] = v[j] > 0.0f ? v[j] : 0.0f;
        break;
      case Activation::kELU:
        for (int j = 0; j < n; ++j) v[j] = fm::elu(v[j]);
        break;
      case Activation::kMish:
        for (int j = 0; j < n; ++j) v[j] = fm::mish(v[j]);
        break;
      case Activation::kTanh:
        for (int j = 0; j < n; ++j) v[j] = fm::tanh(v[j]);
        break;
      case Activation::kSimNorm: {
        const int g = L.simnorm_dim;
        for (int k = 0; k < n; k += g) {
          float mx = v[k];
          for (int j = 1; j < g; ++j) mx = std::max(mx, v[k + j]);
          float sum = 0.0f;
          for (int j = 0; j < g; ++j) {
            v[k + j] = fm::exp(v[k + j] - mx);
            sum += v[k + j];
          }
          const float inv = 1.0f / sum;
          for (int j = 0; j < g; ++j) v[k + j] *= inv;
        }
        break;
      }
    }
  }
}

void MLP::forward(const float* x, int rows, float* y, float* scratch) const {
  const std::size_t half = static_cast<std::size_t>(rows) * max_width();
  const float* src = x;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& L = layers[i];
    float* dst = (i + 1 == layers.size()) ? y : scratch + (i % 2) * half;
    gemm_xwt(rows, L.out, L.in, src, L.weight.data(), dst);
    layer_epilogue(L, dst, rows);
    src = dst;
  }
}

}  // namespace planner
