// The GPU planner in a build without CUDA: no devices, and a constructor that says why.
// Every other member is unreachable (no object can exist), but must still link.
#include <stdexcept>

#include "backend/gpu.h"
#include "planner/common/errors.h"

namespace planner::gpu {
namespace {

[[noreturn]] void no_cuda() {
  throw std::runtime_error("latent-planner was built without CUDA (PLANNER_CUDA=OFF or no CUDA toolkit found)");
}

}  // namespace

int device_count() { return 0; }

DeviceInfo device_info(int device) {
  throw_value_error("device ", device, " does not exist: latent-planner was built without CUDA ",
                    "(PLANNER_CUDA=OFF or no CUDA toolkit found)");
}

struct GpuPlanner::Impl {};

GpuPlanner::GpuPlanner(const OptimizerConfig&, const ScorerSpec&, int, int, int) { no_cuda(); }
GpuPlanner::~GpuPlanner() = default;

int GpuPlanner::batch() const { no_cuda(); }
int GpuPlanner::state_dim() const { no_cuda(); }
int GpuPlanner::action_dim() const { no_cuda(); }
int GpuPlanner::context_dim() const { no_cuda(); }
int GpuPlanner::horizon() const { no_cuda(); }
int GpuPlanner::samples() const { no_cuda(); }
int GpuPlanner::device() const { no_cuda(); }
std::string GpuPlanner::scorer_name() const { no_cuda(); }
const GpuPlanResult& GpuPlanner::plan(const float*, const float*, void*) { no_cuda(); }
void GpuPlanner::copy_action(float*, void*) { no_cuda(); }
void GpuPlanner::shift(int) { no_cuda(); }
void GpuPlanner::reset() { no_cuda(); }
void GpuPlanner::reset(int) { no_cuda(); }
const float* GpuPlanner::last_population() const { no_cuda(); }
int GpuPlanner::last_population_rows() const { no_cuda(); }
const float* GpuPlanner::last_returns() const { no_cuda(); }
void GpuPlanner::copy_last_iteration(std::vector<float>&, std::vector<float>&) const { no_cuda(); }

}  // namespace planner::gpu
