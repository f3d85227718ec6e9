#include "planner/models/mlp.h"

#include <algorithm>
#include <cmath>

#include "planner/common/errors.h"
#include "planner/common/fastmath.h"
#include "planner/common/simd.h"
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

namespace {

// Adds b to v and returns the sum of the result, with 16 independent partial sums
// (combined in a fixed order): the loop vectorizes and does not serialize on one
// accumulator, and the result does not depend on the build's vector width.
inline float add_bias_sum(float* v, const float* b, int n) {
  float acc[16] = {};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) {
      v[j + k] += b[j + k];
      acc[k] += v[j + k];
    }
  for (int k = 0; j < n; ++j, ++k) {
    v[j] += b[j];
    acc[k] += v[j];
  }
  for (int w = 8; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

inline float lane_sq_dev(const float* v, int n, float mean) {
  float acc[16] = {};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) {
      const float d = v[j + k] - mean;
      acc[k] += d * d;
    }
  for (int k = 0; j < n; ++j, ++k) {
    const float d = v[j] - mean;
    acc[k] += d * d;
  }
  for (int w = 8; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

#if defined(__AVX512F__)
// Mish on 16 lanes: exp through roundscale/scalef and the division through a refined
// reciprocal (rcp14 + one Newton step, ~1e-7 relative): about half the instructions
// of the portable path, which the compiler cannot rewrite this way on its own.
inline __m512 mish16(__m512 x) {
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(20.0f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), xc);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.42860682030941723212e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512 e = _mm512_scalef_ps(p, k);
  const __m512 n = _mm512_mul_ps(e, _mm512_add_ps(e, _mm512_set1_ps(2.0f)));
  const __m512 d = _mm512_add_ps(n, _mm512_set1_ps(2.0f));
  __m512 inv = _mm512_rcp14_ps(d);
  inv = _mm512_mul_ps(inv, _mm512_fnmadd_ps(d, inv, _mm512_set1_ps(2.0f)));
  const __m512 y = _mm512_mul_ps(x, _mm512_mul_ps(n, inv));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ), y, x);
}

// Adds the bias and returns (mean, 1 / sqrt(var + eps)) of the row, two passes.
inline void bias_ln_stats16(float* v, const float* b, int n, float eps, float& mean, float& inv) {
  __m512 acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, v + j), _mm512_maskz_loadu_ps(mask, b + j));
    _mm512_mask_storeu_ps(v + j, mask, x);
    acc = _mm512_add_ps(acc, x);
  }
  mean = _mm512_reduce_add_ps(acc) / static_cast<float>(n);
  const __m512 m = _mm512_set1_ps(mean);
  acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, v + j), m);
    acc = _mm512_fmadd_ps(d, d, acc);
  }
  inv = 1.0f / std::sqrt(_mm512_reduce_add_ps(acc) / static_cast<float>(n) + eps);
}

// v = mish(v * scale + shift) elementwise with per-feature scale/shift (LayerNorm
// affine folded in by the caller), masked tail.
inline void affine_mish16(float* v, const float* a, const float* b, float mean, float inv, int n) {
  const __m512 m = _mm512_set1_ps(mean), s = _mm512_set1_ps(inv);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 x = _mm512_maskz_loadu_ps(mask, v + j);
    const __m512 g = _mm512_maskz_loadu_ps(mask, a + j);
    const __m512 be = _mm512_maskz_loadu_ps(mask, b + j);
    const __m512 z = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_sub_ps(x, m), s), g, be);
    _mm512_mask_storeu_ps(v + j, mask, mish16(z));
  }
}
#endif

template <Activation kAct>
inline float activate(float x) {
  if constexpr (kAct == Activation::kReLU) return x > 0.0f ? x : 0.0f;
  if constexpr (kAct == Activation::kELU) return fm::elu(x);
  if constexpr (kAct == Activation::kMish) return fm::mish(x);
  if constexpr (kAct == Activation::kTanh) return fm::tanh(x);
  return x;
}

// One pass per row after the GEMM: bias, optional LayerNorm, activation.
template <Activation kAct>
void epilogue_rows(const Layer& L, float* y, int rows) {
  const int n = L.out;
  const float* b = L.bias.data();
  const float* g = L.norm_weight.data();
  const float* beta = L.norm_bias.data();
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int r = 0; r < rows; ++r) {
    float* v = y + static_cast<std::size_t>(r) * n;
    if (L.layer_norm) {
#if defined(__AVX512F__)
      if constexpr (kAct == Activation::kMish) {
        float mean, inv;
        bias_ln_stats16(v, b, n, L.eps, mean, inv);
        affine_mish16(v, g, beta, mean, inv, n);
        continue;
      }
#endif
      const float mean = add_bias_sum(v, b, n) * inv_n;
      const float inv = 1.0f / std::sqrt(lane_sq_dev(v, n, mean) * inv_n + L.eps);
      for (int j = 0; j < n; ++j) v[j] = activate<kAct>((v[j] - mean) * inv * g[j] + beta[j]);
    } else {
      for (int j = 0; j < n; ++j) v[j] = activate<kAct>(v[j] + b[j]);
    }
  }
}

void simnorm_rows(const Layer& L, float* y, int rows) {
  epilogue_rows<Activation::kNone>(L, y, rows);
  const int n = L.out, g = L.simnorm_dim;
  for (int r = 0; r < rows; ++r) {
    float* v = y + static_cast<std::size_t>(r) * n;
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
  }
}

}  // namespace

void layer_epilogue(const Layer& L, float* y, int rows) {
  switch (L.act) {
    case Activation::kNone: epilogue_rows<Activation::kNone>(L, y, rows); break;
    case Activation::kReLU: epilogue_rows<Activation::kReLU>(L, y, rows); break;
    case Activation::kELU: epilogue_rows<Activation::kELU>(L, y, rows); break;
    case Activation::kMish: epilogue_rows<Activation::kMish>(L, y, rows); break;
    case Activation::kTanh: epilogue_rows<Activation::kTanh>(L, y, rows); break;
    case Activation::kSimNorm: simnorm_rows(L, y, rows); break;
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
