// Small statistics shared by the telemetry and the benchmark programs.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace planner {

// The q-quantile (q in [0, 1]) of v, linearly interpolated like numpy.percentile; 0 for
// an empty v. Takes v by value: it is sorted.
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace planner
