"""Datasets over a set of dynamics, collected with the native planner (no torch needed).

The context arms (NC, PC-oracle, OC) of a task are compared on ONE dataset, so that they
differ only in how the model is conditioned. For HalfCheetah that dataset is:

* the nominal-dynamics data of the model-based loop (`planner.models.mbrl`), labelled
  with scale factors 1.0, and
* episodes under CaDM's training set (global mass and damping factors each drawn from
  {0.75, 0.85, 1.0, 1.15, 1.25}), planned natively by the loop's nominal model (the
  behaviour policy) plus Gaussian exploration noise of a per-episode std.

Dynamics IDs are re-derived from the scale factors, so every episode with the same
factors shares one ID (the InfoNCE positives of `train.py`).

Command line::

    python -m planner.models.shifted_data --config configs/halfcheetah_cadm_data.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import config_from_dict
from ..planner import Planner
from .data import Dataset, collect, load_dataset, save_dataset
from .world_model import dataclass_from_dict

__all__ = [
    "ArmPolicy",
    "ShiftedDataConfig",
    "collect_planned",
    "label_nominal",
    "relabel_dynamics",
    "build_shifted_dataset",
]


#: Context sources a behaviour policy can plan with: "zero" (a zero context, or none for
#: C = 0), and the ShiftBench arms "NC", "PC-oracle" (true log factors) and "OC" (the
#: model's encoder over the episode's last K transitions).
BEHAVIOR_CONTEXTS = ("zero", "NC", "PC-oracle", "OC")


class ArmPolicy:
    """A `data.collect` policy that plans natively with one arm's own context.

    On-policy data for an arm has to come from the arm acting as it will be evaluated:
    with the context it infers (OC), is told (PC-oracle) or lacks (NC). Exploration
    noise is added by `collect`; the history the encoder reads holds the executed
    (noisy) actions.

    Args:
        planner: the native planner (batch 1) of the arm's model.
        context: one of `BEHAVIOR_CONTEXTS`.
        model: the `planner.WorldModel` or model file the planner loaded (needed for
            "PC-oracle", parameter names, and "OC", the encoder).
    """

    def __init__(self, planner: Planner, context: str = "zero", model: Any = None) -> None:
        if context not in BEHAVIOR_CONTEXTS:
            raise ValueError(f"context: expected one of {BEHAVIOR_CONTEXTS}, got {context!r}")
        C = planner.context_dim
        if context == "NC" and C:
            raise ValueError(f"context 'NC' needs a model without context (C=0), got C={C}")
        if context in ("PC-oracle", "OC") and model is None:
            raise ValueError(f"context {context!r}: pass the model the planner loaded")
        self.planner, self.context, self.plan_ms = planner, context, []
        self.last_context: np.ndarray | None = None  # the context of the last plan
        self._ctx = np.zeros(C, np.float32) if C else None
        self._names: tuple[str, ...] = ()
        self._encoder = None
        self._history = None
        if context == "PC-oracle":
            from ..context import OracleContext

            self._names = OracleContext.from_model(None, model).names
        elif context == "OC":
            from ..context import OutcomeContext
            from ..control.controller import History

            self._encoder = OutcomeContext(model)
            self._history = History(1, self._encoder.history, planner.state_dim, planner.action_dim)

    def begin_episode(self, factors: dict[str, float]) -> None:
        self.planner.reset()
        if self._names:
            log = [np.log(float(factors.get(n, 1.0))) for n in self._names]
            self._ctx = np.asarray(log, np.float32)
        if self._history is not None:
            self._history.reset()

    def observe(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        if self._history is not None:
            self._history.push(0, obs, action, next_obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter_ns()
        ctx = self._encoder(self._history)[0] if self._encoder is not None else self._ctx
        self.last_context = ctx
        a = self.planner.plan(np.ascontiguousarray(obs, np.float32), context=ctx).action
        self.plan_ms.append((time.perf_counter_ns() - t0) / 1e6)
        return a


def collect_planned(
    planner: Planner,
    task: str,
    episodes: int,
    *,
    context: str = "zero",
    model: Any = None,
    noise_std: float | list[float] = 0.1,
    randomize: dict | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    deadline: float | None = None,
    progress: bool = True,
    desc: str = "planned episodes",
) -> tuple[Dataset | None, list[float]]:
    """Episodes planned natively by `planner` plus exploration noise.

    Args:
        planner: the behaviour planner; reset before every episode.
        context, model: the context it plans with (`ArmPolicy`).
        noise_std: one std, or a list cycled over the episodes.
        randomize: scale factors drawn per episode (`data.collect`'s format).
        deadline: `time.perf_counter()` after which no new episode starts (the first
            always runs).

    Returns:
        (dataset or None when no episode ran, plan milliseconds of every step).
    """
    from .mbrl import _bar, _episode_returns, concat_datasets

    stds = [float(s) for s in (noise_std if isinstance(noise_std, (list, tuple)) else [noise_std])]
    if not stds or min(stds) < 0:
        raise ValueError(f"noise_std: expected a std >= 0 or a non-empty list of them, got {noise_std}")
    policy = ArmPolicy(planner, context, model)
    ds = None
    bar = _bar(episodes, progress, desc)
    for e in range(episodes):
        if e > 0 and deadline is not None and time.perf_counter() > deadline:
            break
        ep = collect(
            task,
            1,
            policy=policy,
            noise_std=stds[e % len(stds)],
            randomize=randomize,
            max_steps=max_steps,
            seed=seed * 1000 + e,
            progress=False,
        )
        ds = ep if ds is None else concat_datasets(ds, ep)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(ret=f"{_episode_returns(ep)[0]:.1f}")
    if bar is not None:
        bar.close()
    return ds, policy.plan_ms


def label_nominal(ds: Dataset, names: tuple[str, ...]) -> Dataset:
    """`ds` (collected at nominal dynamics, no factors recorded) with factors 1.0 for `names`."""
    if ds.parameter_names and tuple(ds.parameter_names) != tuple(names):
        raise ValueError(f"dataset already records factors {ds.parameter_names}, expected none or {names}")
    out = ds.select_episodes(np.arange(ds.num_episodes))
    out.parameters = np.ones((ds.num_episodes, len(names)), np.float64)
    out.parameter_names = tuple(names)
    return out


def relabel_dynamics(ds: Dataset) -> Dataset:
    """One dynamics ID per distinct tuple of scale factors (rounded to 1e-9)."""
    _, inverse = np.unique(np.round(ds.parameters, 9), axis=0, return_inverse=True)
    ds.dynamics_id = np.asarray(inverse, np.int64).reshape(-1)
    return ds


@dataclass
class ShiftedDataConfig:
    """Settings of `build_shifted_dataset`.

    Attributes:
        task: gymnasium id.
        behavior_model: model file the behaviour planner loads (zero context).
        arms: instead of `behavior_model`, ``{arm: model file}`` (arm in "NC",
            "PC-oracle", "OC"): each arm plans `episodes` episodes with its own context
            (an on-policy round of the arms compared on the dataset).
        extend: datasets that already record the same scale factors, added as they are
            (the dataset an on-policy round extends).
        optimizer: ``{"name": ..., **fields}`` of the behaviour planner.
        randomize: scale factors drawn per episode (`data.collect`'s format).
        episodes: planned episodes under `randomize` (per arm when `arms` is set).
        max_steps: steps per episode (None: the task's limit).
        noise_std: per-episode exploration noise std, cycled over episodes.
        include: datasets collected at nominal dynamics, added with factors 1.0.
        plan_threads: planner threads.
        seed: seeds noise, factor draws and resets.
        out: dataset directory written.
        progress: tqdm bars.
    """

    task: str = "HalfCheetah-v5"
    behavior_model: str | None = "runs/halfcheetah.lpm.safetensors"
    arms: dict = field(default_factory=dict)
    extend: list = field(default_factory=list)
    optimizer: dict = field(default_factory=lambda: {"name": "icem", "samples": 512, "horizon": 12, "iterations": 3})
    randomize: dict = field(default_factory=dict)
    episodes: int = 50
    max_steps: int | None = None
    noise_std: list = field(default_factory=lambda: [0.1, 0.3])
    include: list = field(default_factory=list)
    plan_threads: int = 2
    seed: int = 7
    out: str = "runs/data/halfcheetah_cadm"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if not self.randomize:
            raise ValueError("randomize: expected at least one scale factor to vary")
        if bool(self.arms) == bool(self.behavior_model):
            raise ValueError("behavior_model, arms: set exactly one (arms: {arm: model file} for an on-policy round)")
        bad = sorted(set(self.arms) - set(BEHAVIOR_CONTEXTS[1:]))
        if bad:
            raise ValueError(f"arms: unknown arm(s) {bad}; expected some of {list(BEHAVIOR_CONTEXTS[1:])}")
        if "name" not in self.optimizer:
            raise ValueError("optimizer: needs a 'name' (cem, icem or mppi)")


def build_shifted_dataset(config: ShiftedDataConfig | dict) -> Dataset:
    """Collects, merges, relabels and saves the dataset `config` describes."""
    from .mbrl import concat_datasets

    cfg = config if isinstance(config, ShiftedDataConfig) else dataclass_from_dict(ShiftedDataConfig, config, "config")
    opt = dict(cfg.optimizer)
    opt_cfg = config_from_dict(opt.pop("name"), opt)
    behaviour = dict(cfg.arms) if cfg.arms else {"zero": cfg.behavior_model}
    for arm, path in behaviour.items():
        if not Path(path).is_file():
            what = "behavior_model" if arm == "zero" else f"arms.{arm}"
            raise FileNotFoundError(f"{what}: {path} does not exist (train it first)")
    names = tuple(cfg.randomize)
    ds = None
    for i, (arm, path) in enumerate(behaviour.items()):
        planner = Planner.from_file(path, opt_cfg, seed=cfg.seed + i, threads=cfg.plan_threads)
        part, _ = collect_planned(
            planner,
            cfg.task,
            cfg.episodes,
            context=arm,
            model=path,
            noise_std=list(cfg.noise_std),
            randomize=cfg.randomize,
            max_steps=cfg.max_steps,
            seed=cfg.seed + 101 * i,
            progress=cfg.progress,
            desc=f"collect {cfg.task} {'/'.join(names)}" + ("" if arm == "zero" else f" ({arm})"),
        )
        assert part is not None
        ds = part if ds is None else concat_datasets(ds, part)
    assert ds is not None
    for path in cfg.extend:
        extra = load_dataset(path)
        if extra.task != cfg.task or tuple(extra.parameter_names) != names:
            raise ValueError(
                f"extend: {path} is for {extra.task} with factors {list(extra.parameter_names)}, "
                f"expected {cfg.task} with {list(names)}"
            )
        ds = concat_datasets(extra, ds)
    for path in cfg.include:
        extra = load_dataset(path)
        if extra.task != cfg.task:
            raise ValueError(f"include: {path} is for {extra.task}, expected {cfg.task}")
        ds = concat_datasets(label_nominal(extra, names), ds)
    ds = relabel_dynamics(ds)
    ds.info = {"builder": "planner.models.shifted_data", "config": asdict(cfg)}
    save_dataset(ds, cfg.out)
    return ds


def main_shifted_data(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m planner.models.shifted_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON object of ShiftedDataConfig fields")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    d = json.loads(Path(args.config).read_text())
    if args.no_progress:
        d["progress"] = False
    t0 = time.perf_counter()
    ds = build_shifted_dataset(d)
    returns = [float(ds.reward[ds.episode_index == e].sum()) for e in range(ds.num_episodes)]
    print(
        json.dumps(
            {
                "out": d.get("out", ShiftedDataConfig.out),
                "episodes": ds.num_episodes,
                "frames": ds.num_frames,
                "dynamics": int(ds.dynamics_id.max()) + 1,
                "return_mean": round(float(np.mean(returns)), 1),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main_shifted_data())
