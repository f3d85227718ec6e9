"""Latent-geometry checks of an outcome-centric context encoder (BENCHMARKS.md section 3).

For a grid of physical parameters, the true simulator is run with random actions under
each setting; the encoder infers the context from the last K transitions of every
episode (natively, as the controller does). Then:

- **linear probe**: a least-squares map from the context to the log parameters, fitted
  on half of the episodes and scored (R^2 per parameter) on the other half;
- **monotonicity**: along a sweep of one parameter (the others nominal), the Spearman
  rank correlation between the parameter and the context's projection on its first
  principal direction (|rho| = 1: the context orders the settings perfectly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["GRIDS", "context_geometry", "infer_episode_contexts"]

_FIVE = [0.5, 0.75, 1.0, 1.25, 1.5]
#: Default grids per task: the varied factors, from 0.5 to 1.5.
GRIDS = {"Pendulum-v1": {"m": _FIVE, "l": _FIVE}, "HalfCheetah-v5": {"mass": _FIVE, "damping": _FIVE}}


def infer_episode_contexts(
    model_path: str,
    task: str,
    settings: Sequence[dict[str, float]],
    *,
    episodes: int = 4,
    steps: int = 40,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Contexts [len(settings) * episodes, C] and their settings' log factors [.., P]."""
    from .. import _core
    from ..control.controller import History
    from ..envs import make_env
    from .online import OutcomeContext

    src = OutcomeContext(_core.WorldModel.load(str(model_path)))
    names = sorted({k for s in settings for k in s})
    rng = np.random.default_rng(seed)
    ctx, logs = [], []
    for i, setting in enumerate(settings):
        env = make_env(task, {"params": dict(setting)} if setting else None, seed=seed + i)
        low, high = env.action_space.low, env.action_space.high
        for e in range(episodes):
            obs, _ = env.reset(seed=seed + 1000 * i + e)
            hist = History(1, src.history, env.observation_space.shape[0], env.action_space.shape[0])
            for _ in range(steps):
                a = rng.uniform(low, high).astype(np.float32)
                nxt, _, term, trunc, _ = env.step(a)
                hist.push(0, np.asarray(obs, np.float32), a, np.asarray(nxt, np.float32))
                obs = nxt
                if term or trunc:
                    break
            ctx.append(src(hist)[0])
            logs.append([np.log(setting.get(n, 1.0)) for n in names])
        env.close()
    return np.asarray(ctx, np.float64), np.asarray(logs, np.float64)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def context_geometry(
    model_path: str,
    task: str = "Pendulum-v1",
    grid: dict[str, Sequence[float]] | None = None,
    *,
    episodes: int = 4,
    steps: int = 40,
    seed: int = 0,
) -> dict[str, Any]:
    """Linear-probe R^2 and sweep monotonicity of the model's contexts on `task`.

    Args:
        grid: parameter -> factors; the probe uses the full product grid, each sweep
            varies one parameter with the others at 1. Default: `GRIDS[task]`
            (the factors the context models were trained on, and beyond).
    """
    if grid is None:
        if task not in GRIDS:
            raise ValueError(f"grid: no default grid for {task!r} (defaults exist for {sorted(GRIDS)}); pass one")
        grid = GRIDS[task]
    names = sorted(grid)
    product = [
        dict(zip(names, vals, strict=True))
        for vals in np.array(np.meshgrid(*[grid[n] for n in names])).T.reshape(-1, len(names))
    ]
    c, y = infer_episode_contexts(model_path, task, product, episodes=episodes, steps=steps, seed=seed)
    # Linear probe: fit on even episodes, score on odd ones.
    X = np.hstack([c, np.ones((len(c), 1))])
    train, test = np.arange(len(c)) % 2 == 0, np.arange(len(c)) % 2 == 1
    w, *_ = np.linalg.lstsq(X[train], y[train], rcond=None)
    pred = X[test] @ w
    r2 = 1 - ((pred - y[test]) ** 2).sum(0) / ((y[test] - y[test].mean(0)) ** 2).sum(0)
    sweeps = {}
    for n in names:
        settings = [{n: v} for v in grid[n]]
        cs, ys = infer_episode_contexts(model_path, task, settings, episodes=episodes, steps=steps, seed=seed + 7)
        centered = cs - cs.mean(0)
        direction = np.linalg.svd(centered, full_matrices=False)[2][0]
        proj = centered @ direction
        means = [float(proj[i * episodes : (i + 1) * episodes].mean()) for i in range(len(settings))]
        sweeps[n] = {
            "factors": list(map(float, grid[n])),
            "projection_mean": means,
            "spearman_episodes": abs(_spearman(ys[:, 0], proj)),
            "spearman_means": abs(_spearman(np.asarray(grid[n], float), np.asarray(means))),
        }
    return {
        "model": str(model_path),
        "task": task,
        "parameters": names,
        "episodes_per_setting": episodes,
        "steps": steps,
        "probe_r2": {n: float(v) for n, v in zip(names, r2, strict=True)},
        "sweeps": sweeps,
    }
