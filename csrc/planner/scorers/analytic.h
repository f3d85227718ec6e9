// Shared machinery of the analytic scorers: parameter tables and a block loop that
// transposes kLanes action sequences to [H, A, kLanes] so the per-step dynamics
// vectorize across samples.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "planner/common/errors.h"
#include "planner/scorers/scorer.h"

namespace planner::analytic {

inline constexpr int kLanes = 64;  // 4 AVX-512 vectors: independent dependency chains per step

using Defaults = std::vector<std::pair<std::string, double>>;

// The parameters (and their defaults) of the analytic scorers, shared with the CUDA
// backend's device twins so both read the same table.
const Defaults& pendulum_defaults();
const Defaults& diff_drive_defaults();

// Fills `values` from defaults overridden by params; throws on unknown keys.
class ParamTable {
 public:
  ParamTable(const std::string& scorer, std::vector<std::pair<std::string, double>> defaults, const Params& given)
      : entries_(std::move(defaults)) {
    for (const auto& [key, value] : given) {
      auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == key; });
      if (it == entries_.end()) {
        std::string known;
        for (const auto& e : entries_) known += (known.empty() ? "" : ", ") + e.first;
        throw_value_error("params: unknown parameter '", key, "' for scorer '", scorer, "'; known: ", known);
      }
      require(value == value && value != std::numeric_limits<double>::infinity() &&
                  value != -std::numeric_limits<double>::infinity(),
              "params: '", key, "' must be finite");
      it->second = value;
    }
  }
  float get(const std::string& key) const {
    for (const auto& e : entries_)
      if (e.first == key) return static_cast<float>(e.second);
    throw_value_error("params: no parameter '", key, "'");
  }
  Params as_map() const { return Params(entries_.begin(), entries_.end()); }

 private:
  std::vector<std::pair<std::string, double>> entries_;
};

// Scratch floats for the block loop: one transposed block [H, A, kLanes].
inline std::size_t block_scratch(int horizon, int action_dim) {
  return static_cast<std::size_t>(horizon) * action_dim * kLanes;
}

// Calls step(u, lanes, returns_block) once per block of up to kLanes rows, where
// u = [H, A, kLanes] transposed actions (lanes past `rows` padded with zeros) and
// returns_block is a kLanes float array whose first `lanes` entries are copied out.
template <class BlockFn>
void for_blocks(const float* actions, int rows, int H, int A, float* returns, float* scratch, BlockFn&& fn) {
  for (int r0 = 0; r0 < rows; r0 += kLanes) {
    const int lanes = std::min(kLanes, rows - r0);
    float* u = scratch;
    for (int t = 0; t < H; ++t)
      for (int a = 0; a < A; ++a) {
        float* dst = u + (t * A + a) * kLanes;
        for (int l = 0; l < lanes; ++l) dst[l] = actions[(static_cast<std::size_t>(r0 + l) * H + t) * A + a];
        for (int l = lanes; l < kLanes; ++l) dst[l] = 0.0f;
      }
    alignas(64) float ret[kLanes];
    fn(static_cast<const float*>(u), ret);
    for (int l = 0; l < lanes; ++l) returns[r0 + l] = ret[l];
  }
}

}  // namespace planner::analytic

namespace planner::analytic {

// Factories, one per file. Each takes overrides of its documented parameters.
std::shared_ptr<Scorer> make_pendulum(const Params& params);
std::shared_ptr<Scorer> make_cartpole(const Params& params);
std::shared_ptr<Scorer> make_point_mass(const Params& params);
std::shared_ptr<Scorer> make_diff_drive(const Params& params);

}  // namespace planner::analytic
