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

import numpy as np

from ..config import config_from_dict
from ..planner import Planner
from .data import Dataset, collect, load_dataset, save_dataset
from .world_model import dataclass_from_dict

__all__ = ["ShiftedDataConfig", "collect_planned", "label_nominal", "relabel_dynamics", "build_shifted_dataset"]


def collect_planned(
    planner: Planner,
    task: str,
    episodes: int,
    *,
    noise_std: float | list[float] = 0.1,
    randomize: dict | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    deadline: float | None = None,
    progress: bool = True,
    desc: str = "planned episodes",
) -> tuple[Dataset | None, list[float]]:
    """Episodes planned natively by `planner` (zero context) plus exploration noise.

    Args:
        planner: the behaviour planner; reset before every episode.
        noise_std: one std, or a list cycled over the episodes.
        randomize: scale factors drawn per episode (`data.collect`'s format).
        deadline: `time.perf_counter()` after which no new episode starts (the first
            always runs).

    Returns:
        (dataset or None when no episode ran, plan milliseconds of every step).
    """
    from .mbrl import _bar, _episode_returns, concat_datasets

    C = planner.context_dim
    ctx = np.zeros(C, np.float32) if C else None
    plan_ms: list[float] = []
    stds = [float(s) for s in (noise_std if isinstance(noise_std, (list, tuple)) else [noise_std])]
    if not stds or min(stds) < 0:
        raise ValueError(f"noise_std: expected a std >= 0 or a non-empty list of them, got {noise_std}")

    def policy(obs: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter_ns()
        a = planner.plan(np.ascontiguousarray(obs, np.float32), context=ctx).action
        plan_ms.append((time.perf_counter_ns() - t0) / 1e6)
        return a

    policy.__name__ = "native_planner"
    ds = None
    bar = _bar(episodes, progress, desc)
    for e in range(episodes):
        if e > 0 and deadline is not None and time.perf_counter() > deadline:
            break
        planner.reset()
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
    return ds, plan_ms


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
        behavior_model: model file the behaviour planner loads.
        optimizer: ``{"name": ..., **fields}`` of the behaviour planner.
        randomize: scale factors drawn per episode (`data.collect`'s format).
        episodes: planned episodes under `randomize`.
        max_steps: steps per episode (None: the task's limit).
        noise_std: per-episode exploration noise std, cycled over episodes.
        include: datasets collected at nominal dynamics, added with factors 1.0.
        plan_threads: planner threads.
        seed: seeds noise, factor draws and resets.
        out: dataset directory written.
        progress: tqdm bars.
    """

    task: str = "HalfCheetah-v5"
    behavior_model: str = "runs/halfcheetah.lpm.safetensors"
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
        if "name" not in self.optimizer:
            raise ValueError("optimizer: needs a 'name' (cem, icem or mppi)")


def build_shifted_dataset(config: ShiftedDataConfig | dict) -> Dataset:
    """Collects, merges, relabels and saves the dataset `config` describes."""
    from .mbrl import concat_datasets

    cfg = config if isinstance(config, ShiftedDataConfig) else dataclass_from_dict(ShiftedDataConfig, config, "config")
    opt = dict(cfg.optimizer)
    opt_cfg = config_from_dict(opt.pop("name"), opt)
    if not Path(cfg.behavior_model).is_file():
        raise FileNotFoundError(f"behavior_model: {cfg.behavior_model} does not exist (train it first)")
    planner = Planner.from_file(cfg.behavior_model, opt_cfg, seed=cfg.seed, threads=cfg.plan_threads)
    names = tuple(cfg.randomize)
    ds, _ = collect_planned(
        planner,
        cfg.task,
        cfg.episodes,
        noise_std=list(cfg.noise_std),
        randomize=cfg.randomize,
        max_steps=cfg.max_steps,
        seed=cfg.seed,
        progress=cfg.progress,
        desc=f"collect {cfg.task} {'/'.join(names)}",
    )
    assert ds is not None
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
