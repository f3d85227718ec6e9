"""Physical-parameter edits of gymnasium tasks: apply scale factors, restore them.

Parameters are multiplicative factors relative to the environment's current values
(1.0 = unchanged), so one vocabulary covers every task:

- Pendulum (``env.unwrapped`` has ``m``, ``l``, ``g``): ``m``, ``l``, ``g``.
- MuJoCo (``env.unwrapped.model``): ``mass`` (``body_mass``), ``inertia``
  (``body_inertia``), ``damping`` (``dof_damping``), ``friction``
  (``geom_friction[:, 0]``, sliding), ``gear`` (``actuator_gear[:, 0]``). Each is a
  global factor applied to every element.

`apply_dynamics` edits the environment in place and returns a snapshot that
`restore_dynamics` writes back, so applying twice without restoring compounds. The
`scaled_dynamics` context manager does both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "MUJOCO_FIELDS",
    "MUJOCO_PARAMETERS",
    "PENDULUM_PARAMETERS",
    "apply_dynamics",
    "dynamics_kind",
    "parameter_names",
    "restore_dynamics",
    "scaled_dynamics",
]

PENDULUM_PARAMETERS = ("m", "l", "g")
#: name -> (model attribute, column or None for the whole array)
_MUJOCO_FIELDS: dict[str, tuple[str, int | None]] = {
    "mass": ("body_mass", None),
    "inertia": ("body_inertia", None),
    "damping": ("dof_damping", None),
    "friction": ("geom_friction", 0),
    "gear": ("actuator_gear", 0),
}
MUJOCO_PARAMETERS = tuple(_MUJOCO_FIELDS)
#: Read-only view of name -> (``MjModel`` attribute, column or None for the whole array).
MUJOCO_FIELDS: Mapping[str, tuple[str, int | None]] = MappingProxyType(_MUJOCO_FIELDS)


def dynamics_kind(env: Any) -> str:
    """The kind ("pendulum" or "mujoco") of an env (wrapped or not) whose dynamics can be edited.

    Raises:
        ValueError: the environment exposes neither kind of parameter.
    """
    base = getattr(env, "unwrapped", env)
    model = getattr(base, "model", None)
    if model is not None and hasattr(model, "body_mass"):
        return "mujoco"
    if all(hasattr(base, p) for p in PENDULUM_PARAMETERS):
        return "pendulum"
    raise ValueError(
        f"cannot edit the dynamics of {type(base).__name__}: expected a MuJoCo task (env.unwrapped.model) "
        f"or a Pendulum (env.unwrapped.m, .l, .g)"
    )


def parameter_names(env: Any) -> tuple[str, ...]:
    """Parameter names `apply_dynamics` accepts for this environment."""
    return PENDULUM_PARAMETERS if dynamics_kind(env) == "pendulum" else MUJOCO_PARAMETERS


def _check(env: Any, params: Mapping[str, float]) -> str:
    kind = dynamics_kind(env)
    valid = parameter_names(env)
    for name, factor in params.items():
        if name not in valid:
            raise ValueError(f"unknown dynamics parameter {name!r} for a {kind} task; expected one of {valid}")
        f = float(factor)
        if not (math.isfinite(f) and f > 0):
            raise ValueError(f"dynamics parameter {name!r}: factor must be finite and > 0, got {factor}")
    return kind


def apply_dynamics(env: Any, params: Mapping[str, float]) -> dict[str, Any]:
    """Multiplies the named physical parameters of `env` by their factors, in place.

    Args:
        env: a gymnasium environment (wrappers are looked through).
        params: name -> factor > 0 (see the module docstring for names).

    Returns:
        A snapshot of the edited values for `restore_dynamics`.

    Raises:
        ValueError: unknown name, non-positive or non-finite factor, or an environment
            whose dynamics cannot be edited. Nothing is changed then.
    """
    kind = _check(env, params)
    base = env.unwrapped
    saved: dict[str, Any] = {}
    if kind == "pendulum":
        for name, factor in params.items():
            saved[name] = getattr(base, name)
            setattr(base, name, type(saved[name])(saved[name] * float(factor)))
        return saved
    model = base.model
    for name, factor in params.items():
        attr, col = _MUJOCO_FIELDS[name]
        arr = getattr(model, attr)
        if col is None:
            saved[name] = arr.copy()
            arr *= float(factor)
        else:
            saved[name] = arr[:, col].copy()
            arr[:, col] *= float(factor)
    return saved


def restore_dynamics(env: Any, saved: Mapping[str, Any]) -> None:
    """Writes back a snapshot returned by `apply_dynamics`."""
    kind = dynamics_kind(env)
    base = env.unwrapped
    for name, value in saved.items():
        if kind == "pendulum":
            setattr(base, name, value)
            continue
        attr, col = _MUJOCO_FIELDS[name]
        arr = getattr(base.model, attr)
        if col is None:
            arr[...] = np.asarray(value)
        else:
            arr[:, col] = np.asarray(value)


@contextmanager
def scaled_dynamics(env: Any, params: Mapping[str, float]) -> Iterator[dict[str, Any]]:
    """``with scaled_dynamics(env, {"mass": 1.5}):`` edits, then restores on exit."""
    saved = apply_dynamics(env, params)
    try:
        yield saved
    finally:
        restore_dynamics(env, saved)
