// Infers the context c of a latent world model from the robot's last K transitions with
// the model file's context encoder (docs/MODEL_FORMAT.md, "Context encoder"): embed
// every transition, masked mean pool, head; the planner uses the head's mean mu.
// Runs in the control thread between plans: single-threaded, deterministic, and it
// allocates nothing (the caller owns the scratch).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "planner/models/world_model.h"

namespace planner {

class ContextEncoder {
 public:
  // Throws ValueError when the model has no context encoder.
  explicit ContextEncoder(std::shared_ptr<const WorldModel> model);

  int history() const { return model_->history; }  // K
  int context_dim() const { return model_->context_dim; }  // C
  int obs_dim() const { return model_->obs_dim; }  // S
  int action_dim() const { return model_->action_dim; }  // A
  // Floats of scratch infer() needs for a batch of `batch` windows.
  std::size_t scratch_floats(int batch) const;

  // mu [B, C] of the windows obs [B, K, S], act [B, K, A], next_obs [B, K, S] with
  // mask [B, K] (nonzero: a real transition; zero: padding, whose values are never
  // read). A window without a valid transition pools to zeros, as the format says.
  // mu must not alias the scratch. Throws ValueError only when B < 0 or B * K rows do
  // not fit one forward pass.
  void infer(const float* obs, const float* act, const float* next_obs, const unsigned char* mask, int batch,
             float* mu, float* scratch) const;

  const WorldModel& model() const { return *model_; }

 private:
  std::shared_ptr<const WorldModel> model_;
  int embed_width_ = 0;  // E
  std::vector<float> a_scale_, a_shift_;  // a_n = a * a_scale + a_shift maps the box to [-1, 1]
};

}  // namespace planner
