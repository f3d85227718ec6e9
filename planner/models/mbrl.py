"""Iterative model-based RL: random data, then rounds of train -> export -> plan natively.

`run_mbrl(config)`:

1. collect ``initial_episodes`` uniform-random episodes (`data.collect`);
2. repeat until the wall-clock budget is spent: train the world model on all data so
   far (continuing the same torch model and Adam state from round to round; the loss
   and batching are `train._losses` / `train._Tensors`, the normalization
   `train.fit_normalization`, refitted each round), export it to the model file, then
   collect ``episodes_per_round`` episodes with the NATIVE planner
   (`planner.Planner.from_file`) on the real env plus Gaussian exploration noise, and
   append them to the dataset.

The last exported model is always trained on every transition collected: a round is
only started when the remaining budget fits its collection and the training after it.

Command line::

    python -m planner.models.mbrl --config configs/halfcheetah.json --budget-minutes 55 \
        --eval-episodes 10 --eval-seed 1000

The config is a JSON object: ``{"train": {TrainConfig fields}, "optimizer": {"name":
"icem", ...config fields}, ...MBRLConfig fields}``. `zero_action_baseline` and
`random_baseline` evaluate the trivial policies on the seeds `planner.evaluate` uses.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import config_from_dict
from ..evaluate import bootstrap_ci
from ..planner import Planner
from .data import Dataset, collect, save_dataset
from .export import export_model
from .train import (
    TrainConfig,
    _losses,
    _Tensors,
    episode_context,
    fit_normalization,
    prediction_error,
)
from .world_model import WorldModel, dataclass_from_dict, preset

__all__ = [
    "MBRLConfig",
    "run_mbrl",
    "main_mbrl",
    "concat_datasets",
    "zero_action_baseline",
    "random_baseline",
]

log = logging.getLogger("planner.mbrl")


@dataclass
class MBRLConfig:
    """Settings of the model-based loop.

    Attributes:
        train: TrainConfig fields (task, preset, overrides, batch_size, horizon, lr,
            coefficients, seed, threads, out); its ``steps`` is ignored here.
        optimizer: ``{"name": "icem"|"cem"|"mppi", **fields}`` for the native planner.
        budget_minutes: wall-clock budget of the whole loop (collection included).
        initial_episodes: uniform-random episodes before the first round.
        initial_steps: steps per random episode (None: the task's limit).
        episodes_per_round: planner episodes collected per round.
        episode_steps: steps per planner episode (None: the task's limit).
        first_train_steps: gradient steps of round 0.
        train_steps_per_round: gradient steps of every later round.
        max_rounds: cap on rounds (0: budget only).
        noise_std: exploration noise, in units of half the action box width.
        disagreement: ensemble-disagreement penalty while planning.
        plan_threads: planner threads.
        dataset: directory the final dataset is written to (None: not saved).
        log_jsonl: per-round records appended here (None: not written).
        progress: tqdm bars.
    """

    train: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=lambda: {"name": "icem", "samples": 256, "horizon": 12, "iterations": 3})
    budget_minutes: float = 55.0
    initial_episodes: int = 5
    initial_steps: int | None = None
    episodes_per_round: int = 2
    episode_steps: int | None = None
    first_train_steps: int = 3000
    train_steps_per_round: int = 1500
    max_rounds: int = 0
    noise_std: float = 0.1
    disagreement: float = 0.0
    plan_threads: int = 2
    dataset: str | None = None
    log_jsonl: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.budget_minutes <= 0:
            raise ValueError(f"budget_minutes must be > 0, got {self.budget_minutes}")
        for name in ("initial_episodes", "episodes_per_round", "first_train_steps", "train_steps_per_round"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.noise_std < 0 or self.max_rounds < 0:
            raise ValueError("noise_std and max_rounds must be >= 0")
        if "name" not in self.optimizer:
            raise ValueError("optimizer: needs a 'name' (cem, icem or mppi)")

    @classmethod
    def from_dict(cls, d: dict) -> MBRLConfig:
        return dataclass_from_dict(cls, d, "config")

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)

    def optimizer_config(self):
        opt = dict(self.optimizer)
        return config_from_dict(opt.pop("name"), opt)

    def to_dict(self) -> dict:
        return asdict(self)


# -- datasets -----------------------------------------------------------------------------
def concat_datasets(a: Dataset, b: Dataset) -> Dataset:
    """The episodes of `a` followed by those of `b` (same task, same parameter names)."""
    if a.task != b.task or a.parameter_names != b.parameter_names or a.obs_dim != b.obs_dim:
        raise ValueError("datasets disagree in task, observation size or parameter names")
    cat = np.concatenate
    return Dataset(
        task=a.task,
        fps=a.fps,
        observation=cat([a.observation, b.observation]),
        action=cat([a.action, b.action]),
        reward=cat([a.reward, b.reward]),
        next_observation=cat([a.next_observation, b.next_observation]),
        terminated=cat([a.terminated, b.terminated]),
        truncated=cat([a.truncated, b.truncated]),
        episode_index=cat([a.episode_index, b.episode_index + a.num_episodes]),
        frame_index=cat([a.frame_index, b.frame_index]),
        episode_length=cat([a.episode_length, b.episode_length]),
        dynamics_id=cat([a.dynamics_id, b.dynamics_id + (int(a.dynamics_id.max()) + 1 if a.num_episodes else 0)]),
        parameters=cat([a.parameters, b.parameters]),
        parameter_names=a.parameter_names,
        action_low=a.action_low,
        action_high=a.action_high,
        info={"policy": "mixed", "sources": [a.info, b.info]} if a.info != b.info else dict(a.info),
    )


def _episode_returns(ds: Dataset) -> list[float]:
    return [float(x) for x in np.bincount(ds.episode_index, weights=ds.reward, minlength=ds.num_episodes)]


# -- training that continues from round to round -------------------------------------------
class _Trainer:
    """One torch world model, its EMA value target and AdamW state, kept across rounds."""

    def __init__(self, cfg: TrainConfig, obs_dim: int, action_dim: int) -> None:
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.mcfg = preset(cfg.preset, obs_dim, action_dim, **cfg.overrides)
        if self.mcfg.value_head and self.mcfg.discount >= 1:
            raise ValueError("a value head needs discount < 1")
        self.model = WorldModel(self.mcfg)
        self.target = copy.deepcopy(self.model.value_head) if self.model.value_head is not None else None
        if self.target is not None:
            self.target.requires_grad_(False)
        enc = list(self.model.encoder.parameters())
        enc_ids = {id(p) for p in enc}
        other = [p for p in self.model.parameters() if id(p) not in enc_ids]
        self.optimizer = torch.optim.AdamW(
            [{"params": enc, "lr": cfg.lr * cfg.encoder_lr_scale}, {"params": other, "lr": cfg.lr}],
            weight_decay=cfg.weight_decay,
        )
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0

    def fit(self, ds: Dataset, steps: int, deadline: float, progress: bool, desc: str) -> dict:
        """`steps` gradient steps on all of `ds` (stops early at `deadline`); returns losses."""
        cfg, model = self.cfg, self.model
        fit_normalization(model, ds)
        data = _Tensors(model, ds, episode_context(ds, self.mcfg.context_dim, cfg.context), cfg.horizon)
        bar = _bar(steps, progress, desc)
        running: dict[str, float] = {}
        model.train()
        done = 0
        t0 = time.perf_counter()
        while done < steps and time.perf_counter() < deadline:
            losses = _losses(model, self.target, data.batch(cfg.batch_size, self.gen), cfg.rho)
            total = (
                cfg.consistency_coef * losses["consistency"]
                + cfg.reward_coef * losses["reward"]
                + cfg.value_coef * losses["value"]
            )
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            if self.target is not None:
                with torch.no_grad():
                    for pt, p in zip(self.target.parameters(), model.value_head.parameters(), strict=True):
                        pt.lerp_(p, cfg.tau)
            done += 1
            self.step += 1
            values = {k: float(v.detach()) for k, v in losses.items()} | {"total": float(total.detach())}
            for k, v in values.items():
                running[k] = v if k not in running else 0.98 * running[k] + 0.02 * v
            if bar is not None:
                bar.update(1)
                if done % 50 == 0:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()})
        if bar is not None:
            bar.close()
        model.eval()
        return {
            "steps": done,
            "seconds": round(time.perf_counter() - t0, 1),
            **{k: round(v, 6) for k, v in running.items()},
        }

    def export(self, path: Path, info: dict) -> Path:
        return export_model(self.model, path, info)


def _bar(total: int, enabled: bool, desc: str):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit="step", leave=False)
        except ImportError:  # pragma: no cover
            pass
    return None


# -- collection with the native planner ----------------------------------------------------
def _collect_planned(
    model_file: Path, cfg: MBRLConfig, task: str, seed: int, deadline: float, progress: bool, desc: str
) -> tuple[Dataset | None, list[float]]:
    """Episodes planned natively with `model_file` plus exploration noise; plan times (ms)."""
    from .shifted_data import collect_planned

    planner = Planner.from_file(
        str(model_file), cfg.optimizer_config(), seed=seed, threads=cfg.plan_threads, disagreement=cfg.disagreement
    )
    return collect_planned(
        planner,
        task,
        cfg.episodes_per_round,
        noise_std=cfg.noise_std,
        max_steps=cfg.episode_steps,
        seed=seed,
        deadline=deadline,
        progress=progress,
        desc=desc,
    )


# -- the loop -----------------------------------------------------------------------------
def run_mbrl(config: MBRLConfig | dict) -> dict:
    """Runs the model-based loop as `config` says; returns a summary.

    Returns:
        dict with ``model`` (the last exported model file), ``rounds`` (per-round
        records: env steps, train losses, returns of the planner episodes, plan ms),
        ``env_steps``, ``episodes``, ``seconds`` and ``train_steps``.
    """
    cfg = config if isinstance(config, MBRLConfig) else MBRLConfig.from_dict(config)
    tcfg = cfg.train_config()
    cfg.optimizer_config()  # validate before spending any time
    t_start = time.perf_counter()
    deadline = t_start + 60.0 * cfg.budget_minutes
    out = Path(tcfg.out)
    jsonl = Path(cfg.log_jsonl) if cfg.log_jsonl else None
    if jsonl is not None:
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        jsonl.write_text("")

    def record(rec: dict) -> None:
        rec = {"elapsed_s": round(time.perf_counter() - t_start, 1), **rec}
        log.info(json.dumps(rec))
        if jsonl is not None:
            with jsonl.open("a") as f:
                f.write(json.dumps(rec) + "\n")

    ds = collect(
        tcfg.task,
        cfg.initial_episodes,
        max_steps=cfg.initial_steps,
        seed=tcfg.seed,
        progress=cfg.progress,
    )
    rand_returns = _episode_returns(ds)
    record({"round": "random", "episodes": ds.num_episodes, "env_steps": ds.num_frames, "returns": rand_returns})
    trainer = _Trainer(tcfg, ds.obs_dim, ds.action_dim)
    rounds: list[dict] = []
    collect_s = train_rate = None  # measured: seconds per collection, seconds per train step
    r = 0
    while True:
        steps = cfg.first_train_steps if r == 0 else cfg.train_steps_per_round
        losses = trainer.fit(ds, steps, deadline, cfg.progress, f"train r{r}")
        train_rate = losses["seconds"] / max(losses["steps"], 1)
        info = {
            "preset": tcfg.preset,
            "task": tcfg.task,
            "context": "none",
            "parameter_names": [],
            "train": {
                "mbrl": True,
                "round": r,
                "steps": trainer.step,
                "seed": tcfg.seed,
                "episodes": ds.num_episodes,
                "frames": ds.num_frames,
                "seconds": round(time.perf_counter() - t_start, 1),
                "losses": [losses],
            },
        }
        model_file = trainer.export(out, info)
        rec: dict = {"round": r, "train": losses, "train_steps_total": trainer.step}
        next_train = cfg.train_steps_per_round * train_rate
        est_collect = collect_s if collect_s is not None else 0.0
        left = deadline - time.perf_counter()
        stop = (cfg.max_rounds and r + 1 >= cfg.max_rounds) or left < est_collect + next_train or left <= 0
        if stop:
            rec.update({"env_steps": ds.num_frames, "episodes": ds.num_episodes, "final": True})
            record(rec)
            rounds.append(rec)
            break
        t0 = time.perf_counter()
        new, plan_ms = _collect_planned(
            model_file, cfg, tcfg.task, tcfg.seed + 1 + r, deadline, cfg.progress, f"plan r{r}"
        )
        collect_s = time.perf_counter() - t0
        if new is not None:
            err = prediction_error(trainer.model, new, (1, 5, 10), max_starts=1024, seed=r)
            rec["new_data_error"] = {
                k: {"latent_rel": v["latent_rel"], "reward_mae": v["reward_mae"]} for k, v in err.items()
            }
            rec["returns"] = _episode_returns(new)
            ds = concat_datasets(ds, new)
        rec.update(
            {
                "collect_s": round(collect_s, 1),
                "plan_ms_mean": round(float(np.mean(plan_ms)), 3) if plan_ms else None,
                "env_steps": ds.num_frames,
                "episodes": ds.num_episodes,
            }
        )
        record(rec)
        rounds.append(rec)
        r += 1
    if cfg.dataset:
        save_dataset(ds, cfg.dataset)
    return {
        "model": str(out),
        "task": tcfg.task,
        "rounds": rounds,
        "random_returns": rand_returns,
        "env_steps": ds.num_frames,
        "episodes": ds.num_episodes,
        "train_steps": trainer.step,
        "seconds": round(time.perf_counter() - t_start, 1),
        "num_rounds": len(rounds),
        "config": cfg.to_dict(),
    }


# -- baselines ----------------------------------------------------------------------------
def _baseline(task: str, episodes: int, seed: int, max_steps: int | None, policy: str) -> dict:
    import gymnasium as gym

    env = gym.make(task)
    limit = max_steps or env.spec.max_episode_steps or 1000
    low, high = env.action_space.low, env.action_space.high
    rng = np.random.default_rng(seed)
    returns = []
    try:
        for e in range(episodes):
            env.reset(seed=seed + e)
            total = 0.0
            for _ in range(limit):
                a = np.zeros_like(low) if policy == "zero" else rng.uniform(low, high).astype(low.dtype)
                _, reward, terminated, truncated, _ = env.step(a)
                total += float(reward)
                if terminated or truncated:
                    break
            returns.append(total)
    finally:
        env.close()
    lo, hi = bootstrap_ci(returns)
    return {
        "policy": policy,
        "task": task,
        "episodes": episodes,
        "seed": seed,
        "returns": returns,
        "mean": float(np.mean(returns)),
        "ci95": [lo, hi],
        "p50_ms": 0.0,
    }


def zero_action_baseline(task: str, episodes: int = 10, seed: int = 1000, max_steps: int | None = None) -> dict:
    """Returns of the all-zeros action on episodes reset with seeds seed, seed + 1, ..."""
    return _baseline(task, episodes, seed, max_steps, "zero")


def random_baseline(task: str, episodes: int = 10, seed: int = 1000, max_steps: int | None = None) -> dict:
    """Returns of uniform-random actions (rng seeded by `seed`) on the same env seeds."""
    return _baseline(task, episodes, seed, max_steps, "random")


# -- command line -------------------------------------------------------------------------
def main_mbrl(argv: list[str] | None = None) -> int:
    """``python -m planner.models.mbrl --config FILE [--budget-minutes M] [--eval-episodes N]``."""
    ap = argparse.ArgumentParser(prog="python -m planner.models.mbrl", description="model-based RL loop")
    ap.add_argument("--config", required=True, help="MBRL config JSON")
    ap.add_argument("--budget-minutes", type=float, default=None, help="override budget_minutes")
    ap.add_argument("--out", default=None, help="override train.out (the model file)")
    ap.add_argument("--summary", default=None, help="write the run summary (and eval) JSON here")
    ap.add_argument("--eval-episodes", type=int, default=0, help="then evaluate the model on this many episodes")
    ap.add_argument("--eval-seed", type=int, default=1000)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        d = json.loads(Path(args.config).read_text())
        if args.budget_minutes is not None:
            d["budget_minutes"] = args.budget_minutes
        if args.out is not None:
            d.setdefault("train", {})["out"] = args.out
        if args.no_progress:
            d["progress"] = False
        cfg = MBRLConfig.from_dict(d)
        cfg.train_config()
        cfg.optimizer_config()
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}")
        return 2
    summary = run_mbrl(cfg)
    print(f"wrote {summary['model']} after {summary['seconds']} s, {summary['env_steps']} env steps")
    if args.eval_episodes > 0:
        from ..evaluate import evaluate

        task = summary["task"]
        ours = evaluate(
            summary["model"],
            cfg.optimizer_config(),
            task=task,
            episodes=args.eval_episodes,
            seed=args.eval_seed,
            threads=cfg.plan_threads,
            progress=False,
        )
        summary["eval"] = {
            "ours": ours,
            "zero_action": zero_action_baseline(task, args.eval_episodes, args.eval_seed),
            "random": random_baseline(task, args.eval_episodes, args.eval_seed),
        }
        for k, v in summary["eval"].items():
            print(
                f"{k:12s} mean {v['mean']:9.1f}  95% CI [{v['ci95'][0]:.1f}, {v['ci95'][1]:.1f}]  "
                f"plan p50 {v['p50_ms']:.2f} ms"
            )
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main_mbrl())
