// The native Planner: plan() validates with the GIL held, then runs with it released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "planner/planner.h"

namespace py = pybind11;

namespace planner::bind {
namespace {

// plan() returns (action, plan, best_return, nonfinite, fallback, iterations,
// budget_stopped, elapsed_ms, max_iteration_ms); a 1-D state gives unbatched outputs ([A], [H, A],
// scalars), a 2-D state batched ones.
py::tuple plan(Planner& p, const py::handle& state_obj, const py::handle& ctx_obj, const py::handle& cand_obj,
               double budget_ms) {
  const int B = p.batch(), S = p.state_dim(), A = p.action_dim(), H = p.horizon(), C = p.context_dim();
  auto st = as_f32(state_obj, "state", "[B, S]");
  const bool flat = st.ndim() == 1;
  if (flat && B != 1)
    throw_value_error("state: expected shape [B, S] = (", B, ", ", S, ") for batch B=", B, ", got ", describe(st));
  const float* state =
      flat ? f32_shape(st, "state", "[S]", {S}) : f32_shape(st, "state", "[B, S]", {B, S});
  const float* context = nullptr;
  py::array ct;
  if (C > 0) {
    if (ctx_obj.is_none()) throw_value_error("context [B, C] is required: the scorer takes a context of C=", C);
    ct = as_f32(ctx_obj, "context", flat ? "[C]" : "[B, C]");
    context = flat ? f32_shape(ct, "context", "[C]", {C}) : f32_shape(ct, "context", "[B, C]", {B, C});
  } else if (!ctx_obj.is_none()) {
    throw_value_error("context: this scorer takes no context (C=0)");
  }
  const float* cand = nullptr;
  int P = 0;
  py::array ca;
  if (!cand_obj.is_none()) {
    ca = as_f32(cand_obj, "candidates", flat ? "[P, H, A]" : "[B, P, H, A]");
    const py::ssize_t np = ca.ndim() == (flat ? 3 : 4) ? ca.shape(flat ? 0 : 1) : -1;
    cand = flat ? f32_shape(ca, "candidates", "[P, H, A]", {np, H, A})
                : f32_shape(ca, "candidates", "[B, P, H, A]", {B, np, H, A});
    P = static_cast<int>(np);
  }
  const PlanResult* r;
  {
    py::gil_scoped_release release;
    r = &p.plan(state, context, cand, P, budget_ms);
  }
  if (flat) {
    return py::make_tuple(new_f32({A}, r->action), new_f32({H, A}, r->plan), r->best_return[0], r->nonfinite[0],
                          r->fallback[0] != 0, r->iterations, r->budget_stopped, r->elapsed_ms, r->max_iteration_ms);
  }
  py::array_t<int> nonfinite(B);
  py::array_t<bool> fallback(B);
  for (int b = 0; b < B; ++b) {
    nonfinite.mutable_data()[b] = r->nonfinite[b];
    fallback.mutable_data()[b] = r->fallback[b] != 0;
  }
  return py::make_tuple(new_f32({B, A}, r->action), new_f32({B, H, A}, r->plan), new_f32({B}, r->best_return),
                        nonfinite, fallback, r->iterations, r->budget_stopped, r->elapsed_ms, r->max_iteration_ms);
}

}  // namespace

void bind_planner(py::module_& m) {
  py::class_<Planner>(m, "Planner")
      .def(py::init([](const OptimizerConfig& c, std::shared_ptr<Scorer> s, int batch, int threads, int shift) {
             return std::make_unique<Planner>(c, std::move(s), PlannerOptions{batch, threads, shift});
           }),
           py::arg("config"), py::arg("scorer"), py::arg("batch") = 1, py::arg("threads") = 0,
           py::arg("shift_after_plan") = 1)
      .def("plan", &plan, py::arg("state"), py::arg("context") = py::none(), py::arg("candidates") = py::none(),
           py::arg("budget_ms") = 0.0)
      .def("shift", &Planner::shift, py::arg("steps") = 1)
      .def(
          "reset",
          &reset_problems<Planner>,
          py::arg("b") = py::none())
      .def("mean",
           [](const Planner& p) { return new_f32({p.batch(), p.horizon(), p.action_dim()}, p.optimizer().mean()); })
      .def("std",
           [](const Planner& p) { return new_f32({p.batch(), p.horizon(), p.action_dim()}, p.optimizer().stddev()); })
      .def_property_readonly("batch", &Planner::batch)
      .def_property_readonly("state_dim", &Planner::state_dim)
      .def_property_readonly("action_dim", &Planner::action_dim)
      .def_property_readonly("context_dim", &Planner::context_dim)
      .def_property_readonly("horizon", &Planner::horizon)
      .def_property_readonly("threads", &Planner::threads)
      .def_property_readonly("lower", [](const Planner& p) { return new_f32({p.action_dim()}, p.optimizer().lower()); })
      .def_property_readonly("upper", [](const Planner& p) { return new_f32({p.action_dim()}, p.optimizer().upper()); });
}

}  // namespace planner::bind
