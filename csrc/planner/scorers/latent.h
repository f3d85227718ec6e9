// Scores action sequences with a latent world model (docs/MODEL_FORMAT.md): encode the
// observation once per block, roll the ensemble-mean latent forward H steps, sum the
// discounted ensemble-mean rewards, add the discounted terminal value. Optionally
// subtracts `disagreement` times the discounted ensemble spread of the next latent.
#pragma once

#include <memory>

#include "planner/models/world_model.h"
#include "planner/scorers/scorer.h"

namespace planner {

struct LatentOptions {
  float disagreement = 0.0f;  // lambda of the ensemble-disagreement penalty (M >= 2)
  bool terminal_value = true;  // add discount^H * value(z_H, c) when the model has one
};

class LatentScorer : public Scorer {
 public:
  LatentScorer(std::shared_ptr<const WorldModel> model, LatentOptions options = {});
  std::string name() const override { return "latent"; }
  int state_dim() const override { return model_->obs_dim; }
  int action_dim() const override { return model_->action_dim; }
  int context_dim() const override { return model_->context_dim; }
  void default_bounds(float* lower, float* upper) const override;
  int block_rows() const override { return 128; }
  long long min_parallel_steps() const override { return 0; }
  std::size_t scratch_floats(int rows, int horizon) const override;
  void score(const float* obs, const float* context, const float* actions, int rows, int horizon, float* returns,
             float* scratch) const override;

  // Like score(), and also writes the ensemble-mean latent of every row at steps
  // 0..H to latents [rows, H + 1, Z] (for prediction-error metrics; not a hot path).
  void rollout(const float* obs, const float* context, const float* actions, int rows, int horizon, float* returns,
               float* scratch, float* latents) const;
  // Encodes observations [rows, S] to latents [rows, Z]; scratch: encode_scratch_floats().
  void encode(const float* obs, int rows, float* latents, float* scratch) const;
  std::size_t encode_scratch_floats() const { return model_->obs_dim + mlp_scratch_ + 64; }

  const WorldModel& model() const { return *model_; }
  const LatentOptions& options() const { return options_; }

 private:
  // Writes the concatenated network input [rows, width] for step t.
  void build_input(const Network& net, const float* z, const float* a_n, const float* c, int rows, float* x) const;

  std::shared_ptr<const WorldModel> model_;
  LatentOptions options_;
  int step_width_ = 0;  // width of the widest network input
  int mlp_scratch_ = 0;  // per-row floats of MLP scratch
  std::vector<float> a_scale_, a_shift_;  // a_n = a * a_scale + a_shift maps the box to [-1, 1]
};

}  // namespace planner
