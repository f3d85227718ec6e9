"""Dynamics edits and dynamics-shift wrappers for gymnasium / MuJoCo tasks (ShiftBench).

`dynamics` scales physical parameters in place; `shifts` turns JSON shift specs into a
`ShiftWrapper` (modeled, unmodeled and time-varying shifts); `suites` holds the
ShiftBench suites as data. See docs/SHIFTS.md.
"""

from __future__ import annotations

from .dynamics import (
    MUJOCO_FIELDS,
    MUJOCO_PARAMETERS,
    PENDULUM_PARAMETERS,
    apply_dynamics,
    dynamics_kind,
    parameter_names,
    restore_dynamics,
    scaled_dynamics,
)

#: Public names of `spec` and `shifts`: the one list of them.
_SHIFT_NAMES = (
    "ACTION_ORDER",
    "ALL_PARAMETERS",
    "Choice",
    "Cripple",
    "Payload",
    "ShiftSpec",
    "ShiftWrapper",
    "Switch",
    "Uniform",
    "as_spec",
    "available_bodies",
    "check_spec",
    "default_payload_body",
    "find_shift_wrapper",
    "make_env",
    "metaworld_unsupported_reason",
    "oracle_context",
    "parameter_effects",
    "parse_shift",
    "resolve_shift",
    "true_parameters",
)

__all__ = [
    "MUJOCO_FIELDS",
    "MUJOCO_PARAMETERS",
    "PENDULUM_PARAMETERS",
    "apply_dynamics",
    "dynamics_kind",
    "parameter_names",
    "restore_dynamics",
    "scaled_dynamics",
    "shifts",
    "suites",
    *_SHIFT_NAMES,
]


def __getattr__(name: str) -> object:
    """Imports `shifts` / `suites` (which need gymnasium) on first use."""
    import importlib

    if name in ("shifts", "suites"):
        return importlib.import_module(f".{name}", __name__)
    if name in _SHIFT_NAMES:
        spec = importlib.import_module(".spec", __name__)  # no simulator needed for specs
        if hasattr(spec, name):
            return getattr(spec, name)
        return getattr(importlib.import_module(".shifts", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
