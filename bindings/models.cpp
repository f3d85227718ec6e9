// Latent world models from model files, and the native scorer that plans with them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "planner/models/gemm.h"
#include "planner/models/world_model.h"
#include "planner/scorers/latent.h"

namespace py = pybind11;

namespace planner::bind {

void bind_models(py::module_& m) {
  py::class_<WorldModel, std::shared_ptr<WorldModel>>(m, "WorldModel")
      .def_static(
          "load",
          [](const std::string& path) {
            std::shared_ptr<const WorldModel> model;
            {
              py::gil_scoped_release release;
              model = WorldModel::load(path);
            }
            return std::const_pointer_cast<WorldModel>(model);
          },
          py::arg("path"), "Loads and validates a model file (docs/MODEL_FORMAT.md).")
      .def_readonly("obs_dim", &WorldModel::obs_dim)
      .def_readonly("action_dim", &WorldModel::action_dim)
      .def_readonly("latent_dim", &WorldModel::latent_dim)
      .def_readonly("context_dim", &WorldModel::context_dim)
      .def_readonly("ensemble", &WorldModel::ensemble)
      .def_readonly("discount", &WorldModel::discount)
      .def_readonly("action_low", &WorldModel::action_low)
      .def_readonly("action_high", &WorldModel::action_high)
      .def_readonly("has_value", &WorldModel::has_value)
      .def_readonly("metadata", &WorldModel::metadata_json)
      .def_property_readonly("parameter_count", &WorldModel::parameter_count);

  py::class_<LatentScorer, Scorer, std::shared_ptr<LatentScorer>>(m, "LatentScorer")
      .def(py::init([](std::shared_ptr<WorldModel> model, float disagreement, bool terminal_value) {
             return std::make_shared<LatentScorer>(model, LatentOptions{disagreement, terminal_value});
           }),
           py::arg("model"), py::arg("disagreement") = 0.0f, py::arg("terminal_value") = true);

  m.def("gemm_backend", &gemm_backend);
}

}  // namespace planner::bind
