"""On-policy rounds for context arms trained on one shared dataset.

Arms trained offline only let their planners exploit the model off the data (on
HalfCheetah the offline NC scored about -330 at nominal dynamics where the model-based
loop's model scores 1330). A round fixes that the way the model-based loop does, for
every arm at once and keeping the arms on one dataset:

1. every arm's current model plans `episodes` episodes under the training dynamics with
   the context it is evaluated with (`shifted_data.ArmPolicy`: NC none, PC-oracle the
   true log factors, OC its encoder over the executed actions), with exploration noise;
2. the episodes of all arms are pooled with the dataset (``<dataset>_r<k>``);
3. every arm continues training from its last checkpoint on the pooled data for
   `steps_per_round` more steps (one process per arm, one thread each), writing
   ``<out>_r<k>.lpm.safetensors``.

Finished rounds (dataset and all models present) are skipped, so an interrupted run
continues where it stopped. Command line::

    python -m planner.models.onpolicy --config configs/halfcheetah_onpolicy.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .shifted_data import BEHAVIOR_CONTEXTS, build_shifted_dataset
from .train import checkpoint_path
from .world_model import dataclass_from_dict

__all__ = ["OnPolicyConfig", "round_returns", "run_rounds"]


@dataclass
class OnPolicyConfig:
    """Settings of `run_rounds`.

    Attributes:
        task: gymnasium id.
        arms: ``{arm: training config file}`` (arm in "NC", "PC-oracle", "OC"); each
            config's `out` (and its checkpoints) is round 0, its `dataset` the data
            round 1 extends.
        rounds: on-policy rounds.
        episodes: episodes each arm plans per round.
        noise_std: exploration noise std, cycled over an arm's episodes.
        steps_per_round: gradient steps each arm continues for per round.
        optimizer: ``{"name": ..., **fields}`` of the planner that collects.
        randomize: scale factors drawn per episode (`data.collect`'s format).
        max_steps: steps per episode (None: the task's limit).
        plan_threads: planner threads while collecting.
        seed: round k collects with seed + 2 (k - 1).
        configs_dir: where each round's training configs are written (kept as a record).
        progress: progress bars while collecting.
    """

    task: str = "HalfCheetah-v5"
    arms: dict = field(default_factory=dict)
    rounds: int = 2
    episodes: int = 10
    noise_std: list = field(default_factory=lambda: [0.1, 0.2])
    steps_per_round: int = 10000
    optimizer: dict = field(default_factory=lambda: {"name": "icem", "samples": 512, "horizon": 12, "iterations": 3})
    randomize: dict = field(default_factory=dict)
    max_steps: int | None = None
    plan_threads: int = 2
    seed: int = 11
    configs_dir: str = "runs/onpolicy"
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("arms: expected {arm: training config file}")
        bad = sorted(set(self.arms) - set(BEHAVIOR_CONTEXTS[1:]))
        if bad:
            raise ValueError(f"arms: unknown arm(s) {bad}; expected some of {list(BEHAVIOR_CONTEXTS[1:])}")
        for name in ("rounds", "episodes", "steps_per_round"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def _suffixed(path: str, k: int, ext: str = "") -> str:
    """``runs/x.lpm.safetensors`` -> ``runs/x_r2.lpm.safetensors`` (k = 0: unchanged)."""
    if k == 0:
        return path
    p = Path(path)
    stem = p.name[: -len(ext)] if ext and p.name.endswith(ext) else p.name
    return str(p.with_name(f"{stem}_r{k}{ext if p.name.endswith(ext) else ''}"))


def _load_arms(cfg: OnPolicyConfig) -> dict[str, dict]:
    arms = {}
    for arm, path in cfg.arms.items():
        d = json.loads(Path(path).read_text())
        for key in ("dataset", "out", "steps"):
            if key not in d:
                raise ValueError(f"arms.{arm}: {path} has no {key!r}")
        if not d.get("checkpoint_every"):
            raise ValueError(f"arms.{arm}: {path} must checkpoint (checkpoint_every > 0): rounds resume from it")
        if d.get("task", cfg.task) != cfg.task:
            raise ValueError(f"arms.{arm}: {path} is for {d.get('task')}, expected {cfg.task}")
        arms[arm] = d
    datasets = {d["dataset"] for d in arms.values()}
    if len(datasets) != 1:
        raise ValueError(f"arms: the arms must share one dataset, got {sorted(datasets)}")
    return arms


def _round_train_config(base: dict, k: int, steps_per_round: int) -> dict:
    """Arm training config of round k: round k-1's model continued on round k's dataset."""
    prev_steps = int(base["steps"]) + (k - 1) * steps_per_round
    d = dict(base)
    d["steps"] = prev_steps + steps_per_round
    d["resume"] = str(checkpoint_path(_suffixed(base["out"], k - 1, ".lpm.safetensors"), prev_steps))
    d["dataset"] = _suffixed(base["dataset"], k)
    d["dataset_command"] = None
    d["out"] = _suffixed(base["out"], k, ".lpm.safetensors")
    return d


def run_rounds(config: OnPolicyConfig | dict) -> dict[str, str]:
    """Runs the rounds; returns ``{arm: final model file}``."""
    cfg = config if isinstance(config, OnPolicyConfig) else dataclass_from_dict(OnPolicyConfig, config, "config")
    arms = _load_arms(cfg)
    cfg_dir = Path(cfg.configs_dir)
    cfg_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1, cfg.rounds + 1):
        train_cfgs = {arm: _round_train_config(base, k, cfg.steps_per_round) for arm, base in arms.items()}
        prev_models = {arm: _suffixed(base["out"], k - 1, ".lpm.safetensors") for arm, base in arms.items()}
        dataset = next(iter(train_cfgs.values()))["dataset"]
        if all(Path(c["out"]).is_file() for c in train_cfgs.values()) and (Path(dataset) / "meta").is_dir():
            print(f"round {k}: done before, skipped", flush=True)
            continue
        for arm, path in prev_models.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"round {k}: arm {arm}'s model {path} does not exist (train it first)")
        t0 = time.perf_counter()
        if not (Path(dataset) / "meta").is_dir():
            build_shifted_dataset(
                {
                    "task": cfg.task,
                    "behavior_model": None,
                    "arms": prev_models,
                    "extend": [_suffixed(next(iter(arms.values()))["dataset"], k - 1)],
                    "optimizer": cfg.optimizer,
                    "randomize": cfg.randomize,
                    "episodes": cfg.episodes,
                    "max_steps": cfg.max_steps,
                    "noise_std": list(cfg.noise_std),
                    "plan_threads": cfg.plan_threads,
                    "seed": cfg.seed + 2 * (k - 1),
                    "out": dataset,
                    "progress": cfg.progress,
                }
            )
        t1 = time.perf_counter()
        procs = []
        for arm, tc in train_cfgs.items():
            if Path(tc["out"]).is_file():
                continue
            path = cfg_dir / f"{Path(tc['out']).name.replace('.lpm.safetensors', '')}.json"
            path.write_text(json.dumps(tc | {"threads": 1, "progress": False}, indent=2) + "\n")
            log = open(cfg_dir / f"{path.stem}.log", "w")  # noqa: SIM115 (closed below)
            cmd = [sys.executable, "-m", "planner", "train", "--config", str(path)]
            procs.append((arm, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        failed = []
        for arm, proc, log in procs:
            if proc.wait() != 0:
                failed.append(f"{arm} (log: {log.name})")
            log.close()
        if failed:
            raise RuntimeError(f"round {k}: training failed for {', '.join(failed)}")
        print(
            f"round {k}: collected in {t1 - t0:.0f} s, trained in {time.perf_counter() - t1:.0f} s -> "
            + ", ".join(tc["out"] for tc in train_cfgs.values()),
            flush=True,
        )
    return {arm: _suffixed(base["out"], cfg.rounds, ".lpm.safetensors") for arm, base in arms.items()}


def round_returns(config: OnPolicyConfig | dict | str) -> list[dict]:
    """Per finished round k: the returns of the episodes each arm's round k-1 model
    planned in it (training dynamics, exploration noise included), read back from the
    round's dataset. Empty when no round has run."""
    from .data import load_dataset

    if isinstance(config, (str, Path)):
        config = json.loads(Path(config).read_text())
    cfg = config if isinstance(config, OnPolicyConfig) else dataclass_from_dict(OnPolicyConfig, config, "config")
    arms = _load_arms(cfg)
    base = next(iter(arms.values()))["dataset"]
    rows = []
    for k in range(1, cfg.rounds + 1):
        path = Path(_suffixed(base, k))
        if not (path / "meta").is_dir():
            break
        ds = load_dataset(path)
        returns = np.bincount(ds.episode_index, weights=ds.reward, minlength=ds.num_episodes)
        n = cfg.episodes
        new = returns[ds.num_episodes - n * len(arms) :]
        rows.append(
            {
                "round": k,
                "returns": {arm: [round(float(r), 1) for r in new[i * n : (i + 1) * n]] for i, arm in enumerate(arms)},
            }
        )
    return rows


def main_onpolicy(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m planner.models.onpolicy", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON object of OnPolicyConfig fields")
    p.add_argument("--rounds", type=int, default=None, help="override the config's rounds")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    d = json.loads(Path(args.config).read_text())
    if args.rounds is not None:
        d["rounds"] = args.rounds
    if args.no_progress:
        d["progress"] = False
    cfg = dataclass_from_dict(OnPolicyConfig, d, "config")
    print(json.dumps({"config": asdict(cfg)}), flush=True)
    print(json.dumps(run_rounds(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main_onpolicy())
