"""Dynamics edits for gymnasium / MuJoCo tasks (the base of the dynamics-shift wrappers)."""

from .dynamics import (
    MUJOCO_PARAMETERS,
    PENDULUM_PARAMETERS,
    apply_dynamics,
    dynamics_kind,
    parameter_names,
    restore_dynamics,
    scaled_dynamics,
)

__all__ = [
    "MUJOCO_PARAMETERS",
    "PENDULUM_PARAMETERS",
    "apply_dynamics",
    "dynamics_kind",
    "parameter_names",
    "restore_dynamics",
    "scaled_dynamics",
]
