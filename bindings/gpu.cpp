// The CUDA planner (planner::gpu::GpuPlanner) and a minimal DLPack consumer and producer.
// planner/cuda.py validates device arrays (dtype, shape, layout, device) and passes raw
// pointers and stream handles as ints; nothing here calls the CUDA runtime, so this file
// compiles the same with or without the CUDA backend (CUDA by substitution).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "arrays.h"
#include "backend/gpu.h"
#include "planner/models/world_model.h"

namespace py = pybind11;

namespace planner::bind {
namespace {

// --- DLPack ABI (unversioned "dltensor" capsules), declared from the public spec -------
struct DlDevice {
  std::int32_t type;  // 1 CPU, 2 CUDA, 3 CUDA host (pinned), 13 CUDA managed
  std::int32_t id;
};
struct DlDtype {
  std::uint8_t code;  // 0 int, 1 uint, 2 float, 4 bfloat
  std::uint8_t bits;
  std::uint16_t lanes;
};
struct DlTensor {
  void* data;
  DlDevice device;
  std::int32_t ndim;
  DlDtype dtype;
  std::int64_t* shape;    // [ndim]
  std::int64_t* strides;  // [ndim] in elements, or null for C-contiguous
  std::uint64_t byte_offset;
};
struct DlManaged {
  DlTensor tensor;
  void* ctx;
  void (*deleter)(DlManaged* self);
};
constexpr const char* kCapsule = "dltensor";
constexpr const char* kUsedCapsule = "used_dltensor";

// A consumed DLPack capsule: the producer's tensor stays alive until release() (or this
// object dies), which calls the producer's deleter exactly once, per the protocol.
class DlpackInput {
 public:
  explicit DlpackInput(const py::capsule& capsule) {
    PyObject* cap = capsule.ptr();
    if (!PyCapsule_IsValid(cap, kCapsule))
      throw_type_error("expected an unconsumed DLPack capsule named 'dltensor' (was it used already?)");
    managed_ = static_cast<DlManaged*>(PyCapsule_GetPointer(cap, kCapsule));
    if (managed_ == nullptr) throw py::error_already_set();
    if (PyCapsule_SetName(cap, kUsedCapsule) != 0) throw py::error_already_set();
  }
  ~DlpackInput() { release(); }
  DlpackInput(const DlpackInput&) = delete;
  DlpackInput& operator=(const DlpackInput&) = delete;

  void release() {
    if (managed_ != nullptr && managed_->deleter != nullptr) managed_->deleter(managed_);
    managed_ = nullptr;
  }
  const DlTensor& tensor() const {
    if (managed_ == nullptr) throw_value_error("DLPack input: already released");
    return managed_->tensor;
  }
  std::uintptr_t data() const {
    const DlTensor& t = tensor();
    return reinterpret_cast<std::uintptr_t>(t.data) + static_cast<std::uintptr_t>(t.byte_offset);
  }
  py::tuple shape() const {
    const DlTensor& t = tensor();
    py::tuple s(t.ndim);
    for (int i = 0; i < t.ndim; ++i) s[i] = t.shape[i];
    return s;
  }
  py::object strides() const {
    const DlTensor& t = tensor();
    if (t.strides == nullptr) return py::none();
    py::tuple s(t.ndim);
    for (int i = 0; i < t.ndim; ++i) s[i] = t.strides[i];
    return s;
  }

 private:
  DlManaged* managed_ = nullptr;
};

// A DLPack export of a float32 buffer we own: `owner` (the Python object whose lifetime
// keeps the buffer valid) is referenced until the consumer calls the deleter.
struct Exported {
  DlManaged managed{};
  std::vector<std::int64_t> shape;
  PyObject* owner = nullptr;
};

void exported_deleter(DlManaged* m) {
  auto* e = static_cast<Exported*>(m->ctx);
  {
    py::gil_scoped_acquire gil;  // consumers may delete from any thread
    Py_XDECREF(e->owner);
  }
  delete e;
}

void capsule_destructor(PyObject* cap) {
  // Still named "dltensor": nobody consumed it, so the producer cleans up.
  if (PyCapsule_IsValid(cap, kCapsule)) {
    auto* m = static_cast<DlManaged*>(PyCapsule_GetPointer(cap, kCapsule));
    if (m != nullptr && m->deleter != nullptr) m->deleter(m);
  }
}

py::capsule to_dlpack(std::uintptr_t data, const std::vector<std::int64_t>& shape, int device_type, int device_id,
                      const py::object& owner) {
  for (auto d : shape)
    if (d < 0) throw_value_error("to_dlpack: negative extent in shape");
  auto e = std::make_unique<Exported>();
  e->shape = shape;
  DlTensor& t = e->managed.tensor;
  t.data = reinterpret_cast<void*>(data);
  t.device = DlDevice{device_type, device_id};
  t.ndim = static_cast<std::int32_t>(shape.size());
  t.dtype = DlDtype{2, 32, 1};
  t.shape = e->shape.empty() ? nullptr : e->shape.data();
  t.strides = nullptr;  // C-contiguous
  t.byte_offset = 0;
  e->managed.ctx = e.get();
  e->managed.deleter = &exported_deleter;
  e->owner = owner.ptr();
  Py_INCREF(e->owner);
  PyObject* cap = PyCapsule_New(&e->managed, kCapsule, &capsule_destructor);
  if (cap == nullptr) {
    Py_DECREF(e->owner);
    throw py::error_already_set();
  }
  e.release();  // owned by the capsule (or its consumer) from here on
  return py::reinterpret_steal<py::capsule>(cap);
}

// --- the planner ------------------------------------------------------------------------
void* as_ptr(std::uintptr_t p) { return reinterpret_cast<void*>(p); }
std::uintptr_t as_int(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

std::unique_ptr<gpu::GpuPlanner> make_planner(const OptimizerConfig& config, const py::object& scorer,
                                              const Params& params, float disagreement, bool terminal_value,
                                              const std::string& precision, int batch, int device, int shift) {
  gpu::ScorerSpec spec;
  if (py::isinstance<py::str>(scorer)) {
    spec.analytic = scorer.cast<std::string>();
    spec.params = params;
  } else if (py::isinstance<WorldModel>(scorer)) {
    if (!params.empty()) throw_value_error("params: apply only to an analytic scorer, not to a world model");
    spec.model = scorer.cast<std::shared_ptr<WorldModel>>();
  } else {
    throw_type_error("scorer: expected an analytic scorer name or a WorldModel, got ",
                     py::str(py::type::handle_of(scorer).attr("__name__")).cast<std::string>());
  }
  spec.latent = LatentOptions{disagreement, terminal_value};
  spec.precision = gpu::parse_precision(precision);
  py::gil_scoped_release release;  // uploading a model takes a while
  return std::make_unique<gpu::GpuPlanner>(config, spec, batch, device, shift);
}

}  // namespace

void bind_gpu(py::module_& m) {
  m.def("gpu_device_count", &gpu::device_count, "CUDA devices visible (0 without the CUDA backend or a GPU).");
  m.def(
      "gpu_device_info",
      [](int device) {
        const gpu::DeviceInfo info = gpu::device_info(device);
        py::dict d;
        d["index"] = info.index;
        d["name"] = info.name;
        d["compute_capability"] = py::make_tuple(info.cc_major, info.cc_minor);
        d["multiprocessors"] = info.multiprocessors;
        d["memory_bytes"] = info.memory_bytes;
        return d;
      },
      py::arg("device"));
  m.def(
      "gpu_precision_names",
      [] {
        std::vector<std::string> names;
        for (auto p : {gpu::Precision::kFloat32, gpu::Precision::kTF32, gpu::Precision::kBF16})
          names.push_back(gpu::precision_name(p));
        return names;
      },
      "Matrix precisions of the GPU latent rollout.");

  py::class_<DlpackInput>(m, "DlpackInput",
                          "A consumed DLPack capsule; release() (or deletion) calls the producer's deleter.")
      .def(py::init<const py::capsule&>(), py::arg("capsule"))
      .def("release", &DlpackInput::release)
      .def_property_readonly("data", &DlpackInput::data, "Address of the first element (byte_offset applied).")
      .def_property_readonly("device", [](const DlpackInput& d) {
        return py::make_tuple(d.tensor().device.type, d.tensor().device.id);
      })
      .def_property_readonly("dtype", [](const DlpackInput& d) {
        const DlDtype t = d.tensor().dtype;
        return py::make_tuple(int(t.code), int(t.bits), int(t.lanes));
      })
      .def_property_readonly("shape", &DlpackInput::shape)
      .def_property_readonly("strides", &DlpackInput::strides, "Strides in elements, or None (C-contiguous).");
  m.def("to_dlpack", &to_dlpack, py::arg("data"), py::arg("shape"), py::arg("device_type"), py::arg("device_id"),
        py::arg("owner"),
        "A 'dltensor' capsule viewing a C-contiguous float32 buffer; holds `owner` until the consumer is done.");

  py::class_<gpu::GpuPlanner>(m, "GpuPlanner")
      .def(py::init(&make_planner), py::arg("config"), py::arg("scorer"), py::arg("params") = Params{},
           py::arg("disagreement") = 0.0f, py::arg("terminal_value") = true, py::arg("precision") = "float32",
           py::arg("batch") = 1, py::arg("device") = 0, py::arg("shift_after_plan") = 1)
      .def(
          "plan",
          [](gpu::GpuPlanner& p, std::uintptr_t state, std::uintptr_t context, std::uintptr_t stream) {
            const gpu::GpuPlanResult* r;
            {
              py::gil_scoped_release release;
              r = &p.plan(static_cast<const float*>(as_ptr(state)), static_cast<const float*>(as_ptr(context)),
                          as_ptr(stream));
            }
            return py::make_tuple(as_int(r->action), as_int(r->plan), as_int(r->best_return), r->iterations);
          },
          py::arg("state"), py::arg("context"), py::arg("stream"),
          "Enqueues a plan on `stream` from device pointers state [B, S] and context [B, C] (0 when C = 0); "
          "returns device pointers (action [B, A], plan [B, H, A], best_return [B]) and the iterations.")
      .def(
          "copy_action",
          [](gpu::GpuPlanner& p, std::uintptr_t stream) {
            py::array_t<float> out({p.batch(), p.action_dim()});
            float* host = out.mutable_data();
            {
              py::gil_scoped_release release;
              p.copy_action(host, as_ptr(stream));
            }
            return out;
          },
          py::arg("stream"), "The last plan's action [B, A] copied to host memory (waits for the copy).")
      .def("shift", &gpu::GpuPlanner::shift, py::arg("steps") = 1)
      .def(
          "reset",
          &reset_problems<gpu::GpuPlanner>,
          py::arg("b") = py::none())
      .def_property_readonly("last_population",
                             [](const gpu::GpuPlanner& p) {
                               return py::make_tuple(as_int(p.last_population()), p.last_population_rows());
                             })
      .def_property_readonly("last_returns", [](const gpu::GpuPlanner& p) { return as_int(p.last_returns()); })
      .def(
          "copy_last_iteration",
          [](const gpu::GpuPlanner& p) {
            std::vector<float> pop, ret;
            {
              py::gil_scoped_release release;
              p.copy_last_iteration(pop, ret);
            }
            // The buffers hold N >= rows sample slots per problem ([B, N, H, A], [B, N]);
            // the first `rows` of each problem are the last iteration's population.
            const py::ssize_t B = p.batch(), HA = static_cast<py::ssize_t>(p.horizon()) * p.action_dim();
            const py::ssize_t rows = p.last_population_rows();
            const auto n_pop = static_cast<py::ssize_t>(pop.size()), n_ret = static_cast<py::ssize_t>(ret.size());
            const py::ssize_t slots = n_ret / B;
            if (rows < 1 || n_ret != B * slots || slots < rows || n_pop != B * slots * HA)
              throw std::runtime_error(cat("copy_last_iteration: got ", pop.size(), " population and ", ret.size(),
                                           " return floats for B=", B, ", ", rows, " rows, H*A=", HA));
            py::array_t<float> population({B, rows, static_cast<py::ssize_t>(p.horizon()),
                                           static_cast<py::ssize_t>(p.action_dim())});
            py::array_t<float> returns({B, rows});
            for (py::ssize_t b = 0; b < B; ++b) {
              std::memcpy(population.mutable_data() + b * rows * HA, pop.data() + b * slots * HA,
                          static_cast<std::size_t>(rows * HA) * sizeof(float));
              std::memcpy(returns.mutable_data() + b * rows, ret.data() + b * slots,
                          static_cast<std::size_t>(rows) * sizeof(float));
            }
            return py::make_tuple(population, returns);
          },
          "Test hook: the last iteration's population [B, N, H, A] and returns [B, N] on the host (synchronizes).")
      .def_property_readonly("batch", &gpu::GpuPlanner::batch)
      .def_property_readonly("state_dim", &gpu::GpuPlanner::state_dim)
      .def_property_readonly("action_dim", &gpu::GpuPlanner::action_dim)
      .def_property_readonly("context_dim", &gpu::GpuPlanner::context_dim)
      .def_property_readonly("horizon", &gpu::GpuPlanner::horizon)
      .def_property_readonly("samples", &gpu::GpuPlanner::samples)
      .def_property_readonly("device", &gpu::GpuPlanner::device)
      .def_property_readonly("scorer_name", &gpu::GpuPlanner::scorer_name);
}

}  // namespace planner::bind
