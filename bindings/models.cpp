// Latent world models from model files, and the native scorer that plans with them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.h"
#include "planner/common/buffer.h"
#include "planner/models/context_encoder.h"
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
      .def_readonly("has_context_encoder", &WorldModel::has_context_encoder)
      .def_readonly("history", &WorldModel::history, "K of the context encoder; 0 without one.")
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

  py::class_<ContextEncoder, std::shared_ptr<ContextEncoder>>(m, "ContextEncoder")
      .def(py::init([](std::shared_ptr<WorldModel> model) { return std::make_shared<ContextEncoder>(model); }),
           py::arg("model"), "The model file's context encoder; ValueError when the model has none.")
      .def_property_readonly("history", &ContextEncoder::history)
      .def_property_readonly("context_dim", &ContextEncoder::context_dim)
      .def(
          "infer",
          [](const ContextEncoder& enc, const py::handle& obs_obj, const py::handle& act_obj,
             const py::handle& next_obj, const py::handle& mask_obj) {
            const int K = enc.history(), S = enc.obs_dim(), A = enc.action_dim(), C = enc.context_dim();
            auto ob = as_f32(obs_obj, "obs", "[B, K, S]");
            if (ob.ndim() != 3 || ob.shape(0) < 1 || ob.shape(1) != K || ob.shape(2) != S)
              throw_value_error("obs: expected shape [B, K, S] with B >= 1, K = ", K,
                                " (the encoder's history) and S = ", S, ", got ", describe(ob));
            const py::ssize_t B = ob.shape(0);
            auto ac = as_f32(act_obj, "action", "[B, K, A]");
            auto nx = as_f32(next_obj, "next_obs", "[B, K, S]");
            const float* obs = static_cast<const float*>(ob.data());
            const float* act = f32_shape(ac, "action", "[B, K, A]", {B, K, A});
            const float* next_obs = f32_shape(nx, "next_obs", "[B, K, S]", {B, K, S});
            // mask [B, K]: bool or uint8 holding 0 or 1, nothing converted.
            if (!py::isinstance<py::array>(mask_obj))
              throw_type_error("mask: expected a bool or uint8 numpy array [B, K], got ",
                               py::str(py::type::handle_of(mask_obj).attr("__name__")).cast<std::string>());
            auto mk = py::reinterpret_borrow<py::array>(mask_obj);
            const char kind = mk.dtype().kind();
            if (mk.itemsize() != 1 || !(kind == 'b' || kind == 'u'))
              throw_type_error("mask: expected dtype bool or uint8 [B, K], got ", describe(mk));
            if (!(mk.flags() & py::array::c_style))
              throw_type_error("mask: expected a C-contiguous array [B, K], got a strided view with ", describe(mk),
                               " (use np.ascontiguousarray)");
            if (mk.ndim() != 2 || mk.shape(0) != B || mk.shape(1) != K)
              throw_value_error("mask: expected shape [B, K] = ", shape_str({B, K}), ", got ", describe(mk));
            const auto* mask = static_cast<const unsigned char*>(mk.data());
            const std::size_t rows = static_cast<std::size_t>(B) * K;
            for (std::size_t i = 0; i < rows; ++i)
              if (mask[i] > 1) throw_value_error("mask: values must be 0 or 1, got ", int(mask[i]));
            // Every value must be finite, padding included: a NaN anywhere is a caller bug
            // worth reporting, even where the encoder would not read it.
            auto finite = [](const float* p, std::size_t n, const char* name, const char* letters) {
              for (std::size_t i = 0; i < n; ++i)
                if (!std::isfinite(p[i]))
                  throw_value_error(name, ": non-finite value in ", letters, " at flat index ", i);
            };
            finite(obs, rows * S, "obs", "[B, K, S]");
            finite(act, rows * A, "action", "[B, K, A]");
            finite(next_obs, rows * S, "next_obs", "[B, K, S]");
            py::array_t<float> mu({B, static_cast<py::ssize_t>(C)});
            Buffer<float> scratch(enc.scratch_floats(static_cast<int>(B)) + 1);
            {
              py::gil_scoped_release release;
              enc.infer(obs, act, next_obs, mask, static_cast<int>(B), mu.mutable_data(), scratch.data());
            }
            return mu;
          },
          py::arg("obs"), py::arg("action"), py::arg("next_obs"), py::arg("mask"),
          "The context mu [B, C] of B windows of the last K transitions: obs [B, K, S], action [B, K, A], "
          "next_obs [B, K, S] (float32) and mask [B, K] (bool or uint8; 0 marks padding).");

  m.def("gemm_backend", &gemm_backend);
}

}  // namespace planner::bind
