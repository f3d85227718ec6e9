"""latent-planner: batched CEM / iCEM / MPPI planning with a native C++ core.

Quick start::

    import numpy as np, planner
    p = planner.Planner("pendulum", planner.MPPIConfig(samples=1000, horizon=20, sigma=1.0))
    action = p.plan(np.array([3.1, 0.0], np.float32)).action
"""

from . import _core
from ._version import __version__
from .config import CEMConfig, ICEMConfig, MPPIConfig, OptimizerConfig, config_from_dict
from .planner import ContextEncoder, LatentScorer, Planner, PlanResult, PythonScorer, Scorer, WorldModel

Optimizer = _core.Optimizer


def build_info() -> dict:
    """What this build contains: version, backend ("none" or "cuda"), compiler, SIMD;
    ``cuda``: the CUDA backend is built in; ``cuda_devices``: CUDA devices visible."""
    info = dict(_core.build_info())
    info["blas"] = _core.gemm_backend()
    info["cuda"] = cuda.built()
    info["cuda_devices"] = cuda.device_count()
    return info


def optimizer_names() -> list[str]:
    """Registered optimizer names."""
    return list(_core.optimizer_names())


def scorer_names() -> list[str]:
    """Registered native analytic scorer names."""
    return list(_core.scorer_names())


from . import cuda  # noqa: E402

__all__ = [
    "__version__",
    "CEMConfig",
    "ICEMConfig",
    "MPPIConfig",
    "OptimizerConfig",
    "Optimizer",
    "Planner",
    "PlanResult",
    "PythonScorer",
    "Scorer",
    "ContextEncoder",
    "LatentScorer",
    "WorldModel",
    "build_info",
    "config_from_dict",
    "cuda",
    "optimizer_names",
    "scorer_names",
]
