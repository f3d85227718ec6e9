"""The CUDA backend: device queries and a planner whose inputs and outputs stay on the GPU.

``planner.cuda.Planner`` runs the same ask/score/tell search as :class:`planner.Planner`
with every stage on one CUDA device, enqueued on the caller's stream. Inputs are device
arrays (torch tensors, CuPy arrays, anything with ``__cuda_array_interface__`` or
``__dlpack__``); outputs are :class:`DeviceArray` views of the planner's device buffers,
which torch and CuPy view without a copy::

    import torch, planner
    p = planner.cuda.Planner("pendulum", planner.MPPIConfig(samples=1024, horizon=20), batch=4)
    res = p.plan(torch.zeros(4, 2, device="cuda"))       # on torch's current stream
    action = torch.as_tensor(res.action, device="cuda")  # [4, 1], no copy

Nothing is converted: a wrong dtype, layout, shape or device raises
:class:`DeviceArrayError` (a ``ValueError`` and a ``TypeError``) naming the argument and
the expected shape. See docs/CUDA_PYTHON.md for streams and result lifetimes.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

from . import _core

__all__ = [
    "DeviceArray",
    "DeviceArrayError",
    "GpuPlanResult",
    "PRECISIONS",
    "Planner",
    "built",
    "device_count",
    "device_info",
    "is_available",
]

#: Matrix precisions of the latent rollout: "float32" (CUDA cores, the CPU-parity
#: reference), "tf32" and "bf16" (tensor cores, float32 accumulation).
PRECISIONS: tuple[str, ...] = (
    tuple(_core.gpu_precision_names()) if hasattr(_core, "gpu_precision_names") else ("float32", "tf32", "bf16")
)

_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_DL_DEVICES = {_DL_CPU: "cpu", _DL_CUDA: "cuda", _DL_CUDA_HOST: "cuda pinned host", _DL_CUDA_MANAGED: "cuda managed"}


def is_available() -> bool:
    """True when the CUDA backend was compiled in and a GPU is present."""
    return bool(_core.cuda_available())


def built() -> bool:
    """True when this build contains the CUDA backend (whether or not a GPU is present)."""
    return _core.build_info()["backend"] == "cuda"


def device_count() -> int:
    """CUDA devices visible (0 without the CUDA backend, a driver or a GPU)."""
    if not hasattr(_core, "gpu_device_count"):  # a native module older than the GPU bindings
        return 0
    return int(_core.gpu_device_count())


def device_info(device: int = 0) -> dict:
    """``{"index", "name", "compute_capability": (major, minor), "multiprocessors",
    "memory_bytes"}`` of CUDA device ``device``.

    Raises:
        RuntimeError: no CUDA device (or the backend is not built).
        ValueError: ``device`` out of range.
    """
    _check_device(device)
    return dict(_core.gpu_device_info(device))


def _unavailable_reason() -> str | None:
    if not hasattr(_core, "GpuPlanner"):
        return "the native module planner._core predates the GPU bindings; rebuild it"
    if not built():
        return (
            "latent-planner was built without CUDA (planner.build_info()['backend'] == 'none'); rebuild with "
            "-DPLANNER_CUDA=ON where the CUDA toolkit is installed, or plan on the CPU with planner.Planner"
        )
    if device_count() == 0:
        return (
            "latent-planner was built with CUDA but no CUDA device is visible (no GPU, no driver, or "
            "CUDA_VISIBLE_DEVICES hides them)"
        )
    return None


def _check_device(device: Any) -> None:
    if isinstance(device, bool) or not isinstance(device, int):
        raise TypeError(f"device: expected an int CUDA device index, got {type(device).__name__}")
    reason = _unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"planner.cuda: {reason}")
    n = device_count()
    if not 0 <= device < n:
        raise ValueError(f"device: expected a CUDA device index in [0, {n}), got {device}")


class DeviceArrayError(ValueError, TypeError):
    """A device array argument has the wrong dtype, layout, shape or device.

    Both a ``ValueError`` and a ``TypeError``, so callers written against the CPU planner
    (``TypeError`` for dtype and layout) and the brief of the GPU API (``ValueError``)
    both catch it.
    """


# --------------------------------------------------------------------------------------
# streams
# --------------------------------------------------------------------------------------


def _stream_handle(stream: Any) -> int:
    """A ``cudaStream_t`` as an int: an int (0 = legacy default stream), or an object
    with ``.cuda_stream`` (torch) or ``.ptr`` (CuPy)."""
    if isinstance(stream, bool):
        raise TypeError("stream: expected None, an int cudaStream_t handle or a torch/CuPy stream, got bool")
    if isinstance(stream, int):
        if stream < 0:
            raise ValueError(f"stream: expected a cudaStream_t handle >= 0, got {stream}")
        return stream
    for attr in ("cuda_stream", "ptr"):
        value = getattr(stream, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise TypeError(
        "stream: expected None, an int cudaStream_t handle or an object with .cuda_stream (torch) or .ptr (CuPy), "
        f"got {type(stream).__name__}"
    )


def _framework(x: Any) -> str:
    return type(x).__module__.partition(".")[0]


def _current_stream(x: Any, device: int) -> int:
    """The stream a plan from input ``x`` runs on by default: the current stream of
    ``x``'s framework (torch, CuPy), else the stream its ``__cuda_array_interface__``
    names (1 = legacy default, 2 = per-thread default), else the legacy default (0)."""
    fw = _framework(x)
    if fw == "torch":
        import torch

        return int(torch.cuda.current_stream(device).cuda_stream)
    if fw == "cupy":
        import cupy

        with cupy.cuda.Device(device):
            return int(cupy.cuda.get_current_stream().ptr)
    cai = getattr(x, "__cuda_array_interface__", None)
    if isinstance(cai, dict) and isinstance(cai.get("stream"), int):
        s = cai["stream"]
        return 0 if s == 1 else s
    return 0


def _same_stream(a: int, b: int) -> bool:
    return a == b or {a, b} == {0, 1}  # 0 and 1 both name the legacy default stream


def _wait_stream(consumer: int, producer: int, device: int) -> None:
    """Makes work enqueued later on ``consumer`` wait for the work already enqueued on
    ``producer`` (an event, no host synchronization), through torch or CuPy."""
    if _same_stream(consumer, producer):
        return
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():

            def torch_stream(handle: int):
                if handle in (0, 1):
                    return torch.cuda.default_stream(device)
                return torch.cuda.ExternalStream(handle, device=device)

            torch_stream(consumer).wait_stream(torch_stream(producer))
            return
    if "cupy" in sys.modules:
        import cupy

        with cupy.cuda.Device(device):
            event = cupy.cuda.Event(disable_timing=True)
            event.record(cupy.cuda.ExternalStream(producer))
            cupy.cuda.ExternalStream(consumer).wait_event(event)
        return
    raise RuntimeError(
        f"cannot order stream {consumer:#x} after stream {producer:#x}: neither torch nor CuPy (with CUDA) is "
        "imported; plan on the input's stream or synchronize before planning"
    )


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------


def _letters(letters: str, shape: tuple[int, ...]) -> str:
    return f"{letters} = {list(shape)}"


def _describe(x: Any) -> str:
    """What was passed, e.g. ``torch.float64 [4, 17] on cuda:0``."""
    fw = _framework(x)
    try:
        if fw == "torch":
            return f"{x.dtype} {list(x.shape)} on {x.device}"
        if fw == "cupy":
            return f"cupy {x.dtype} {list(x.shape)} on cuda:{x.device.id}"
        if isinstance(x, np.ndarray):
            return f"numpy {x.dtype} {list(x.shape)} in host memory"
        cai = getattr(x, "__cuda_array_interface__", None)
        if isinstance(cai, dict):
            return f"{type(x).__name__} typestr {cai.get('typestr')!r} {list(cai.get('shape', ()))} (CUDA array)"
    except Exception:  # a broken object: describe it by its type only
        pass
    return type(x).__name__


def _c_contiguous(shape: tuple[int, ...], strides: tuple[int, ...] | None, itemsize: int) -> bool:
    """True for strides None or C-contiguous strides (in units of ``itemsize``; extents of
    1 may carry any stride)."""
    if strides is None:
        return True
    if len(strides) != len(shape):
        return False
    expected = itemsize
    for n, s in zip(reversed(shape), reversed(strides), strict=True):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _fail(name: str, letters: str, shape: tuple[int, ...], x: Any, why: str = "", exc=DeviceArrayError):
    hint = f" ({why})" if why else ""
    raise exc(f"{name}: expected a float32 CUDA array of shape {_letters(letters, shape)}, got {_describe(x)}{hint}")


def _check_dl_device(x: Any, name: str, letters: str, shape: tuple[int, ...], device: int) -> None:
    dev = getattr(x, "__dlpack_device__", None)
    if dev is None:
        return  # nothing says which device: the pointer is trusted
    kind, index = (int(v) for v in dev())
    if kind not in (_DL_CUDA, _DL_CUDA_MANAGED):
        where = _DL_DEVICES.get(kind, f"DLPack device type {kind}")
        _fail(name, letters, shape, x, f"memory on {where}; copy it to cuda:{device} explicitly")
    if index != device:
        _fail(name, letters, shape, x, f"on cuda:{index}, the planner is on cuda:{device}")


def _device_input(x: Any, name: str, letters: str, shape: tuple[int, ...], device: int, stream: int):
    """``(pointer, keep)`` of device array ``x`` after checking float32, ``shape``,
    C-contiguity and ``device``; ``keep`` must outlive the plan call (a consumed DLPack
    capsule, released when it dies). Raises :class:`DeviceArrayError` or ``ValueError``
    (shape) naming ``name`` and ``letters``.

    Inputs are read in stream order on ``stream``: a ``__cuda_array_interface__`` v3
    producer stream other than ``stream`` is waited for (through torch or CuPy).
    """
    if x is None:
        raise DeviceArrayError(f"{name}: expected a float32 CUDA array of shape {_letters(letters, shape)}, got None")
    if _framework(x) == "torch":
        import torch

        if x.device.type != "cuda":
            _fail(name, letters, shape, x, f"host memory; copy it explicitly with .to('cuda:{device}')")
        if x.dtype != torch.float32:
            _fail(name, letters, shape, x, "convert explicitly with .float()")
        if tuple(x.shape) != shape:
            _fail(name, letters, shape, x, exc=ValueError)
        if not x.is_contiguous():
            _fail(name, letters, shape, x, "a strided view; use .contiguous()")
        if x.device.index != device:
            _fail(name, letters, shape, x, f"the planner is on cuda:{device}")
        return x.data_ptr(), None
    cai = getattr(x, "__cuda_array_interface__", None)
    if isinstance(cai, dict):
        if cai.get("typestr") != "<f4":
            _fail(name, letters, shape, x, "convert explicitly to float32")
        if cai.get("mask") is not None:
            _fail(name, letters, shape, x, "masked arrays are not supported")
        got = tuple(int(n) for n in cai.get("shape", ()))
        if got != shape:
            _fail(name, letters, shape, x, exc=ValueError)
        if not _c_contiguous(got, cai.get("strides"), 4):
            _fail(name, letters, shape, x, f"strides {cai.get('strides')} are not C-contiguous")
        _check_dl_device(x, name, letters, shape, device)
        ptr = int(cai["data"][0])
        if ptr % 4:
            _fail(name, letters, shape, x, "misaligned data pointer")
        producer = cai.get("stream")
        if cai.get("version", 0) >= 3 and isinstance(producer, int):
            _wait_stream(stream, 0 if producer == 1 else producer, device)
        return ptr, None
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        _check_dl_device(x, name, letters, shape, device)
        # Per the protocol the producer makes the data ready on our stream (1 = legacy default).
        view = _core.DlpackInput(x.__dlpack__(stream=stream or 1))
        try:
            if view.dtype != (2, 32, 1):
                code, bits, lanes = view.dtype
                _fail(name, letters, shape, x, f"DLPack dtype code {code}, {bits} bits, {lanes} lanes")
            if tuple(view.shape) != shape:
                _fail(name, letters, shape, x, f"DLPack shape {list(view.shape)}", exc=ValueError)
            if not _c_contiguous(tuple(view.shape), view.strides, 1):
                _fail(name, letters, shape, x, f"DLPack strides {view.strides} are not C-contiguous")
            if view.data % 4:
                _fail(name, letters, shape, x, "misaligned data pointer")
        except Exception:
            view.release()
            raise
        return view.data, view
    if isinstance(x, np.ndarray) or hasattr(x, "__array_interface__"):
        _fail(name, letters, shape, x, f"host memory; copy it to cuda:{device} explicitly")
    _fail(name, letters, shape, x, "no __cuda_array_interface__ or __dlpack__")


# --------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------


class DeviceArray:
    """A float32, C-contiguous view of a planner-owned device buffer.

    Exposes ``__cuda_array_interface__`` (v3) and ``__dlpack__`` so that
    ``torch.as_tensor(a, device="cuda")``, ``torch.from_dlpack(a)`` and
    ``cupy.asarray(a)`` view it without a copy. The data is that of one plan: the next
    ``plan()``, ``shift()`` or ``reset()`` of its planner overwrites it. Creating a new
    view after that raises ``RuntimeError`` (views made before keep reading the buffer:
    ``.clone()`` them to keep the values). The planner's memory stays allocated while any
    view exists.
    """

    __slots__ = ("ptr", "shape", "device", "stream", "_planner", "_generation")
    dtype = "float32"

    def __init__(self, ptr: int, shape: tuple[int, ...], device: int, stream: int, planner: Planner) -> None:
        self.ptr = ptr
        self.shape = shape
        self.device = device
        self.stream = stream  # the stream the data is produced on
        self._planner = planner
        self._generation = planner._generation

    @property
    def valid(self) -> bool:
        """False once the planner has planned, shifted or reset since this result."""
        return self._generation == self._planner._generation

    def _check(self) -> None:
        if not self.valid:
            raise RuntimeError(
                "stale planner result: the planner has planned, shifted or reset since; keep a copy (e.g. "
                "torch.as_tensor(res.action, device='cuda').clone()) before the next plan"
            )

    @property
    def __cuda_array_interface__(self) -> dict:
        self._check()
        return {
            "version": 3,
            "shape": self.shape,
            "typestr": "<f4",
            "descr": [("", "<f4")],
            "data": (self.ptr, False),
            "strides": None,
            "stream": self.stream or 1,  # 1: the legacy default stream (0 is not allowed)
        }

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_DL_CUDA, self.device)

    def __dlpack__(self, *, stream: int | None = None, max_version=None, dl_device=None, copy: bool | None = None):
        """A DLPack capsule; the data is made ready on the consumer's ``stream`` (None or
        1: the legacy default stream, -1: no ordering)."""
        self._check()
        if copy:
            raise BufferError("DeviceArray: __dlpack__(copy=True) is not supported; copy after import")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"DeviceArray: lives on cuda:{self.device}, cannot export to {dl_device}")
        if stream != -1:
            _wait_stream(0 if stream in (None, 1) else int(stream), self.stream, self.device)
        return _core.to_dlpack(self.ptr, list(self.shape), _DL_CUDA, self.device, self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __repr__(self) -> str:
        state = "" if self.valid else ", stale"
        return f"DeviceArray(float32 {list(self.shape)} on cuda:{self.device}, ptr={self.ptr:#x}{state})"


class GpuPlanResult:
    """One GPU plan. For a batched state [B, S]: ``action`` [B, A], ``plan`` [B, H, A],
    ``best_return`` [B]; for an unbatched state [S] (B = 1): [A], [H, A] and [].

    Attributes:
        action, plan, best_return: :class:`DeviceArray` views of device buffers, ready in
            stream order on ``stream``; overwritten by the planner's next plan / shift / reset.
        iterations: optimizer iterations run.
        stream: the ``cudaStream_t`` (int; 0 = legacy default) the plan was enqueued on.
    """

    __slots__ = ("action", "plan", "best_return", "iterations", "stream", "_planner", "_flat")

    def __init__(self, planner: Planner, ptrs: tuple, stream: int, flat: bool) -> None:
        B, H, A, dev = planner.batch, planner.horizon, planner.action_dim, planner.device
        action, plan, best, self.iterations = ptrs
        lead = () if flat else (B,)
        self.action = DeviceArray(action, lead + (A,), dev, stream, planner)
        self.plan = DeviceArray(plan, lead + (H, A), dev, stream, planner)
        self.best_return = DeviceArray(best, lead, dev, stream, planner)
        self.stream = stream
        self._planner = planner
        self._flat = flat

    def action_host(self) -> np.ndarray:
        """The action copied into a new numpy array ([B, A], or [A] unbatched); waits for
        the plan and the copy (the host's only synchronization)."""
        self.action._check()
        out = self._planner._core.copy_action(self.stream)
        return out[0] if self._flat else out

    def __repr__(self) -> str:
        return f"GpuPlanResult(action={self.action!r}, iterations={self.iterations}, stream={self.stream:#x})"


# --------------------------------------------------------------------------------------
# the planner
# --------------------------------------------------------------------------------------


def _resolve_scorer(scorer: Any, params: dict | None) -> tuple[Any, dict]:
    """``(analytic name or _core.WorldModel, params)``; ValueError/TypeError naming ``scorer``."""
    if isinstance(scorer, _core.WorldModel):
        if params:
            raise ValueError("params: apply only to an analytic scorer name, not to a world model")
        return scorer, {}
    if isinstance(scorer, (str, os.PathLike)):
        name = os.fspath(scorer)
        if name in _core.scorer_names():
            if params is not None and not isinstance(params, dict):
                raise TypeError(f"params: expected a dict of floats or None, got {type(params).__name__}")
            _core.Scorer(name, params or {})  # checks the parameter names and values
            return name, dict(params or {})
        if os.path.isfile(name):
            if params:
                raise ValueError("params: apply only to an analytic scorer name, not to a model file")
            return _core.WorldModel.load(name), {}
        raise ValueError(
            f"scorer: expected an analytic scorer name (one of {sorted(_core.scorer_names())}), a model file or a "
            f"planner.WorldModel, got {scorer!r} (no such scorer or file)"
        )
    raise TypeError(f"scorer: expected a scorer name, a model file path or a planner.WorldModel, got {type(scorer)}")


def _check_int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {value}")


class Planner:
    """Batched sampling-based MPC planner on one CUDA device (same search as
    :class:`planner.Planner`; for the same config and seed the samples are the CPU's).

    Args:
        scorer: an analytic scorer name ("pendulum", "diff_drive", ...), a model file
            path, or a :class:`planner.WorldModel`.
        config: `CEMConfig`, `ICEMConfig` or `MPPIConfig`.
        batch: B, problems (robots) solved per call.
        seed: RNG seed (the same samples as the CPU planner with this seed).
        device: CUDA device index.
        precision: matrix precision of the latent rollout: "float32", "tf32" or "bf16".
        params: parameters of an analytic scorer (e.g. {"m": 1.2}).
        disagreement: weight of the ensemble-disagreement penalty (latent model, M >= 2).
        terminal_value: add the model's terminal value when it has one.
        shift_after_plan: steps the warm start is shifted after each plan (0: none).
        lower, upper: action box [A] (default: the scorer's box).

    Raises:
        ValueError, TypeError: a bad argument (checked first, also without a GPU).
        RuntimeError: built without CUDA, or no CUDA device.
    """

    def __init__(
        self,
        scorer: Any,
        config: Any,
        *,
        batch: int = 1,
        seed: int = 0,
        device: int = 0,
        precision: str = "float32",
        params: dict | None = None,
        disagreement: float = 0.0,
        terminal_value: bool = True,
        shift_after_plan: int = 1,
        lower: Any = None,
        upper: Any = None,
    ) -> None:
        from .config import CEMConfig, ICEMConfig, MPPIConfig

        if not isinstance(config, (CEMConfig, ICEMConfig, MPPIConfig)):
            raise TypeError(f"config: expected CEMConfig, ICEMConfig or MPPIConfig, got {type(config).__name__}")
        if not isinstance(precision, str) or precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
        _check_int("batch (B)", batch, 1)
        _check_int("shift_after_plan", shift_after_plan, 0)
        if isinstance(device, bool) or not isinstance(device, int) or device < 0:
            raise ValueError(f"device: expected a CUDA device index >= 0, got {device!r}")
        if isinstance(disagreement, bool) or not isinstance(disagreement, (int, float)):
            raise TypeError(f"disagreement: expected a float, got {type(disagreement).__name__}")
        if not (math.isfinite(disagreement) and disagreement >= 0):
            raise ValueError(f"disagreement: expected a finite float >= 0, got {disagreement}")
        if not isinstance(terminal_value, bool):
            raise TypeError(f"terminal_value: expected a bool, got {type(terminal_value).__name__}")
        model_or_name, params = _resolve_scorer(scorer, params)
        core_cfg = config.to_core(seed=seed, lower=lower, upper=upper)
        _check_device(device)
        self.config = config
        self.precision = precision
        self.model = model_or_name if isinstance(model_or_name, _core.WorldModel) else None
        self._generation = 0
        self._core = _core.GpuPlanner(
            core_cfg,
            model_or_name,
            params=params,
            disagreement=float(disagreement),
            terminal_value=terminal_value,
            precision=precision,
            batch=batch,
            device=device,
            shift_after_plan=shift_after_plan,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike, config: Any, **kwargs: Any) -> Planner:
        """A planner scored by the latent world model in a model file (as
        :meth:`planner.Planner.from_file`); ``kwargs`` as for :class:`Planner`."""
        return cls(_core.WorldModel.load(os.fspath(path)), config, **kwargs)

    # -- properties -------------------------------------------------------------------
    batch = property(lambda self: self._core.batch, doc="B.")
    state_dim = property(lambda self: self._core.state_dim, doc="S, the state (observation) size.")
    action_dim = property(lambda self: self._core.action_dim, doc="A.")
    context_dim = property(lambda self: self._core.context_dim, doc="C (0: the scorer takes no context).")
    horizon = property(lambda self: self._core.horizon, doc="H.")
    samples = property(lambda self: self._core.samples, doc="N.")
    device = property(lambda self: self._core.device, doc="The CUDA device index.")
    scorer_name = property(lambda self: self._core.scorer_name, doc="The scorer's name.")

    # -- planning ---------------------------------------------------------------------
    def plan(self, state: Any, context: Any = None, stream: Any = None) -> GpuPlanResult:
        """Enqueues one plan on ``stream`` and returns without waiting for it.

        Args:
            state: [B, S] (or [S] when B = 1) float32 C-contiguous device array on the
                planner's device (for a latent model: the raw observation).
            context: [B, C] (or [C]) device array, required when ``context_dim > 0``.
            stream: None (the current stream of the input's framework: torch, CuPy, or
                the stream its ``__cuda_array_interface__`` names, else the legacy
                default), an int ``cudaStream_t`` (0 = legacy default), or a torch/CuPy
                stream object. Inputs must be ready in that stream's order.

        Returns:
            :class:`GpuPlanResult` whose arrays are ready in stream order on ``stream``.
        """
        B, S, C, dev = self.batch, self.state_dim, self.context_dim, self.device
        flat = B == 1 and _ndim(state) == 1
        s = _current_stream(state, dev) if stream is None else _stream_handle(stream)
        sp, keep_s = _device_input(state, "state", "[S]" if flat else "[B, S]", (S,) if flat else (B, S), dev, s)
        cp, keep_c = 0, None
        if C > 0:
            if context is None:
                raise ValueError(f"context [B, C] is required: the scorer takes a context of C={C}")
            ctx_shape = (C,) if flat else (B, C)
            cp, keep_c = _device_input(context, "context", "[C]" if flat else "[B, C]", ctx_shape, dev, s)
        elif context is not None:
            raise ValueError("context: this scorer takes no context (C=0); pass None")
        try:
            ptrs = self._core.plan(sp, cp, s)
        finally:
            self._generation += 1
            for keep in (keep_s, keep_c):
                if keep is not None:
                    keep.release()
        return GpuPlanResult(self, ptrs, s, flat)

    def shift(self, steps: int = 1) -> None:
        """Warm start by hand: drop the first ``steps`` steps of the current plan."""
        _check_int("steps", steps, 0)
        self._generation += 1
        self._core.shift(steps)

    def reset(self, b: int | None = None) -> None:
        """Back to the initial distribution (episode start); ``b``: only problem b."""
        self._generation += 1
        self._core.reset(b)

    def last_iteration(self) -> tuple[np.ndarray, np.ndarray]:
        """Test hook: the last plan's last-iteration population [B, N, H, A] and its
        returns [B, N], copied to the host (synchronizes the device)."""
        return self._core.copy_last_iteration()

    def __repr__(self) -> str:
        return (
            f"planner.cuda.Planner({self.scorer_name!r}, {type(self.config).__name__}, batch={self.batch}, "
            f"device={self.device}, precision={self.precision!r})"
        )


def _ndim(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is None:
        cai = getattr(x, "__cuda_array_interface__", None)
        shape = cai.get("shape", ()) if isinstance(cai, dict) else ()
    return len(shape)
