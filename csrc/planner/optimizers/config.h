// Every optimizer knob in one flat struct. The Python dataclasses in planner/config.py
// validate and fill it; each optimizer reads the fields it documents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace planner {

enum class Sampling {
  kClip,       // draw from N(mean, std), then clip to the action box
  kTruncated,  // redraw out-of-box values (up to kMaxRedraws times), then clip
};

struct OptimizerConfig {
  std::string name = "mppi";  // registry key: "cem", "icem" or "mppi"
  int samples = 256;          // N, population per iteration (iCEM: first iteration)
  int horizon = 16;           // H, control steps per sequence
  int iterations = 4;         // I, ask/tell rounds per plan()
  std::uint64_t seed = 0;

  // Action box [A]; an empty vector means unbounded in that direction.
  std::vector<float> lower, upper;
  // Initial mean [A] (default: box midpoint, or 0) and std [A] (default: half the box
  // width, or 1). One value broadcasts to all A dims. For MPPI, init_std is sigma.
  std::vector<float> init_mean, init_std;
  float min_std = 0.05f;  // std floor after an update (CEM, iCEM, MPPI with adapt_std)
  float max_std = 1e30f;  // std ceiling
  float momentum = 0.1f;  // new = momentum * old + (1 - momentum) * fitted
  Sampling sampling = Sampling::kClip;

  // CEM / iCEM
  int elites = 32;  // K, best samples refitted each iteration

  // iCEM (Pinneri et al., CoRL 2020)
  float noise_beta = 2.0f;   // colored-noise exponent: PSD ~ 1/f^beta (0 = white)
  float pop_decay = 1.25f;   // N_i = max(N * decay^-i, 2K)
  float keep_elites = 0.3f;  // fraction of elites carried to the next iteration
  bool shift_elites = true;  // carry shifted elites across control steps
  bool add_mean = true;      // put the mean in the last iteration's population

  // MPPI (Williams et al.; top-k weighting as in TD-MPC2)
  float temperature = 1.0f;  // lambda: weights exp((R - max R) / lambda)
  int top_k = 0;             // > 0: weight only the top-k samples
  bool adapt_std = false;    // refit std from the weighted samples
};

inline constexpr int kMaxRedraws = 8;

}  // namespace planner
