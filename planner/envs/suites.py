"""The ShiftBench suites as data (see docs/SHIFTS.md and shared/BENCHMARKS.md section 3).

Every function returns a list of named `ShiftSpec`s for one task; specs are JSON data
(``spec.to_dict()``) and can be given to `planner.envs.make_env` or to
``ShiftWrapper.reset(options={"shift": spec})``.

Suites (`SUITE_NAMES`):

- ``ID``: concrete draws from the training ranges (`TRAIN_RANGES`, `train_spec`).
- ``OOD-single``: one modeled parameter at an extreme factor (only the parameters that
  have an effect in the task, `EFFECTIVE_PARAMETERS`).
- ``OOD-compound``: several extremes at once.
- ``unmodeled``: action delay 1-3, action scale 0.6, a crippled actuator, a payload.
- ``time-varying``: an abrupt switch from an ID draw to an OOD spec at `SWITCH_STEP`.
- ``CaDM-train`` / ``CaDM-test``: the CaDM-compatible sets (Pendulum-v1, HalfCheetah-v5).

Ranged specs (``train_spec``, ``CaDM-*``) are drawn per episode by the wrapper; the
other suites are concrete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .shifts import ShiftSpec, metaworld_unsupported_reason, resolve_shift

__all__ = [
    "ACTION_DIM",
    "CADM_HALFCHEETAH_TEST_BINS",
    "CADM_HALFCHEETAH_TRAIN",
    "CADM_PENDULUM_TEST_BINS",
    "CADM_PENDULUM_TRAIN",
    "CRIPPLE_STEP",
    "EFFECTIVE_PARAMETERS",
    "HORIZON",
    "METAWORLD_TASKS",
    "OOD_SINGLE",
    "PAYLOAD",
    "SUITE_NAMES",
    "SWITCH_STEP",
    "TASKS",
    "TRAIN_RANGES",
    "all_suites",
    "cadm_test",
    "cadm_train",
    "id_suite",
    "ood_compound",
    "ood_single",
    "suite",
    "time_varying",
    "train_spec",
    "unmodeled",
]

TASKS = ("Pendulum-v1", "InvertedPendulum-v5", "Reacher-v5", "Pusher-v5", "HalfCheetah-v5", "Hopper-v5")
#: Named by the issue, not supported (see `planner.envs.shifts.metaworld_unsupported_reason`).
METAWORLD_TASKS = ("metaworld/push-v3",)
SUITE_NAMES = ("ID", "OOD-single", "OOD-compound", "unmodeled", "time-varying", "CaDM-train", "CaDM-test")

#: Episode length (gymnasium's max_episode_steps).
HORIZON = {
    "Pendulum-v1": 200,
    "InvertedPendulum-v5": 1000,
    "Reacher-v5": 50,
    "Pusher-v5": 100,
    "HalfCheetah-v5": 1000,
    "Hopper-v5": 1000,
}
ACTION_DIM = {
    "Pendulum-v1": 1,
    "InvertedPendulum-v5": 1,
    "Reacher-v5": 2,
    "Pusher-v5": 7,
    "HalfCheetah-v5": 6,
    "Hopper-v5": 3,
}
#: Modeled parameters that change the dynamics (measured with `parameter_effects`; friction
#: has none in InvertedPendulum and Reacher (no contacts) nor Pusher (frictionless contacts)).
EFFECTIVE_PARAMETERS = {
    "Pendulum-v1": ("m", "l", "g"),
    "InvertedPendulum-v5": ("mass", "inertia", "damping", "gear"),
    "Reacher-v5": ("mass", "inertia", "damping", "gear"),
    "Pusher-v5": ("mass", "inertia", "damping", "gear"),
    "HalfCheetah-v5": ("mass", "inertia", "damping", "friction", "gear"),
    "Hopper-v5": ("mass", "inertia", "damping", "friction", "gear"),
}
#: Time-varying switch step: 300 for 1000-step tasks, else half the episode.
SWITCH_STEP = {t: 300 if h >= 1000 else h // 2 for t, h in HORIZON.items()}
#: Crippled-actuator onset: 200 for 1000-step tasks, else half the episode.
CRIPPLE_STEP = {t: 200 if h >= 1000 else h // 2 for t, h in HORIZON.items()}
#: Unmodeled payload: (body, kg).
PAYLOAD = {
    "Pendulum-v1": ("tip", 0.5),
    "InvertedPendulum-v5": ("pole", 2.5),
    "Reacher-v5": ("fingertip", 0.1),
    "Pusher-v5": ("tips_arm", 1.0),
    "HalfCheetah-v5": ("torso", 5.0),
    "Hopper-v5": ("torso", 3.0),
}


def _grid(lo: float, hi: float, step: float) -> list[float]:
    n = round((hi - lo) / step)
    return [round(lo + i * step, 6) for i in range(n + 1)]


CADM_PENDULUM_TRAIN = _grid(0.75, 1.25, 0.05)
CADM_PENDULUM_TEST_BINS: list[dict[str, list[float]]] = [
    {"m": [0.2, 0.4], "l": [1.6, 1.8]},
    {"m": [0.5, 0.7], "l": [1.3, 1.5]},
    {"m": [1.3, 1.5], "l": [0.5, 0.7]},
    {"m": [1.6, 1.8], "l": [0.2, 0.4]},
]
CADM_HALFCHEETAH_TRAIN = [0.75, 0.85, 1.0, 1.15, 1.25]
CADM_HALFCHEETAH_TEST_BINS: list[list[float]] = [[0.2, 0.3], [0.4, 0.5], [1.5, 1.6], [1.7, 1.8]]

_MUJOCO_TRAIN = {"mass": [0.75, 1.25], "damping": [0.75, 1.25], "gear": [0.8, 1.2]}
#: Training randomization per task: name -> [lo, hi] (uniform) or {"choice": [...]}.
#: Pendulum's ID ranges are CaDM's training set (g is not varied).
TRAIN_RANGES: dict[str, dict[str, Any]] = {
    "Pendulum-v1": {"m": {"choice": CADM_PENDULUM_TRAIN}, "l": {"choice": CADM_PENDULUM_TRAIN}},
    "InvertedPendulum-v5": dict(_MUJOCO_TRAIN),
    "Reacher-v5": dict(_MUJOCO_TRAIN),
    "Pusher-v5": dict(_MUJOCO_TRAIN),
    "HalfCheetah-v5": {**_MUJOCO_TRAIN, "friction": [0.75, 1.25]},
    "Hopper-v5": {**_MUJOCO_TRAIN, "friction": [0.75, 1.25]},
}
#: OOD-single factors per parameter (MuJoCo from BENCHMARKS.md; Pendulum's l and g chosen
#: outside the training set).
OOD_SINGLE: dict[str, tuple[float, ...]] = {
    "mass": (0.25, 0.5, 2.0, 3.0),
    "damping": (0.2, 0.3, 2.2, 3.0),
    "friction": (0.2, 0.3, 1.5),
    "gear": (0.4, 1.8),
    "m": (0.25, 0.5, 2.0, 3.0),
    "l": (0.4, 0.6, 1.5, 1.8),
    "g": (0.5, 1.5),
}
_MUJOCO_COMPOUND = [
    {"mass": 2.0, "damping": 0.3},
    {"mass": 0.5, "damping": 3.0},
    {"mass": 3.0, "gear": 0.4},
    {"mass": 0.25, "gear": 1.8},
]
_FRICTION_COMPOUND = [{"mass": 2.0, "friction": 0.3}, {"damping": 0.2, "friction": 1.5}]
_PENDULUM_COMPOUND = [{"m": 2.0, "l": 1.5}, {"m": 0.5, "l": 0.6}, {"m": 3.0, "g": 1.5}, {"m": 0.25, "l": 1.8}]


def _task(task: str) -> str:
    if task.lower().startswith(("metaworld/", "meta-world/")):
        raise ImportError(f"{task}: {metaworld_unsupported_reason()}")
    if task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; expected one of {list(TASKS)}")
    return task


def _label(params: dict[str, float]) -> str:
    return " + ".join(f"{k} x{v:.3g}" for k, v in params.items())


def _bin(b: list[float]) -> str:
    return f"[{b[0]:g},{b[1]:g}]"


def train_spec(task: str) -> ShiftSpec:
    """The ranged ID spec (drawn per episode by the wrapper) for training randomization."""
    return ShiftSpec(name="train", params=TRAIN_RANGES[_task(task)])


def id_suite(task: str, n: int = 8, seed: int = 0) -> list[ShiftSpec]:
    """``n`` concrete draws from the training ranges (draw ``i`` uses seed ``[seed, i]``)."""
    spec = train_spec(task)
    out = []
    for i in range(n):
        r = resolve_shift(spec, [seed, i])
        out.append(ShiftSpec(name=f"ID#{i} " + _label(dict(r.params)), params=r.params))
    return out


def ood_single(task: str) -> list[ShiftSpec]:
    """One effective parameter at a time at its OOD factors."""
    task = _task(task)
    return [
        ShiftSpec(name=f"{p} x{f:g}", params={p: f})
        for p in EFFECTIVE_PARAMETERS[task]
        if p in OOD_SINGLE
        for f in OOD_SINGLE[p]
    ]


def ood_compound(task: str) -> list[ShiftSpec]:
    """Simultaneous extremes (friction combinations only where friction has an effect)."""
    task = _task(task)
    if task == "Pendulum-v1":
        sets = _PENDULUM_COMPOUND
    else:
        sets = _MUJOCO_COMPOUND + (_FRICTION_COMPOUND if "friction" in EFFECTIVE_PARAMETERS[task] else [])
    return [ShiftSpec(name=_label(p), params=p) for p in sets]


def unmodeled(task: str) -> list[ShiftSpec]:
    """Shifts never varied in training: delay 1-3, scale 0.6, a crippled actuator 0 from
    `CRIPPLE_STEP` (factor 0; 0.5 where it is the only actuator), a payload (`PAYLOAD`)."""
    task = _task(task)
    step = CRIPPLE_STEP[task]
    factor = 0.0 if ACTION_DIM[task] > 1 else 0.5
    body, kg = PAYLOAD[task]
    return [
        *(ShiftSpec(name=f"delay {d}", action_delay=d) for d in (1, 2, 3)),
        ShiftSpec(name="scale 0.6", action_scale=0.6),
        ShiftSpec(name=f"cripple a0 x{factor:g} @{step}", cripple={"actuator": 0, "from_step": step, "factor": factor}),
        ShiftSpec(name=f"payload {kg:g}kg @{body}", payload={"body": body, "mass": kg}),
    ]


def time_varying(task: str, n: int = 4, seed: int = 0) -> list[ShiftSpec]:
    """``n`` specs switching at `SWITCH_STEP` from an ID draw (`id_suite`) to an OOD spec
    (cycling over the compound extremes and the largest single mass / m factor)."""
    task = _task(task)
    ids = id_suite(task, n, seed)
    big = "m" if task == "Pendulum-v1" else "mass"
    targets = [*ood_compound(task)[:2], ShiftSpec(name=f"{big} x3", params={big: 3.0}), *ood_compound(task)[2:4]]
    step = SWITCH_STEP[task]
    out = []
    for i, first in enumerate(ids):
        to = targets[i % len(targets)]
        name = f"{first.name.split(' ')[0]} -> {to.name} @{step}"
        out.append(ShiftSpec(name=name, params=first.params, switch={"step": step, "to": to.to_dict()}))
    return out


def cadm_train(task: str) -> list[ShiftSpec]:
    """CaDM's training set as one ranged spec (a choice per factor)."""
    task = _task(task)
    if task == "Pendulum-v1":
        grid = {"choice": CADM_PENDULUM_TRAIN}
        return [ShiftSpec(name="CaDM-train", params={"m": grid, "l": grid})]
    if task == "HalfCheetah-v5":
        grid = {"choice": CADM_HALFCHEETAH_TRAIN}
        return [ShiftSpec(name="CaDM-train", params={"mass": grid, "damping": grid})]
    raise ValueError(f"task: CaDM-compatible sets exist for Pendulum-v1 and HalfCheetah-v5 only, got {task!r}")


def cadm_test(task: str) -> list[ShiftSpec]:
    """CaDM's test bins, one ranged spec per bin (drawn uniformly within the bin)."""
    task = _task(task)
    if task == "Pendulum-v1":
        return [ShiftSpec(name=f"CaDM m{_bin(b['m'])} l{_bin(b['l'])}", params=b) for b in CADM_PENDULUM_TEST_BINS]
    if task == "HalfCheetah-v5":
        return [
            ShiftSpec(name=f"CaDM mass,damping {_bin(b)}", params={"mass": b, "damping": b})
            for b in CADM_HALFCHEETAH_TEST_BINS
        ]
    raise ValueError(f"task: CaDM-compatible sets exist for Pendulum-v1 and HalfCheetah-v5 only, got {task!r}")


_SUITES: dict[str, Callable[[str], list[ShiftSpec]]] = {
    "ID": id_suite,
    "OOD-single": ood_single,
    "OOD-compound": ood_compound,
    "unmodeled": unmodeled,
    "time-varying": time_varying,
    "CaDM-train": cadm_train,
    "CaDM-test": cadm_test,
}


def suite(task: str, name: str) -> list[ShiftSpec]:
    """The suite ``name`` (one of `SUITE_NAMES`) for ``task``."""
    if name not in _SUITES:
        raise ValueError(f"suite: unknown suite {name!r}; expected one of {list(SUITE_NAMES)}")
    return _SUITES[name](task)


def all_suites(task: str) -> dict[str, list[ShiftSpec]]:
    """Every suite that exists for ``task`` (the CaDM sets only for Pendulum / HalfCheetah)."""
    task = _task(task)
    names = SUITE_NAMES if task in ("Pendulum-v1", "HalfCheetah-v5") else SUITE_NAMES[:5]
    return {n: suite(task, n) for n in names}
