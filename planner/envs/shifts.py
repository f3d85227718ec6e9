"""Dynamics-shift wrappers for gymnasium tasks (ShiftBench, see docs/SHIFTS.md).

A *shift spec* is plain JSON data describing how an episode's dynamics differ from the
nominal task::

    {"name": "heavy+late",
     "params": {"mass": 2.0, "damping": [0.2, 0.3], "gear": {"choice": [0.8, 1.2]}},
     "action_delay": 2, "action_scale": 0.6, "action_bias": 0.0,
     "cripple": {"actuator": 0, "from_step": 200, "factor": 0.0},
     "payload": {"body": "torso", "mass": 5.0},
     "switch": {"step": 300, "to": {...a spec without "switch"...}}}

Every key is optional (an empty spec is the nominal task).

- ``params``: *modeled* shifts, multiplicative factors relative to nominal (names as in
  `planner.envs.dynamics`: MuJoCo ``mass``, ``inertia``, ``damping``, ``friction``,
  ``gear``; Pendulum ``m``, ``l``, ``g``). Factors are finite and > 0.
- ``action_delay`` (int >= 0), ``action_scale`` (> 0), ``action_bias``, ``cripple``
  (``actuator`` = index into the action vector, ``from_step`` >= 0 counted from the
  episode start, ``factor`` >= 0, default 0) and ``payload`` (``mass`` > 0 kg added to
  ``body``; default body "torso" where one exists, else a per-task body, see
  `default_payload_body`) are *unmodeled* shifts.
- ``switch``: *time-varying* shift: from step ``step`` on (steps counted from 0 at
  reset, so the step with index ``step`` is the first under the new spec) the episode
  runs under ``to`` instead; ``to`` replaces everything (its modeled edits are applied
  on top of the nominal model, never compounded with the first spec's).

Any number may instead be a ``[lo, hi]`` range (uniform; integers for ``action_delay``,
``cripple.from_step`` and ``switch.step``, inclusive) or ``{"choice": [v, ...]}``
(uniform over the values). `resolve_shift` (spec, seed) draws concrete values: each
field has its own generator, ``numpy.random.default_rng(SeedSequence([*seed,
crc32(field path)]))``, so the draw is a pure function of (spec, seed) and adding a field
never changes the draws of the others.

`ShiftWrapper` applies a spec to an environment. At ``reset(seed=s)`` it restores the
nominal model bit for bit (and clears the action queue and step counter), resolves the
spec with the draw seed ``[wrapper_seed, 0, s]`` (or ``[wrapper_seed, 1, episode_index]``
when ``reset`` gets no seed), and applies it. Actions go through
``scale/bias -> delay queue -> cripple -> clip to the action box`` (`ACTION_ORDER`).
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np

from .dynamics import (
    MUJOCO_FIELDS,
    MUJOCO_PARAMETERS,
    PENDULUM_PARAMETERS,
    apply_dynamics,
    dynamics_kind,
    parameter_names,
)

__all__ = [
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
]

#: The order in which `ShiftWrapper.step` transforms a commanded action.
ACTION_ORDER = "scale/bias -> delay queue -> cripple -> clip to the action box"
#: Every modeled parameter name, over all task kinds.
ALL_PARAMETERS: tuple[str, ...] = MUJOCO_PARAMETERS + PENDULUM_PARAMETERS
SPEC_KEYS = ("name", "params", "action_delay", "action_scale", "action_bias", "cripple", "payload", "switch")
_CRIPPLE_KEYS = ("actuator", "from_step", "factor")
_PAYLOAD_KEYS = ("body", "mass")
_SWITCH_KEYS = ("step", "to")
#: Payload body for tasks without a "torso" (by the class name of ``env.unwrapped``).
_DEFAULT_PAYLOAD_BODY = {
    "PendulumEnv": "tip",
    "InvertedPendulumEnv": "pole",
    "ReacherEnv": "fingertip",
    "PusherEnv": "tips_arm",
}
_PENDULUM_BODIES = ("tip",)
_WARNED: set[tuple[str, str]] = set()


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Uniform:
    """A ``[lo, hi]`` range drawn uniformly (inclusive integers for integer fields)."""

    lo: float
    hi: float

    def to_json(self) -> list[float]:
        return [self.lo, self.hi]


@dataclass(frozen=True)
class Choice:
    """``{"choice": [...]}``: one of the values, each with the same probability."""

    values: tuple[float, ...]

    def to_json(self) -> dict[str, list[float]]:
        return {"choice": list(self.values)}


Draw = float | int | Uniform | Choice

# kind -> (description, predicate, integer)
_KINDS: dict[str, tuple[str, Any, bool]] = {
    "factor": ("a finite factor > 0", lambda v: v > 0, False),
    "scale": ("a finite scale > 0", lambda v: v > 0, False),
    "real": ("a finite number", lambda v: True, False),
    "nonneg": ("a finite number >= 0", lambda v: v >= 0, False),
    "mass": ("a finite mass > 0 (kg)", lambda v: v > 0, False),
    "count": ("an integer >= 0", lambda v: v >= 0, True),
}


def _scalar(x: Any, path: str, kind: str) -> float | int:
    desc, ok, integer = _KINDS[kind]
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"{path}: expected {desc}, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{path}: expected {desc}, got non-finite {x!r}")
    if integer:
        if not v.is_integer():
            raise ValueError(f"{path}: expected {desc}, got {x!r}")
        if not ok(v):
            raise ValueError(f"{path}: expected {desc}, got negative {int(v)}")
        return int(v)
    if not ok(v):
        what = "negative mass" if kind == "mass" and v < 0 else ("negative" if v < 0 else "zero")
        raise ValueError(f"{path}: expected {desc}, got {what} {x!r}")
    return v


def _value(x: Any, path: str, kind: str) -> Draw:
    """Validates a number, a ``[lo, hi]`` range or a ``{"choice": [...]}``."""
    if isinstance(x, (Uniform, Choice)):
        x = x.to_json()
    if isinstance(x, Mapping):
        if set(x) != {"choice"}:
            raise ValueError(f"{path}: expected a number, a [lo, hi] range or {{'choice': [...]}}, got {dict(x)!r}")
        vals = x["choice"]
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) or len(vals) == 0:
            raise ValueError(f"{path}.choice: expected a non-empty list of values, got {vals!r}")
        return Choice(tuple(_scalar(v, f"{path}.choice[{i}]", kind) for i, v in enumerate(vals)))
    if isinstance(x, (list, tuple, np.ndarray)):
        if len(x) != 2:
            raise ValueError(f"{path}: a range must be [lo, hi] (2 numbers), got {list(x)!r}")
        lo, hi = _scalar(x[0], f"{path}[0]", kind), _scalar(x[1], f"{path}[1]", kind)
        if lo > hi:
            raise ValueError(f"{path}: range [lo, hi] needs lo <= hi, got {list(x)!r}")
        return Uniform(lo, hi)
    return _scalar(x, path, kind)


def _json_value(v: Draw) -> Any:
    return v.to_json() if isinstance(v, (Uniform, Choice)) else v


def _is_drawn(v: Any) -> bool:
    return isinstance(v, (Uniform, Choice))


def _check_keys(d: Any, allowed: Sequence[str], path: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise ValueError(f"{path or 'spec'}: expected a JSON object (dict), got {type(d).__name__}")
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ValueError(f"{path or 'spec'}: unknown key(s) {unknown}; expected some of {list(allowed)}")
    return d


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Cripple:
    """Action ``actuator`` is multiplied by ``factor`` from episode step ``from_step`` on."""

    actuator: int
    from_step: Draw = 0
    factor: Draw = 0.0

    def __post_init__(self) -> None:
        a = self.actuator
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 0:
            raise ValueError(f"cripple.actuator: expected an action index (int >= 0), got {a!r}")
        object.__setattr__(self, "actuator", int(a))
        object.__setattr__(self, "from_step", _value(self.from_step, "cripple.from_step", "count"))
        object.__setattr__(self, "factor", _value(self.factor, "cripple.factor", "nonneg"))

    def to_dict(self) -> dict[str, Any]:
        return {"actuator": self.actuator, "from_step": _json_value(self.from_step), "factor": _json_value(self.factor)}


@dataclass(frozen=True)
class Payload:
    """``mass`` kg added to ``body`` (None: `default_payload_body` of the task)."""

    mass: Draw
    body: str | None = None

    def __post_init__(self) -> None:
        if self.body is not None and (not isinstance(self.body, str) or not self.body):
            raise ValueError(f"payload.body: expected a body name (str) or null, got {self.body!r}")
        object.__setattr__(self, "mass", _value(self.mass, "payload.mass", "mass"))

    def to_dict(self) -> dict[str, Any]:
        return {"body": self.body, "mass": _json_value(self.mass)}


@dataclass(frozen=True)
class Switch:
    """From episode step ``step`` on, the episode runs under ``to``."""

    step: Draw
    to: ShiftSpec

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", _value(self.step, "switch.step", "count"))
        to = self.to
        if isinstance(to, Mapping):
            try:
                to = ShiftSpec.from_dict(to)
            except ValueError as e:
                raise ValueError(f"switch.to: {e}") from None
        if not isinstance(to, ShiftSpec):
            raise ValueError(f"switch.to: expected a spec (dict), got {type(to).__name__}")
        if to.switch is not None:
            raise ValueError("switch.to: a switch inside a switch is not allowed (the target spec has a 'switch')")
        object.__setattr__(self, "to", to)

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        return {"step": _json_value(self.step), "to": self.to.to_dict(compact=compact)}


@dataclass(frozen=True)
class ShiftSpec:
    """One dynamics shift (see the module docstring for the schema). Immutable by convention.

    Construct with `ShiftSpec.from_dict`, `parse_shift`, or directly (values are
    validated and normalized either way).
    """

    name: str = ""
    params: Mapping[str, Draw] = field(default_factory=dict)
    action_delay: Draw = 0
    action_scale: Draw = 1.0
    action_bias: Draw = 0.0
    cripple: Cripple | None = None
    payload: Payload | None = None
    switch: Switch | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"name: expected a string, got {self.name!r}")
        params = self.params if self.params is not None else {}
        if not isinstance(params, Mapping):
            raise ValueError(f"params: expected an object of name -> factor, got {type(params).__name__}")
        clean: dict[str, Draw] = {}
        for name in sorted(params):
            if name not in ALL_PARAMETERS:
                raise ValueError(
                    f"params: unknown parameter {name!r}; expected MuJoCo {list(MUJOCO_PARAMETERS)} "
                    f"or Pendulum {list(PENDULUM_PARAMETERS)}"
                )
            clean[name] = _value(params[name], f"params.{name}", "factor")
        object.__setattr__(self, "params", clean)
        object.__setattr__(self, "action_delay", _value(self.action_delay, "action_delay", "count"))
        object.__setattr__(self, "action_scale", _value(self.action_scale, "action_scale", "scale"))
        object.__setattr__(self, "action_bias", _value(self.action_bias, "action_bias", "real"))
        for key, cls in (("cripple", Cripple), ("payload", Payload), ("switch", Switch)):
            v = getattr(self, key)
            if v is not None and not isinstance(v, cls):
                if not isinstance(v, Mapping):
                    raise ValueError(f"{key}: expected an object or null, got {type(v).__name__}")
                object.__setattr__(self, key, _sub_from_dict(key, v))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ShiftSpec:
        """Builds a spec from JSON data, rejecting unknown keys (ValueError naming the field)."""
        d = _check_keys(d, SPEC_KEYS, "spec")
        return cls(**{k: d[k] for k in SPEC_KEYS if k in d and d[k] is not None})

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        """JSON-serializable data; ``compact`` leaves out keys at their nominal default."""
        out: dict[str, Any] = {
            "name": self.name,
            "params": {k: _json_value(v) for k, v in self.params.items()},
            "action_delay": _json_value(self.action_delay),
            "action_scale": _json_value(self.action_scale),
            "action_bias": _json_value(self.action_bias),
            "cripple": self.cripple.to_dict() if self.cripple else None,
            "payload": self.payload.to_dict() if self.payload else None,
            "switch": self.switch.to_dict(compact) if self.switch else None,
        }
        if compact:
            defaults = {"params": {}, "action_delay": 0, "action_scale": 1.0, "action_bias": 0.0}
            out = {k: v for k, v in out.items() if v is not None and v != defaults.get(k, object()) and v != ""}
        return out

    def to_json(self, compact: bool = True) -> str:
        """`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(compact=compact), sort_keys=True)

    @property
    def is_resolved(self) -> bool:
        """True when no value is a range or a choice (also inside the switch target)."""
        vals: list[Any] = [*self.params.values(), self.action_delay, self.action_scale, self.action_bias]
        if self.cripple:
            vals += [self.cripple.from_step, self.cripple.factor]
        if self.payload:
            vals.append(self.payload.mass)
        if self.switch:
            vals.append(self.switch.step)
            if not self.switch.to.is_resolved:
                return False
        return not any(_is_drawn(v) for v in vals)

    @property
    def is_nominal(self) -> bool:
        """True when the spec changes nothing (every factor 1, no action transform, no switch)."""
        return (
            self.is_resolved
            and all(v == 1.0 for v in self.params.values())
            and self.action_delay == 0
            and self.action_scale == 1.0
            and self.action_bias == 0.0
            and self.cripple is None
            and self.payload is None
            and self.switch is None
        )


def _sub_from_dict(key: str, d: Any) -> Cripple | Payload | Switch:
    if isinstance(d, (Cripple, Payload, Switch)):
        return d
    if key == "cripple":
        d = _check_keys(d, _CRIPPLE_KEYS, "cripple")
        if "actuator" not in d:
            raise ValueError("cripple: missing 'actuator' (index into the action vector)")
        return Cripple(**d)
    if key == "payload":
        d = _check_keys(d, _PAYLOAD_KEYS, "payload")
        if "mass" not in d:
            raise ValueError("payload: missing 'mass' (kg > 0)")
        return Payload(**d)
    d = _check_keys(d, _SWITCH_KEYS, "switch")
    if "step" not in d or d["step"] is None:
        raise ValueError("switch: missing 'step' (the episode step from which 'to' applies)")
    if "to" not in d or d["to"] is None:
        raise ValueError("switch: missing 'to' (the spec that applies from 'step' on)")
    return Switch(step=d["step"], to=d["to"])


def as_spec(spec: ShiftSpec | Mapping[str, Any] | str | None) -> ShiftSpec:
    """None (nominal), a `ShiftSpec`, a dict (`ShiftSpec.from_dict`) or a string (`parse_shift`)."""
    if spec is None:
        return ShiftSpec(name="nominal")
    if isinstance(spec, ShiftSpec):
        return spec
    if isinstance(spec, Mapping):
        return ShiftSpec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return parse_shift(os.fspath(spec))
    raise ValueError(f"spec: expected a ShiftSpec, a dict, a string or None, got {type(spec).__name__}")


_KV_NUMERIC = {"action_delay": "count", "action_scale": "scale", "action_bias": "real"}


def _kv_number(text: str, key: str, kind: str) -> Any:
    def num(s: str) -> float:
        try:
            return float(s)
        except ValueError:
            raise ValueError(f"{key}={text}: expected a number (or LO..HI)") from None

    if ".." in text:
        lo, hi = text.split("..", 1)
        return [num(lo), num(hi)]
    return num(text)


def parse_shift(text: str | os.PathLike[str] | ShiftSpec | Mapping[str, Any] | None) -> ShiftSpec:
    """Parses a command-line shift.

    Accepts "nominal" / "none" / "" (nominal), a JSON object string, a path to a .json
    file, or comma-separated ``key=value`` pairs: parameter factors (``mass=2``,
    ``damping=0.2..0.3`` for a range), ``action_delay=2``, ``action_scale=0.6``,
    ``action_bias=0.1``, ``payload=KG`` or ``payload=KG@BODY``,
    ``cripple=ACTUATOR@STEP`` (and ``cripple_factor=F``), ``name=...``.

    Raises:
        ValueError: unparseable text or an invalid spec.
    """
    if text is None or isinstance(text, (ShiftSpec, Mapping)):
        return as_spec(text)
    t = os.fspath(text).strip()
    if t.lower() in ("", "nominal", "none"):
        return ShiftSpec(name="nominal")
    if t.startswith("{"):
        try:
            data = json.loads(t)
        except json.JSONDecodeError as e:
            raise ValueError(f"shift: invalid JSON ({e})") from None
        return ShiftSpec.from_dict(data)
    if t.endswith(".json") or os.path.isfile(t):
        try:
            with open(t, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as e:
            raise ValueError(f"shift: cannot read {t!r} ({e})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"shift: {t!r} is not valid JSON ({e})") from None
        if isinstance(data, Mapping) and not data.get("name"):
            data = {**data, "name": os.path.splitext(os.path.basename(t))[0]}
        return ShiftSpec.from_dict(data)
    d: dict[str, Any] = {"name": t, "params": {}}
    cripple_factor: Any = None
    keys = [*ALL_PARAMETERS, *_KV_NUMERIC, "payload", "cripple", "cripple_factor", "name"]
    for item in t.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"shift: expected key=value, got {item!r} (keys: {keys})")
        key, val = (s.strip() for s in item.split("=", 1))
        if key in ALL_PARAMETERS:
            d["params"][key] = _kv_number(val, key, "factor")
        elif key in _KV_NUMERIC:
            d[key] = _kv_number(val, key, _KV_NUMERIC[key])
        elif key == "payload":
            mass, _, body = val.partition("@")
            d["payload"] = {"mass": _kv_number(mass, key, "mass"), "body": body or None}
        elif key == "cripple":
            act, sep, step = val.partition("@")
            try:
                d["cripple"] = {"actuator": int(act), "from_step": int(step) if sep else 0}
            except ValueError:
                raise ValueError(f"cripple={val}: expected ACTUATOR@STEP (integers)") from None
        elif key == "cripple_factor":
            cripple_factor = _kv_number(val, key, "nonneg")
        elif key == "name":
            d["name"] = val
        else:
            raise ValueError(f"shift: unknown key {key!r}; expected one of {keys}")
    if cripple_factor is not None:
        if "cripple" not in d:
            raise ValueError("cripple_factor: needs cripple=ACTUATOR@STEP too")
        d["cripple"]["factor"] = cripple_factor
    return ShiftSpec.from_dict(d)


# --------------------------------------------------------------------------- resolving


def _seed_key(seed: int | Sequence[int]) -> list[int]:
    items = [seed] if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else seed
    try:
        key = [int(s) for s in items]  # type: ignore[union-attr]
        ok = all(not isinstance(s, bool) and int(s) == s and s >= 0 for s in items)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        ok = False
    if not ok or not key:
        raise ValueError(f"seed: expected a non-negative int or a non-empty sequence of them, got {seed!r}")
    return key


def _draw(v: Draw, key: list[int], path: str, integer: bool) -> float | int:
    if not _is_drawn(v):
        return v  # type: ignore[return-value]
    rng = np.random.default_rng(np.random.SeedSequence([*key, zlib.crc32(path.encode())]))
    if isinstance(v, Choice):
        return v.values[int(rng.integers(len(v.values)))]
    assert isinstance(v, Uniform)
    if integer:
        return int(rng.integers(int(v.lo), int(v.hi) + 1))
    return float(rng.uniform(v.lo, v.hi))


def _resolve(spec: ShiftSpec, key: list[int], prefix: str) -> ShiftSpec:
    def dr(v: Draw, path: str, integer: bool = False) -> float | int:
        return _draw(v, key, prefix + path, integer)

    cripple = spec.cripple
    if cripple is not None:
        cripple = Cripple(
            cripple.actuator, dr(cripple.from_step, "cripple.from_step", True), dr(cripple.factor, "cripple.factor")
        )
    payload = spec.payload
    if payload is not None:
        payload = Payload(dr(payload.mass, "payload.mass"), payload.body)
    switch = spec.switch
    if switch is not None:
        switch = Switch(dr(switch.step, "switch.step", True), _resolve(switch.to, key, prefix + "switch.to."))
    return ShiftSpec(
        name=spec.name,
        params={k: dr(v, f"params.{k}") for k, v in spec.params.items()},
        action_delay=dr(spec.action_delay, "action_delay", True),
        action_scale=dr(spec.action_scale, "action_scale"),
        action_bias=dr(spec.action_bias, "action_bias"),
        cripple=cripple,
        payload=payload,
        switch=switch,
    )


def resolve_shift(spec: ShiftSpec | Mapping[str, Any] | str | None, seed: int | Sequence[int] = 0) -> ShiftSpec:
    """The concrete spec: every range / choice drawn; a pure function of (spec, seed).

    Each field uses ``default_rng(SeedSequence([*seed, crc32(path)]))`` where ``path`` is
    e.g. ``"params.mass"`` or ``"switch.to.action_delay"``.
    """
    return _resolve(as_spec(spec), _seed_key(seed), "")


# --------------------------------------------------------------------------- task checks


def _task_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    return type(getattr(env, "unwrapped", env)).__name__


def available_bodies(env: Any) -> tuple[str, ...]:
    """Body names a payload can go on (MuJoCo: every body but the world; Pendulum: "tip")."""
    if dynamics_kind(env) == "pendulum":
        return _PENDULUM_BODIES
    import mujoco

    model = env.unwrapped.model
    names = (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(1, model.nbody))
    return tuple(n if n else f"body{i + 1}" for i, n in enumerate(names))


def default_payload_body(env: Any) -> str | None:
    """The payload body: "torso" where the task has one, else a per-task body (Pendulum
    "tip", InvertedPendulum "pole", Reacher "fingertip", Pusher "tips_arm"); None if unknown."""
    bodies = available_bodies(env)
    if "torso" in bodies:
        return "torso"
    name = _DEFAULT_PAYLOAD_BODY.get(type(env.unwrapped).__name__)
    return name if name in bodies else None


def _action_dim(env: Any) -> int:
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{_task_name(env)}: shifts need a 1-D Box action space, got {space}")
    return int(space.shape[0])


def check_spec(spec: ShiftSpec | Mapping[str, Any] | str | None, env: Any) -> ShiftSpec:
    """Checks a spec (resolved or not) against a task; returns it as a `ShiftSpec`.

    Raises:
        ValueError: a parameter the task does not have (listing the valid ones), an
            actuator index out of range, or a payload body that does not exist (listing
            the available bodies).
    """
    spec = as_spec(spec)
    task, kind = _task_name(env), dynamics_kind(env)
    valid = parameter_names(env)
    prefix = ""
    for s in (spec, spec.switch.to if spec.switch else None):
        if s is None:
            continue
        for name in s.params:
            if name not in valid:
                raise ValueError(
                    f"{prefix}params: unknown parameter {name!r} for {task} (a {kind} task); "
                    f"valid parameters: {list(valid)}"
                )
        if s.cripple is not None:
            n = _action_dim(env)
            if s.cripple.actuator >= n:
                raise ValueError(
                    f"{prefix}cripple.actuator: index {s.cripple.actuator} out of range for {task} "
                    f"with {n} actuator(s) (valid 0..{n - 1})"
                )
        if s.payload is not None:
            bodies = available_bodies(env)
            body = s.payload.body
            if body is None:
                if default_payload_body(env) is None:
                    raise ValueError(f"{prefix}payload.body: {task} has no 'torso'; name one of {list(bodies)}")
            elif body not in bodies:
                raise ValueError(f"{prefix}payload.body: no body {body!r} in {task}; available bodies: {list(bodies)}")
        prefix = "switch.to."
    return spec


# --------------------------------------------------------------------------- effects


def _frictional_contacts(model: Any) -> tuple[bool, str]:
    """Whether any geom pair can make a contact whose friction depends on geom_friction[:, 0]."""
    import mujoco

    if model.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_CONTACT):
        return False, "contacts are disabled (opt.disableflags)"
    body_weld = model.body_weldid
    excluded = {(int(sig) >> 16, int(sig) & 0xFFFF) for sig in model.exclude_signature}
    collide = frictional = 0
    for i in range(model.ngeom):
        for j in range(i + 1, model.ngeom):
            bi, bj = int(model.geom_bodyid[i]), int(model.geom_bodyid[j])
            if body_weld[bi] == body_weld[bj]:
                continue
            if not (
                model.geom_contype[i] & model.geom_conaffinity[j] or model.geom_contype[j] & model.geom_conaffinity[i]
            ):
                continue
            if (min(bi, bj), max(bi, bj)) in excluded:
                continue
            collide += 1
            pi, pj = model.geom_priority[i], model.geom_priority[j]
            condim = (
                model.geom_condim[i]
                if pi > pj
                else model.geom_condim[j]
                if pj > pi
                else max(model.geom_condim[i], model.geom_condim[j])
            )
            frictional += int(condim >= 3)
    if collide == 0:
        return False, "no geom pair can collide (contype/conaffinity), so there are no contacts"
    if frictional == 0:
        return False, f"every possible contact is frictionless (condim 1) ({collide} collidable geom pairs)"
    return True, f"{frictional} collidable geom pairs with frictional contacts (condim >= 3)"


def parameter_effects(
    env: Any, steps: int = 100, factors: Sequence[float] = (0.3, 3.0), seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Measures which modeled parameters change the dynamics of this task.

    For each parameter and factor, a copy of the model (Pendulum: of the env) is scaled and
    rolled out for ``steps`` control steps of uniform random actions (seeded) from the
    nominal initial state (MuJoCo ``init_qpos``/``init_qvel``, Pendulum theta=1, 0); the
    parameter has an effect when some factor gives a state trajectory that is not bit
    identical to factor 1. For ``friction`` the model is also checked statically (a
    frictional contact must be possible). Measures around the env's *current* model.

    Returns:
        name -> {"effect": bool, "max_abs_diff": float, "reason": str}.
    """
    kind = dynamics_kind(env)
    base = env.unwrapped
    space = base.action_space
    low = np.where(np.isfinite(space.low), space.low, -1.0).astype(np.float64)
    high = np.where(np.isfinite(space.high), space.high, 1.0).astype(np.float64)
    actions = np.random.default_rng(seed).uniform(low, high, size=(steps, *space.shape))
    out: dict[str, dict[str, Any]] = {}
    if kind == "pendulum":

        def rollout_p(name: str | None, f: float) -> np.ndarray:
            sim = copy.copy(base)
            sim.render_mode = None
            if name is not None:
                setattr(sim, name, getattr(sim, name) * f)
            sim.state = np.array([1.0, 0.0])
            traj = []
            for a in actions:
                sim.step(a)
                traj.append(np.array(sim.state, dtype=np.float64))
            return np.asarray(traj)

        ref = rollout_p(None, 1.0)
        for name in PENDULUM_PARAMETERS:
            diff = max(float(np.abs(rollout_p(name, f) - ref).max()) for f in factors)
            out[name] = {
                "effect": diff > 0,
                "max_abs_diff": diff,
                "reason": f"{steps}-step random-action rollouts at factors {list(factors)}",
            }
        return out

    import mujoco

    model = base.model
    frame_skip = int(getattr(base, "frame_skip", 1))
    qpos0 = np.asarray(getattr(base, "init_qpos", model.qpos0), np.float64)
    qvel0 = np.asarray(getattr(base, "init_qvel", np.zeros(model.nv)), np.float64)

    def rollout(m: Any) -> np.ndarray:
        d = mujoco.MjData(m)
        d.qpos[:] = qpos0
        d.qvel[:] = qvel0
        mujoco.mj_forward(m, d)
        traj = np.empty((steps, m.nq + m.nv))
        for k, a in enumerate(actions):
            d.ctrl[:] = a
            mujoco.mj_step(m, d, nstep=frame_skip)
            traj[k, : m.nq] = d.qpos
            traj[k, m.nq :] = d.qvel
        return traj

    ref = rollout(model)
    for name, (attr, col) in MUJOCO_FIELDS.items():
        diffs = []
        for f in factors:
            m2 = copy.deepcopy(model)
            arr = getattr(m2, attr)
            if col is None:
                arr *= float(f)
            else:
                arr[:, col] *= float(f)
            diffs.append(float(np.abs(rollout(m2) - ref).max()))
        diff = max(diffs)
        reason = f"{steps}-step random-action rollouts at factors {list(factors)}"
        effect = diff > 0
        if name == "friction":
            possible, why = _frictional_contacts(model)
            reason = f"{why}; {reason}"
            effect = effect and possible
        out[name] = {"effect": bool(effect), "max_abs_diff": diff, "reason": reason}
    return out


# --------------------------------------------------------------------------- wrapper


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


class ShiftWrapper(gym.Wrapper):
    """Applies a dynamics-shift spec to a gymnasium task (Pendulum or MuJoCo).

    Args:
        env: the environment (e.g. ``gym.make("HalfCheetah-v5")``); its model at wrap
            time is taken as nominal.
        spec: the default spec for every episode (None: nominal); see the module docstring.
        seed: the wrapper seed, combined with each reset seed for the draw.

    ``reset(seed=s, options={"shift": spec_or_None})`` restores the nominal model bit for
    bit, clears the action queue and the step counter, resolves the episode's spec (the
    one in ``options`` if the key is given, None meaning nominal; else the wrapper's)
    with draw seed ``[seed, 0, s]`` (``[seed, 1, episode_index]`` if ``s`` is None) and
    applies it before resetting the inner env. `shift_log` records what was done.
    ``info["applied_action"]`` of every step is the action the inner env received.
    """

    def __init__(self, env: gym.Env, spec: ShiftSpec | Mapping[str, Any] | str | None = None, seed: int = 0) -> None:
        super().__init__(env)
        self._kind = dynamics_kind(env)
        self._task = _task_name(env)
        _action_dim(env)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.shift_seed = int(seed)
        self.shift_spec = check_spec(spec, env)
        self._nominal = self._snapshot()
        self._effects: dict[str, dict[str, Any]] | None = None
        self._episode = -1
        self._t = 0
        self._queue: deque[np.ndarray] = deque()
        self._active = ShiftSpec(name="nominal")
        self._switch: Switch | None = None
        self._switched = False
        self._low = np.asarray(env.action_space.low, np.float64)
        self._high = np.asarray(env.action_space.high, np.float64)
        self._dtype = env.action_space.dtype
        self.shift_log: dict[str, Any] = {
            "task": self._task,
            "kind": self._kind,
            "seed": self.shift_seed,
            "episode": None,
            "phase": "nominal",
            "notes": ["no episode yet: the spec is applied at reset()"],
        }

    # -- state -------------------------------------------------------------

    @property
    def active_spec(self) -> ShiftSpec:
        """The resolved spec in force now (the switch target after the switch)."""
        return self._active

    @property
    def step_count(self) -> int:
        """Steps taken since the last reset."""
        return self._t

    def _snapshot(self) -> dict[str, Any]:
        base = self.env.unwrapped
        if self._kind == "pendulum":
            return {p: getattr(base, p) for p in PENDULUM_PARAMETERS}
        attrs = {a for a, _ in MUJOCO_FIELDS.values()} | {"body_mass"}
        return {a: getattr(base.model, a).copy() for a in sorted(attrs)}

    def _restore(self) -> None:
        base = self.env.unwrapped
        for k, v in self._nominal.items():
            if self._kind == "pendulum":
                setattr(base, k, v)
            else:
                getattr(base.model, k)[...] = v

    def _effect_table(self) -> dict[str, dict[str, Any]]:
        if self._effects is None:  # measured on the nominal model (called right after _restore)
            self._effects = parameter_effects(self.env)
        return self._effects

    # -- applying ----------------------------------------------------------

    def _apply_model(self, spec: ShiftSpec) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
        """Applies modeled edits and the payload on the (restored) nominal model."""
        base = self.env.unwrapped
        edits: list[dict[str, Any]] = []
        no_effect: dict[str, str] = {}
        notes: list[str] = []
        changed = [n for n, f in spec.params.items() if f != 1.0]
        effects = self._effect_table() if changed else {}
        for name, factor in spec.params.items():
            saved = apply_dynamics(self.env, {name: float(factor)})
            if self._kind == "pendulum":
                edit = {"parameter": name, "field": name, "factor": factor}
                edit.update(before=float(saved[name]), after=float(getattr(base, name)))
            else:
                attr, col = MUJOCO_FIELDS[name]
                arr = getattr(base.model, attr)
                after = arr if col is None else arr[:, col]
                field_name = attr if col is None else f"{attr}[:, {col}]"
                edit = {"parameter": name, "field": field_name, "factor": factor}
                edit.update(before=_jsonable(saved[name]), after=_jsonable(after.copy()))
            edits.append(edit)
            if name in changed and not effects[name]["effect"]:
                no_effect[name] = effects[name]["reason"]
                if (self._task, name) not in _WARNED:
                    _WARNED.add((self._task, name))
                    warnings.warn(
                        f"{self._task}: parameter {name!r} has no effect on the dynamics ({effects[name]['reason']})",
                        stacklevel=3,
                    )
        if spec.payload is not None:
            body = spec.payload.body or default_payload_body(self.env)
            mass = float(spec.payload.mass)
            if self._kind == "pendulum":
                m, l = float(base.m), float(base.l)
                base.l = l * (m + 3 * mass) / (m + 2 * mass)
                base.m = (m + 2 * mass) ** 2 / (m + 3 * mass)
                edits.append(
                    {
                        "payload": body,
                        "mass": mass,
                        "field": "m, l (effective)",
                        "before": {"m": m, "l": l},
                        "after": {"m": float(base.m), "l": float(base.l)},
                    }
                )
                notes.append(
                    "Pendulum payload: a point mass at the rod tip, realised exactly through the effective "
                    "m' = (m+2M)^2/(m+3M), l' = l(m+3M)/(m+2M) of the rod equation"
                )
            else:
                idx = available_bodies(self.env).index(body) + 1
                before = float(base.model.body_mass[idx])
                base.model.body_mass[idx] += mass
                edits.append(
                    {
                        "payload": body,
                        "mass": mass,
                        "field": f"body_mass[{idx}]",
                        "before": before,
                        "after": float(base.model.body_mass[idx]),
                    }
                )
                notes.append("payload: added to body_mass only (a point mass at the body's centre of mass)")
        return edits, no_effect, notes

    def _set_actions(self, spec: ShiftSpec, keep_queue: bool) -> None:
        d = int(spec.action_delay)
        if not keep_queue:
            self._queue = deque(np.zeros_like(self._low) for _ in range(d))
            return
        while len(self._queue) > d:  # the oldest pending actions are dropped
            self._queue.popleft()
        while len(self._queue) < d:  # or zero actions are put in front
            self._queue.appendleft(np.zeros_like(self._low))

    def _action_log(self, spec: ShiftSpec) -> dict[str, Any]:
        return {
            "order": ACTION_ORDER,
            "delay": spec.action_delay,
            "scale": spec.action_scale,
            "bias": spec.action_bias,
            "cripple": spec.cripple.to_dict() if spec.cripple else None,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        opts = dict(options or {})
        spec = check_spec(opts.pop("shift"), self.env) if "shift" in opts else self.shift_spec
        episode = self._episode + 1
        key = [self.shift_seed, 0, int(seed)] if seed is not None else [self.shift_seed, 1, episode]
        resolved = resolve_shift(spec, key)  # may raise: nothing has changed yet
        self._episode = episode
        self._restore()
        self._t = 0
        self._switch, self._switched = resolved.switch, False
        self._active = resolved
        edits, no_effect, notes = self._apply_model(resolved)
        self._set_actions(resolved, keep_queue=False)
        if resolved.action_delay:
            notes.append(f"action delay: the first {resolved.action_delay} applied action(s) are zero")
        log: dict[str, Any] = {
            "task": self._task,
            "kind": self._kind,
            "seed": self.shift_seed,
            "reset_seed": None if seed is None else int(seed),
            "episode": episode,
            "draw_seed": key,
            "requested": spec.to_dict(),
            "spec": resolved.to_dict(),
            "phase": "initial",
            "edits": edits,
            "action": self._action_log(resolved),
            "true_parameters": self._true_parameters(),
            "no_effect": no_effect,
            "notes": notes,
            "switch": None,
        }
        if resolved.switch is not None:
            log["switch"] = {"step": resolved.switch.step, "to": resolved.switch.to.to_dict(), "applied": False}
        self.shift_log = log
        return self.env.reset(seed=seed, options=opts or None)

    def _apply_switch(self) -> None:
        assert self._switch is not None
        to = self._switch.to
        self._restore()
        edits, no_effect, notes = self._apply_model(to)
        self._set_actions(to, keep_queue=True)
        self._active, self._switched = to, True
        sw = self.shift_log.get("switch") or {}
        sw.update(
            applied=True,
            at_step=self._t,
            edits=edits,
            no_effect=no_effect,
            notes=notes,
            action=self._action_log(to),
            true_parameters=self._true_parameters(),
        )
        self.shift_log["switch"] = sw
        self.shift_log["phase"] = "switched"
        self.shift_log["no_effect"] = {**self.shift_log.get("no_effect", {}), **no_effect}

    def transform_action(self, action: Any) -> np.ndarray:
        """The action the inner env gets for a commanded ``action`` at the current step
        (advances the delay queue; `step` calls it). Computed in float64, returned in the
        action space's dtype."""
        spec = self._active
        a = np.array(action, dtype=np.float64)
        if a.shape != self._low.shape:
            raise ValueError(f"action: expected shape {self._low.shape}, got {a.shape}")
        if spec.action_scale != 1.0 or spec.action_bias != 0.0:
            a = a * float(spec.action_scale) + float(spec.action_bias)
        if spec.action_delay:
            self._queue.append(a)
            a = self._queue.popleft()
        c = spec.cripple
        if c is not None and self._t >= int(c.from_step):
            a = a.copy()
            a[c.actuator] *= float(c.factor)
        return np.clip(a, self._low, self._high).astype(self._dtype)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        if self._switch is not None and not self._switched and self._t >= int(self._switch.step):
            self._apply_switch()
        applied = self.transform_action(action)
        obs, reward, terminated, truncated, info = self.env.step(applied)
        info = dict(info)
        info["applied_action"] = applied
        self._t += 1
        return obs, reward, terminated, truncated, info

    # -- undo --------------------------------------------------------------

    def nominal(self) -> None:
        """Restores the nominal dynamics bit for bit and drops every action transform and a
        pending switch for the rest of the episode; the next `reset` applies a spec again."""
        self._restore()
        self._queue.clear()
        self._active = ShiftSpec(name="nominal")
        self._switch, self._switched = None, False
        self.shift_log["phase"] = "nominal"
        self.shift_log["true_parameters"] = self._true_parameters()
        self.shift_log.setdefault("notes", []).append(f"nominal() at step {self._t}: every edit undone")

    def close(self) -> None:
        """Restores the nominal dynamics, then closes the inner env."""
        try:
            self.nominal()
        finally:
            super().close()

    def _true_parameters(self) -> dict[str, float]:
        return {n: float(self._active.params.get(n, 1.0)) for n in parameter_names(self.env)}


# --------------------------------------------------------------------------- helpers


def find_shift_wrapper(env: Any) -> ShiftWrapper:
    """The `ShiftWrapper` in ``env``'s wrapper chain.

    Raises:
        ValueError: there is none.
    """
    e = env
    while True:
        if isinstance(e, ShiftWrapper):
            return e
        if not isinstance(e, gym.Wrapper):
            raise ValueError(f"{_task_name(env)}: no ShiftWrapper in the wrapper chain (use make_env or ShiftWrapper)")
        e = e.env


def true_parameters(env: Any) -> dict[str, float]:
    """Current factor of each modeled parameter of the task relative to nominal (1.0 =
    nominal), from the wrapper's active spec. Unmodeled shifts (payload, action
    transforms) are not parameters and do not appear."""
    return find_shift_wrapper(env)._true_parameters()


def oracle_context(env: Any, names: Sequence[str] | None = None) -> np.ndarray:
    """The PC-oracle context: ``log`` of `true_parameters` for ``names`` (default: all of
    the task's parameters), as float32."""
    params = true_parameters(env)
    names = tuple(params) if names is None else tuple(names)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"names: unknown parameter(s) {unknown} for {_task_name(env)}; valid: {list(params)}")
    return np.log(np.array([params[n] for n in names], dtype=np.float64)).astype(np.float32)


def metaworld_unsupported_reason() -> str:
    """Why Meta-World tasks are not supported here (measured; see docs/SHIFTS.md)."""

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        "Meta-World is not supported: metaworld 3.1.1 (the newest release on PyPI) requires mujoco==3.3.0, "
        f"and this environment has mujoco {ver('mujoco')} and gymnasium {ver('gymnasium')}. Under mujoco 4.0.0, "
        "building push-v3 fails in SawyerXYZEnv.reset_mocap_welds (ValueError: could not broadcast input array "
        "from shape (11,) into shape (12,)); it only works after downgrading mujoco to 3.3.0, which this project "
        "does not do. See docs/SHIFTS.md."
    )


def make_env(
    task: str, spec: ShiftSpec | Mapping[str, Any] | str | None = None, seed: int = 0, **gym_kwargs: Any
) -> ShiftWrapper:
    """``ShiftWrapper(gym.make(task, **gym_kwargs), spec, seed)``.

    Raises:
        ImportError: a Meta-World task ("metaworld/push-v3"), see `metaworld_unsupported_reason`.
        ValueError: an invalid spec for the task.
    """
    if task.lower().startswith(("metaworld/", "meta-world/")):
        raise ImportError(f"{task}: {metaworld_unsupported_reason()}")
    env = gym.make(task, **gym_kwargs)
    try:
        return ShiftWrapper(env, spec, seed=seed)
    except Exception:
        env.close()
        raise
