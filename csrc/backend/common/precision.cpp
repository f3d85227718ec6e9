// Precision names of the GPU planner, shared by both backends (the bindings parse them
// in every build, so a bad name fails the same way with or without CUDA).
#include "backend/gpu.h"
#include "planner/common/errors.h"

namespace planner::gpu {

Precision parse_precision(const std::string& name) {
  if (name == "float32") return Precision::kFloat32;
  if (name == "tf32") return Precision::kTF32;
  if (name == "bf16") return Precision::kBF16;
  throw_value_error("precision: unknown name '", name, "'; expected one of float32, tf32, bf16");
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kFloat32:
      return "float32";
    case Precision::kTF32:
      return "tf32";
    case Precision::kBF16:
      return "bf16";
  }
  throw_value_error("precision: invalid enum value ", static_cast<int>(p));
}

}  // namespace planner::gpu
