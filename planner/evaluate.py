"""Closed-loop evaluation: a native planner on a model file controls a real gymnasium task.

One code path for the demo, `python -m planner eval`, ShiftBench and the reports:
`run_closed_loop` drives a `GymRobot` (optionally behind a dynamics shift from
`planner.envs`) with an `MPCController` inside a `LoopRunner` at the task's own control
rate (simulated time: ticks run back to back, but every plan gets the real-time budget
of ``budget_fraction`` of the period), and records returns, latency telemetry and
(optionally) the observation and action traces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .config import OptimizerConfig
from .planner import Planner

ASSETS = Path(__file__).resolve().parent / "assets"
PENDULUM_MODEL = ASSETS / "pendulum_small.lpm.safetensors"
#: Not shipped (the demo and tests do not need it): the latent-small HalfCheetah model that
#: `python -m planner.models.mbrl --config configs/halfcheetah.json` writes (reports/halfcheetah.md).
HALFCHEETAH_MODEL = Path("runs/halfcheetah.lpm.safetensors")
HALFCHEETAH_COMMAND = "python -m planner.models.mbrl --config configs/halfcheetah.json --budget-minutes 48"
#: Not shipped either: the HalfCheetah context arms, one architecture (latent-small) on one
#: dataset (the loop's nominal data plus planned episodes under CaDM's training mass and
#: damping factors), differing only in the context: none, true log factors, outcome-inferred.
HALFCHEETAH_ARM_MODELS = {
    "NC": Path("runs/halfcheetah_nc_r3.lpm.safetensors"),
    "PC-oracle": Path("runs/halfcheetah_pc_r3.lpm.safetensors"),
    "OC": Path("runs/halfcheetah_oc_r3.lpm.safetensors"),
}
#: Offline training on the shared dataset, then three on-policy rounds: every arm plans
#: episodes with its own context, the episodes are pooled with the dataset, and every arm
#: continues training on the result (`planner.models.onpolicy`).
HALFCHEETAH_ARM_COMMANDS = (
    "python -m planner.models.shifted_data --config configs/halfcheetah_cadm_data.json",
    "python -m planner train --config configs/halfcheetah_nc.json",
    "python -m planner train --config configs/halfcheetah_pc.json",
    "python -m planner train --config configs/halfcheetah_oc.json",
    "python -m planner.models.onpolicy --config configs/halfcheetah_onpolicy.json",
)
#: The same architecture and data as PENDULUM_MODEL with contexts: outcome-centric (C=8,
#: encoder over K=16 transitions) and parameter-centric (C=2, true log m, l).
PENDULUM_OC_MODEL = ASSETS / "pendulum_oc.lpm.safetensors"
PENDULUM_PC_MODEL = ASSETS / "pendulum_pc.lpm.safetensors"
#: PC-regressed: the PC-oracle's dynamics (true log m, l while training) plus an encoder
#: over K=16 transitions regressed onto them, whose estimate it plans with. Not shipped
#: (the demo and tests do not need it); the contexts report runs it when it is trained.
PENDULUM_PCR_MODEL = Path("runs/pendulum_pcr.lpm.safetensors")
PENDULUM_PCR_COMMAND = "python -m planner train --config configs/pendulum_pcr.json"

__all__ = ["ASSETS", "bootstrap_ci", "closed_loop_stats", "evaluate", "paired_bootstrap_ci", "run_closed_loop"]


def bootstrap_ci(values, level: float = 0.95, resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), float(v.mean())
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def paired_bootstrap_ci(a, b, level: float = 0.95, resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Interval of mean(a - b) over paired samples (same seeds and episodes in both)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape, got {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, level, resamples, seed)


def run_closed_loop(
    planner: Planner,
    task: str,
    *,
    shift: Any = None,
    episodes: int = 1,
    seed: int = 0,
    hz: float | None = None,
    budget_fraction: float | None = 0.8,
    max_steps: int | None = None,
    context: Any = None,
    context_from_env: Callable[[Any], Any] | None = None,
    history: int = 32,
    record: bool = False,
    bar: Any = None,
) -> dict:
    """Runs `episodes` seeded episodes of `task` under `shift` with `planner`.

    Args:
        planner: a native `Planner` (batch 1) whose state is the task's observation.
        task: gymnasium id.
        shift: a shift spec for `planner.envs.make_env` (None: nominal dynamics).
        episodes, seed: episode e resets the env with seed + e.
        hz: control rate (default: the task's, 1 / env.dt); sets the planning budget.
        budget_fraction: share of the period a plan may take (anytime planning); None:
            every configured iteration runs (deterministic returns).
        max_steps: cap on steps per episode (default: the task's time limit).
        context: for a model with C > 0: fixed [C] or a callable (History) -> [1, C].
        context_from_env: alternatively, (env) -> context source, built once per run
            (e.g. an oracle that reads the env's true parameters).
        history: K, transitions kept for contexts.
        record: keep per-episode observation, action and reward traces.
        bar: an object with update(n) (a progress bar), or None.

    Returns:
        dict with returns, plan_ms, latency_ms, iterations, deadline_misses,
        overrun_within_one_iteration, shift_logs and (when record) traces.
    """
    from .control import GymRobot, LoopRunner, MPCController
    from .envs import make_env

    env = make_env(task, shift, seed=seed)
    robot = GymRobot(env)
    ctx = context_from_env(env) if context_from_env is not None else context
    ctl = MPCController(planner, context=ctx, history=history)
    rate = float(hz) if hz is not None else 1.0 / robot.dt
    limit = max_steps or (env.spec.max_episode_steps if env.spec else None) or 1000
    out: dict[str, Any] = {
        "returns": [],
        "plan_ms": [],
        "latency_ms": [],
        "iterations": [],
        "deadline_misses": 0,
        "overrun_within_one_iteration": True,
        "shift_logs": [],
        "hz": rate,
    }
    traces: list[dict] = []
    try:
        for e in range(episodes):
            robot.reset(seed=seed + e)
            ctl.reset()
            obs_trace: list[np.ndarray] = []
            act_trace: list[np.ndarray] = []
            rew_trace: list[float] = []

            def on_step(k: int, obs: np.ndarray, action: np.ndarray, o=obs_trace, a=act_trace, w=rew_trace) -> None:
                if record:
                    o.append(obs[0].copy())
                    a.append(action[0].copy())
                    w.append(robot.last_reward)
                if bar is not None:
                    bar.update(1)

            runner = LoopRunner(ctl, robot, rate, budget_fraction=budget_fraction, realtime=False)
            stats = runner.run(limit, on_step=on_step)
            out["returns"].append(robot.episode_return)
            out["plan_ms"] += stats.plan_ms
            out["latency_ms"] += stats.latency_ms
            out["iterations"] += stats.iterations
            out["deadline_misses"] += stats.misses()
            out["overrun_within_one_iteration"] &= stats.overrun_within_one_iteration()
            out["shift_logs"].append(getattr(env, "shift_log", None))
            if record:
                traces.append(
                    {"obs": np.asarray(obs_trace), "action": np.asarray(act_trace), "reward": np.asarray(rew_trace)}
                )
    finally:
        env.close()
    if record:
        out["traces"] = traces
    return out


def closed_loop_stats(r: dict) -> dict:
    """Returns with their mean and 95% interval, plan ms p50 / p99, misses and iterations
    of a `run_closed_loop` result."""
    lo, hi = bootstrap_ci(r["returns"])
    return {
        "returns": r["returns"],
        "mean": float(np.mean(r["returns"])),
        "ci95": [lo, hi],
        "p50_ms": float(np.percentile(r["plan_ms"], 50)),
        "p99_ms": float(np.percentile(r["plan_ms"], 99)),
        "deadline_misses": r["deadline_misses"],
        "iterations_mean": float(np.mean(r["iterations"])),
    }


def evaluate(
    model: str | Path,
    config: OptimizerConfig,
    *,
    task: str = "Pendulum-v1",
    episodes: int = 10,
    seed: int = 0,
    threads: int = 2,
    max_steps: int | None = None,
    context: np.ndarray | None = None,
    shift: Any = None,
    hz: float | None = None,
    budget_fraction: float = 0.8,
    progress: bool = True,
) -> dict:
    """Runs `episodes` episodes of `task` (gymnasium) planned natively with `model`.

    Args:
        model: a model file (docs/MODEL_FORMAT.md).
        config: optimizer config.
        task: gymnasium id; observations go to the model as they come from the env.
        episodes: episodes, reset with seeds seed, seed + 1, ...
        seed: first episode seed (also the planner's seed).
        threads: planner threads.
        max_steps: cap on steps per episode (default: the task's time limit).
        context: fixed context [C] for models that take one (default zeros).
        shift: dynamics shift spec (see `planner.envs.parse_shift`), None = nominal.
        hz, budget_fraction: control rate (default the task's) and planning share.
        progress: show a progress bar.

    Returns:
        dict with returns, mean, ci95, p50_ms, p99_ms, deadline misses, the shift logs
        and the settings.
    """
    planner = Planner.from_file(model, config, seed=seed, threads=threads)
    bar = None
    if progress:
        import gymnasium as gym
        from tqdm import tqdm

        spec = gym.spec(task)
        bar = tqdm(total=episodes * (max_steps or spec.max_episode_steps or 1000), unit="step", desc=f"eval {task}")
    try:
        r = run_closed_loop(
            planner,
            task,
            shift=shift,
            episodes=episodes,
            seed=seed,
            hz=hz,
            budget_fraction=budget_fraction,
            max_steps=max_steps,
            context=context,
            bar=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    return {
        "model": str(model),
        "task": task,
        "shift": r["shift_logs"][0] if r["shift_logs"] else None,
        "optimizer": type(config).__name__,
        "config": {k: v for k, v in vars(config).items()},
        "episodes": episodes,
        "seed": seed,
        "threads": planner.threads,
        "hz": r["hz"],
        "budget_fraction": budget_fraction,
        **closed_loop_stats(r),
        "overrun_within_one_iteration": r["overrun_within_one_iteration"],
        "shift_logs": r["shift_logs"],
    }
