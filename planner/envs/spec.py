"""Shift specs: JSON data describing how an episode's dynamics differ from nominal
(docs/SHIFTS.md): the `ShiftSpec` dataclasses, parsing from the command line, JSON or
files, and the seeded resolution of ranged values. Needs no simulator; the wrapper that
applies a spec is `planner.envs.shifts.ShiftWrapper`.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dynamics import MUJOCO_PARAMETERS, PENDULUM_PARAMETERS

#: Every modeled parameter name, over all task kinds.
ALL_PARAMETERS: tuple[str, ...] = MUJOCO_PARAMETERS + PENDULUM_PARAMETERS
SPEC_KEYS = ("name", "params", "action_delay", "action_scale", "action_bias", "cripple", "payload", "switch")
_CRIPPLE_KEYS = ("actuator", "from_step", "factor")
_PAYLOAD_KEYS = ("body", "mass")
_SWITCH_KEYS = ("step", "to")


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
