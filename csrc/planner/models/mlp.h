// A multilayer perceptron as the model file describes it: each layer is
// y = act(norm(W x + b)) with W [out, in]. forward() runs a block of rows through all
// layers with one GEMM per layer and a fused bias + LayerNorm + activation pass.
#pragma once

#include <string>
#include <vector>

#include "planner/common/buffer.h"

namespace planner {

enum class Activation { kNone, kReLU, kELU, kMish, kTanh, kSimNorm };

struct Layer {
  int in = 0, out = 0;
  Buffer<float> weight;  // [out, in]
  Buffer<float> bias;    // [out], zeros when the file has none
  bool layer_norm = false;
  Buffer<float> norm_weight, norm_bias;  // [out]
  float eps = 1e-5f;
  Activation act = Activation::kNone;
  int simnorm_dim = 0;
};

class MLP {
 public:
  std::vector<Layer> layers;

  int in_dim() const { return layers.front().in; }
  int out_dim() const { return layers.back().out; }
  int max_width() const;
  // Floats of scratch forward() needs for `rows` rows.
  std::size_t scratch_floats(int rows) const;
  // y [rows, out_dim] = mlp(x [rows, in_dim]). y must not alias x or scratch.
  void forward(const float* x, int rows, float* y, float* scratch) const;
};

// Bias, LayerNorm and activation applied in place to y [rows, layer.out].
void layer_epilogue(const Layer& layer, float* y, int rows);

Activation parse_activation(const std::string& name, const std::string& what);

}  // namespace planner
