// Exposes the RNG so tests can check the NumPy reference bit for bit.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "planner/common/errors.h"
#include "planner/common/philox.h"
#include "planner/optimizers/icem.h"

namespace py = pybind11;

namespace planner::bind {

void bind_random(py::module_& m) {
  m.def(
      "philox4x32_10",
      [](std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
        const Philox4x32 r = philox4x32_10(c0, c1, c2, c3, k0, k1);
        return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
      },
      "Philox-4x32-10 block for counter (c0..c3) and key (k0, k1).");
  m.def(
      "normal",
      [](std::uint64_t seed, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint64_t first, py::ssize_t count) {
        require(count >= 0, "count must be >= 0, got ", count);
        py::array_t<float> out(count);
        fill_normal(NormalStream{seed, c1, c2, c3}, first, static_cast<std::size_t>(count), out.mutable_data());
        return out;
      },
      py::arg("seed"), py::arg("c1"), py::arg("c2"), py::arg("c3"), py::arg("first"), py::arg("count"),
      "Standard normals [count]: elements [first, first + count) of the stream (seed, c1, c2, c3).");
  m.def(
      "colored_noise_matrix",
      [](int horizon, float beta) {
        require(horizon >= 1, "horizon (H) must be >= 1, got ", horizon);
        py::array_t<float> out({horizon, horizon});
        colored_noise_matrix(horizon, beta, out.mutable_data());
        return out;
      },
      py::arg("horizon"), py::arg("beta"), "iCEM coloring matrix [H, H].");
}

}  // namespace planner::bind
