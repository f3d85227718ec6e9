"""Closed-loop evaluation: a native planner on a model file controls a real gymnasium task.

Reports the mean return with a 95% bootstrap interval over seeded episodes, and the
planning latency. Used by `python -m planner eval` and by the committed reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .config import OptimizerConfig
from .planner import Planner

ASSETS = Path(__file__).resolve().parent / "assets"


def bootstrap_ci(values, level: float = 0.95, resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), float(v.mean())
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


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
        progress: show a progress bar.

    Returns:
        dict with returns, mean, ci95, p50_ms, p99_ms and the settings.
    """
    import gymnasium as gym

    planner = Planner.from_file(model, config, seed=seed, threads=threads)
    C = planner.context_dim
    ctx = None if C == 0 else (np.zeros(C, np.float32) if context is None else np.asarray(context, np.float32))
    env = gym.make(task)
    limit = max_steps or env.spec.max_episode_steps or 1000
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes * limit, unit="step", desc=f"eval {task}", leave=False)
    returns, lat = [], []
    try:
        for e in range(episodes):
            obs, _ = env.reset(seed=seed + e)
            planner.reset()
            total = 0.0
            for _ in range(limit):
                t0 = time.perf_counter_ns()
                action = planner.plan(np.asarray(obs, np.float32), context=ctx).action
                lat.append((time.perf_counter_ns() - t0) / 1e6)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                if bar is not None:
                    bar.update(1)
                if terminated or truncated:
                    break
            returns.append(total)
    finally:
        env.close()
        if bar is not None:
            bar.close()
    lo, hi = bootstrap_ci(returns)
    return {
        "model": str(model),
        "task": task,
        "optimizer": type(config).__name__,
        "config": {k: v for k, v in vars(config).items()},
        "episodes": episodes,
        "seed": seed,
        "threads": planner.threads,
        "returns": returns,
        "mean": float(np.mean(returns)),
        "ci95": [lo, hi],
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }
