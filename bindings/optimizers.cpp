// OptimizerConfig and the ask/tell Optimizer for Python scorers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "arrays.h"
#include "planner/optimizers/optimizer.h"

namespace py = pybind11;

namespace planner::bind {
namespace {

// Ask/tell driver: ask() builds and samples the next population, tell() refits.
class AskTell {
 public:
  AskTell(const OptimizerConfig& c, int batch, int action_dim)
      : opt_(make_optimizer(c, batch, action_dim)), scratch_(opt_->scratch_floats() + 1) {}

  py::array_t<float> ask() {
    const int n = opt_->prepare();
    for (int b = 0; b < opt_->batch(); ++b) opt_->sample_rows(b, 0, n, scratch_.data());
    asked_ = n;
    py::array_t<float> out({opt_->batch(), n, opt_->horizon(), opt_->action_dim()});
    const std::size_t row = static_cast<std::size_t>(n) * opt_->horizon() * opt_->action_dim();
    const std::size_t full = static_cast<std::size_t>(opt_->samples()) * opt_->horizon() * opt_->action_dim();
    for (int b = 0; b < opt_->batch(); ++b)
      std::memcpy(out.mutable_data() + b * row, opt_->population() + b * full, row * sizeof(float));
    return out;
  }

  void tell(const py::handle& returns) {
    require(asked_ > 0, "tell() needs a population: call ask() first");
    auto a = as_f32(returns, "returns", "[B, N]");
    const float* r = f32_shape(a, "returns", "[B, N]", {opt_->batch(), asked_});
    opt_->update(r, asked_);
    asked_ = 0;
  }

  void set_candidates(const py::handle& cand) {
    auto a = as_f32(cand, "candidates", "[B, P, H, A]");
    const py::ssize_t P = a.ndim() == 4 ? a.shape(1) : -1;
    const float* p = f32_shape(a, "candidates", "[B, P, H, A]", {opt_->batch(), P, opt_->horizon(), opt_->action_dim()});
    opt_->set_candidates(p, static_cast<int>(P));
  }

  Optimizer& opt() { return *opt_; }

 private:
  std::unique_ptr<Optimizer> opt_;
  Buffer<float> scratch_;
  int asked_ = 0;
};

py::array_t<float> bha(const Optimizer& o, const float* p) {
  return new_f32({o.batch(), o.horizon(), o.action_dim()}, p);
}

}  // namespace

void bind_optimizers(py::module_& m) {
  py::enum_<Sampling>(m, "Sampling").value("clip", Sampling::kClip).value("truncated", Sampling::kTruncated);

  py::class_<OptimizerConfig>(m, "OptimizerConfig")
      .def(py::init<>())
      .def_readwrite("name", &OptimizerConfig::name)
      .def_readwrite("samples", &OptimizerConfig::samples)
      .def_readwrite("horizon", &OptimizerConfig::horizon)
      .def_readwrite("iterations", &OptimizerConfig::iterations)
      .def_readwrite("seed", &OptimizerConfig::seed)
      .def_readwrite("lower", &OptimizerConfig::lower)
      .def_readwrite("upper", &OptimizerConfig::upper)
      .def_readwrite("init_mean", &OptimizerConfig::init_mean)
      .def_readwrite("init_std", &OptimizerConfig::init_std)
      .def_readwrite("min_std", &OptimizerConfig::min_std)
      .def_readwrite("max_std", &OptimizerConfig::max_std)
      .def_readwrite("momentum", &OptimizerConfig::momentum)
      .def_readwrite("sampling", &OptimizerConfig::sampling)
      .def_readwrite("elites", &OptimizerConfig::elites)
      .def_readwrite("noise_beta", &OptimizerConfig::noise_beta)
      .def_readwrite("pop_decay", &OptimizerConfig::pop_decay)
      .def_readwrite("keep_elites", &OptimizerConfig::keep_elites)
      .def_readwrite("shift_elites", &OptimizerConfig::shift_elites)
      .def_readwrite("add_mean", &OptimizerConfig::add_mean)
      .def_readwrite("temperature", &OptimizerConfig::temperature)
      .def_readwrite("top_k", &OptimizerConfig::top_k)
      .def_readwrite("adapt_std", &OptimizerConfig::adapt_std);

  m.def("optimizer_names", &optimizer_names);

  py::class_<AskTell>(m, "Optimizer")
      .def(py::init<const OptimizerConfig&, int, int>(), py::arg("config"), py::arg("batch"), py::arg("action_dim"))
      .def("ask", &AskTell::ask, "Next population [B, N, H, A] (a copy).")
      .def("tell", &AskTell::tell, py::arg("returns"), "Refit from returns [B, N] of the last ask().")
      .def("begin", [](AskTell& s) { s.opt().begin(); })
      .def("shift", [](AskTell& s, int k) { s.opt().shift(k); }, py::arg("steps") = 1)
      .def(
          "reset",
          [](AskTell& s, const py::object& b) {
            if (b.is_none()) {
              s.opt().reset();
            } else {
              if (!py::isinstance<py::int_>(b) || py::isinstance<py::bool_>(b))
                throw_type_error("b: expected an int problem index or None");
              s.opt().reset_problem(b.cast<int>());
            }
          },
          py::arg("b") = py::none())
      .def("set_candidates", &AskTell::set_candidates, py::arg("candidates"))
      .def("mean", [](AskTell& s) { return bha(s.opt(), s.opt().mean()); })
      .def("std", [](AskTell& s) { return bha(s.opt(), s.opt().stddev()); })
      .def("solution", [](AskTell& s) { return bha(s.opt(), s.opt().solution()); })
      .def("best_return", [](AskTell& s) {
        std::vector<float> v(s.opt().batch());
        for (int b = 0; b < s.opt().batch(); ++b) v[b] = s.opt().best_return(b);
        return new_f32({s.opt().batch()}, v.data());
      })
      .def("nonfinite", [](AskTell& s) {
        py::array_t<int> out(s.opt().batch());
        for (int b = 0; b < s.opt().batch(); ++b) out.mutable_data()[b] = s.opt().nonfinite(b);
        return out;
      })
      .def_property_readonly("batch", [](AskTell& s) { return s.opt().batch(); })
      .def_property_readonly("samples", [](AskTell& s) { return s.opt().samples(); })
      .def_property_readonly("horizon", [](AskTell& s) { return s.opt().horizon(); })
      .def_property_readonly("action_dim", [](AskTell& s) { return s.opt().action_dim(); })
      .def_property_readonly("iteration", [](AskTell& s) { return s.opt().iteration(); })
      .def_property_readonly("lower", [](AskTell& s) { return new_f32({s.opt().action_dim()}, s.opt().lower()); })
      .def_property_readonly("upper", [](AskTell& s) { return new_f32({s.opt().action_dim()}, s.opt().upper()); });
}

}  // namespace planner::bind
