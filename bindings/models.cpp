// Latent world models from model files, and the native scorer that plans with them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "planner/common/buffer.h"
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
           py::arg("model"), py::arg("disagreement") = 0.0f, py::arg("terminal_value") = true)
      .def(
          "predict",
          [](const LatentScorer& s, const py::handle& obs_obj, const py::handle& actions_obj, const py::handle& ctx_obj) {
            const int S = s.state_dim(), A = s.action_dim(), Z = s.model().latent_dim;
            auto st = as_f32(obs_obj, "obs", "[S]");
            const float* obs = f32_shape(st, "obs", "[S]", {S});
            py::array ct;
            const float* context = context_arg(s.context_dim(), ctx_obj, ct);
            auto ac = as_f32(actions_obj, "actions", "[N, H, A]");
            if (ac.ndim() != 3 || ac.shape(2) != A || ac.shape(0) < 1 || ac.shape(1) < 1)
              throw_value_error("actions: expected shape [N, H, A] with N, H >= 1 and A = ", A, ", got ", describe(ac));
            const int N = static_cast<int>(ac.shape(0)), H = static_cast<int>(ac.shape(1));
            py::array_t<float> returns(N);
            py::array_t<float> latents({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(H + 1),
                                        static_cast<py::ssize_t>(Z)});
            Buffer<float> scratch(s.scratch_floats(N, H) + 1);
            {
              py::gil_scoped_release release;
              s.rollout(obs, context, static_cast<const float*>(ac.data()), N, H, returns.mutable_data(),
                        scratch.data(), latents.mutable_data());
            }
            return py::make_tuple(latents, returns);
          },
          py::arg("obs"), py::arg("actions"), py::arg("context") = py::none(),
          "Rolls action sequences [N, H, A] out from obs [S]: (latents [N, H+1, Z] (ensemble mean, z0 first), "
          "returns [N]).")
      .def(
          "encode",
          [](const LatentScorer& s, const py::handle& obs_obj) {
            const int S = s.state_dim(), Z = s.model().latent_dim;
            auto st = as_f32(obs_obj, "obs", "[N, S]");
            if (st.ndim() != 2 || st.shape(1) != S || st.shape(0) < 1)
              throw_value_error("obs: expected shape [N, S] with N >= 1 and S = ", S, ", got ", describe(st));
            const int N = static_cast<int>(st.shape(0));
            py::array_t<float> out({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(Z)});
            Buffer<float> scratch(s.encode_scratch_floats());
            {
              py::gil_scoped_release release;
              s.encode(static_cast<const float*>(st.data()), N, out.mutable_data(), scratch.data());
            }
            return out;
          },
          py::arg("obs"), "Encodes observations [N, S] to latents [N, Z].");

  m.def("gemm_backend", &gemm_backend);
}

}  // namespace planner::bind
