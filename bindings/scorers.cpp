// Native analytic scorers, usable on their own (to score sequences) or in a Planner.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "planner/common/buffer.h"
#include "planner/scorers/scorer.h"

namespace py = pybind11;

namespace planner::bind {

void bind_scorers(py::module_& m) {
  m.def("scorer_names", &scorer_names);
  py::class_<Scorer, std::shared_ptr<Scorer>>(m, "Scorer")
      .def(py::init([](const std::string& name, const Params& params) { return make_scorer(name, params); }),
           py::arg("name"), py::arg("params") = Params{})
      .def_property_readonly("name", &Scorer::name)
      .def_property_readonly("state_dim", &Scorer::state_dim)
      .def_property_readonly("action_dim", &Scorer::action_dim)
      .def_property_readonly("context_dim", &Scorer::context_dim)
      .def_property_readonly("bounds",
                             [](const Scorer& s) {
                               std::vector<float> lo(s.action_dim()), hi(s.action_dim());
                               s.default_bounds(lo.data(), hi.data());
                               return py::make_tuple(lo, hi);
                             })
      .def(
          "score",
          [](const Scorer& s, const py::handle& state_obj, const py::handle& actions_obj, const py::handle& ctx_obj) {
            auto st = as_f32(state_obj, "state", "[S]");
            const float* state = f32_shape(st, "state", "[S]", {s.state_dim()});
            py::array ct;
            const float* context = context_arg(s.context_dim(), ctx_obj, ct);
            auto ac = as_f32(actions_obj, "actions", "[N, H, A]");
            if (ac.ndim() != 3 || ac.shape(2) != s.action_dim() || ac.shape(0) < 1 || ac.shape(1) < 1)
              throw_value_error("actions: expected shape [N, H, A] with N, H >= 1 and A = ", s.action_dim(), ", got ",
                                describe(ac));
            const int N = static_cast<int>(ac.shape(0)), H = static_cast<int>(ac.shape(1));
            py::array_t<float> out(N);
            Buffer<float> scratch(s.scratch_floats(N, H) + 1);
            {
              py::gil_scoped_release release;
              s.score(state, context, static_cast<const float*>(ac.data()), N, H, out.mutable_data(), scratch.data());
            }
            return out;
          },
          py::arg("state"), py::arg("actions"), py::arg("context") = py::none(),
          "Returns [N] of action sequences [N, H, A] from state [S] (and context [C]).");
}

}  // namespace planner::bind
