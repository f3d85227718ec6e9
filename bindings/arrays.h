// Zero-copy access to caller arrays, or a clear error. Inputs must be float32,
// C-contiguous, aligned numpy arrays of the expected shape; nothing is converted.
// Messages name the argument, the expected shape in DESIGN.md letters and what came.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "planner/common/errors.h"

namespace planner::bind {

namespace py = pybind11;

inline std::string describe(const py::array& a) {
  std::string s = "shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += std::to_string(a.shape(i)) + (a.ndim() == 1 || i + 1 < a.ndim() ? "," : "");
  s += ") dtype " + py::str(a.dtype()).cast<std::string>();
  return s;
}

inline std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + (i + 1 < shape.size() ? ", " : "");
  return s + ")";
}

// Returns the array if obj is a float32, C-contiguous, aligned ndarray; else throws
// TypeError naming `name` and the expected `letters` (e.g. "[B, S]").
inline py::array as_f32(const py::handle& obj, const char* name, const char* letters) {
  if (!py::isinstance<py::array>(obj))
    throw_type_error(name, ": expected a float32 numpy array ", letters, ", got ",
                     py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>());
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().num() != py::dtype::of<float>().num() || a.dtype().byteorder() == '>')
    throw_type_error(name, ": expected dtype float32 ", letters, ", got ", describe(a),
                     " (convert explicitly with .astype(np.float32))");
  if (!(a.flags() & py::array::c_style) || !(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw_type_error(name, ": expected a C-contiguous, aligned array ", letters, ", got a strided view with ",
                     describe(a), " (use np.ascontiguousarray)");
  return a;
}

// Checks the exact shape; `letters` documents it, e.g. "[B, N]".
inline const float* f32_shape(const py::array& a, const char* name, const char* letters,
                              const std::vector<py::ssize_t>& shape) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (!ok) throw_value_error(name, ": expected shape ", letters, " = ", shape_str(shape), ", got ", describe(a));
  return static_cast<const float*>(a.data());
}

// The optional context [C] of a scorer call: required when C > 0, refused when C = 0.
// `keep` holds the array alive while the pointer is used.
inline const float* context_arg(int C, const py::handle& obj, py::array& keep) {
  if (C == 0) {
    if (!obj.is_none()) throw_value_error("context: this scorer takes no context (C=0); pass None");
    return nullptr;
  }
  if (obj.is_none()) throw_value_error("context [C] is required: this scorer takes C=", C);
  keep = as_f32(obj, "context", "[C]");
  return f32_shape(keep, "context", "[C]", {C});
}

inline py::array_t<float> new_f32(const std::vector<py::ssize_t>& shape, const float* src) {
  py::array_t<float> out(shape);
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  if (n) std::memcpy(out.mutable_data(), src, n * sizeof(float));
  return out;
}

// reset(b=None) of a planner: all problems, or problem b (an int, not a bool).
template <class PlannerT>
void reset_problems(PlannerT& p, const py::object& b) {
  if (b.is_none()) {
    p.reset();
    return;
  }
  if (!py::isinstance<py::int_>(b) || py::isinstance<py::bool_>(b))
    throw_type_error("b: expected an int problem index or None");
  p.reset(b.cast<int>());
}

}  // namespace planner::bind
