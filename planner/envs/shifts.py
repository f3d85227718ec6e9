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
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np

from . import _SHIFT_NAMES
from .dynamics import (
    MUJOCO_FIELDS,
    PENDULUM_PARAMETERS,
    apply_dynamics,
    dynamics_kind,
    parameter_names,
)

# Specs live in .spec (no simulator needed); re-exported here, where the wrapper applies them.
from .spec import (
    ALL_PARAMETERS as ALL_PARAMETERS,
)
from .spec import (
    SPEC_KEYS as SPEC_KEYS,
)
from .spec import (
    Choice as Choice,
)
from .spec import (
    Cripple as Cripple,
)
from .spec import (
    Payload as Payload,
)
from .spec import (
    ShiftSpec as ShiftSpec,
)
from .spec import (
    Switch as Switch,
)
from .spec import (
    Uniform as Uniform,
)
from .spec import (
    as_spec as as_spec,
)
from .spec import (
    parse_shift as parse_shift,
)
from .spec import (
    resolve_shift as resolve_shift,
)

#: The order in which `ShiftWrapper.step` transforms a commanded action.
ACTION_ORDER = "scale/bias -> delay queue -> cripple -> clip to the action box"
#: Payload body for tasks without a "torso" (by the class name of ``env.unwrapped``).
_DEFAULT_PAYLOAD_BODY = {
    "PendulumEnv": "tip",
    "InvertedPendulumEnv": "pole",
    "ReacherEnv": "fingertip",
    "PusherEnv": "tips_arm",
}
_PENDULUM_BODIES = ("tip",)
_WARNED: set[tuple[str, str]] = set()


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


# The public names are listed once, in the package; these are the ones defined here.
__all__ = [n for n in _SHIFT_NAMES if n in globals()]
