// A latent world model loaded from a model file (docs/MODEL_FORMAT.md): encoder,
// M dynamics and reward heads, optional terminal value, optional context encoder,
// normalization and action box.
// Immutable after loading; shared by every scorer and thread that plans with it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "planner/models/mlp.h"

namespace planner {

class SafeTensors;

enum class Input { kObs, kZ, kA, kC };

struct Network {
  std::vector<Input> inputs;  // concatenated in this order
  MLP mlp;
};

struct WorldModel {
  int obs_dim = 0, action_dim = 0, latent_dim = 0, context_dim = 0, ensemble = 0;
  float discount = 1.0f;
  std::vector<float> action_low, action_high;  // [A]
  std::vector<float> obs_shift, obs_scale;     // [S]
  float reward_shift = 0.0f, reward_scale = 1.0f, value_shift = 0.0f, value_scale = 1.0f;
  Network encoder;
  std::vector<Network> dynamics, reward;  // M each
  bool has_value = false;
  Network value;
  // The optional context encoder (MODEL_FORMAT.md, "Context encoder"): embed maps one
  // transition [2S + A] to [E], head maps the masked mean [E] to [2C] (mu, log-variance).
  // Its layers take no named inputs, so they are bare MLPs; see ContextEncoder.
  bool has_context_encoder = false;
  int history = 0;  // K, the window the encoder was trained on; 0 without an encoder
  MLP context_embed, context_head;
  std::string metadata_json;  // the file's metadata, verbatim

  // Loads and validates a model file; throws ValueError naming the problem.
  static std::shared_ptr<const WorldModel> load(const std::string& path);
  static std::shared_ptr<const WorldModel> from_safetensors(const SafeTensors& file);

  // Width of a network's concatenated input.
  int input_width(const std::vector<Input>& inputs) const;
  // Parameters (weights and biases) in all networks.
  long long parameter_count() const;
};

}  // namespace planner
