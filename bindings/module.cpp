// planner._core: the private native module. The public API is planner/ (Python).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "backend/backend.h"
#include "planner/common/errors.h"
#include "planner/common/thread_pool.h"

namespace py = pybind11;

namespace planner::bind {
void bind_random(py::module_& m);
void bind_optimizers(py::module_& m);
void bind_scorers(py::module_& m);
void bind_planner(py::module_& m);
void bind_models(py::module_& m);
void bind_gpu(py::module_& m);
}  // namespace planner::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "latent-planner native core (private; use the planner package)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const planner::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const planner::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.attr("__version__") = PLANNER_VERSION;
  m.def("build_info", [] {
    py::dict d;
    d["version"] = PLANNER_VERSION;
    d["backend"] = planner::backend::name();
    d["cuda"] = planner::backend::cuda_available();
    d["summary"] = planner::backend::build_summary();
    d["hardware_threads"] = planner::ThreadPool::hardware_threads();
    return d;
  });
  m.def("cuda_available", &planner::backend::cuda_available);
  planner::bind::bind_random(m);
  planner::bind::bind_optimizers(m);
  planner::bind::bind_scorers(m);
  planner::bind::bind_models(m);
  planner::bind::bind_planner(m);
  planner::bind::bind_gpu(m);
}
