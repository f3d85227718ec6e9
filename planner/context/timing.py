"""What a context costs per control step, measured so that machine load cancels out.

ShiftBench measures milliseconds per step inside each cell, and cells of different arms
may run at different times (or in different runs, merged) under different load, so their
ratio mixes the context's cost with the machine's. `step_cost` instead runs the arms
interleaved step by step in one process: at every control step each arm's controller
acts once (observe, infer its context, plan) on its own copy of the task (same seed), in
an order that alternates from step to step. The p50 ratio then compares like with like.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["step_cost"]


def step_cost(
    models: dict[str, str],
    task: str,
    optimizer: str,
    knobs: dict,
    *,
    steps: int = 200,
    seed: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """Per-step milliseconds of each arm's controller, measured interleaved.

    Args:
        models: arm -> model file; arms "NC" (no context), "OC" (the model's context
            encoder, re-inferred every step) and "PC-oracle" (the env's true factors).
        task: gymnasium id (nominal dynamics).
        optimizer, knobs: the planner every arm uses.
        steps: control steps measured (after 5 warm-up steps).

    Returns:
        ``{"steps", "arms": {arm: {"p50_ms", "p99_ms"}}, "ratio_p50": {arm: p50 / NC p50}}``.
    """
    from ..config import config_from_dict
    from ..control import MPCController
    from ..envs import make_env
    from ..planner import Planner
    from .online import OracleContext, OutcomeContext

    if "NC" not in models:
        raise ValueError(f"models: needs an 'NC' arm to compare against, got {sorted(models)}")
    unknown = set(models) - {"NC", "OC", "PC-oracle"}
    if unknown:
        raise ValueError(f"models: unknown arms {sorted(unknown)}; expected NC, OC, PC-oracle")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    cfg = config_from_dict(optimizer, dict(knobs))
    arms, envs, ctls, obs = list(models), {}, {}, {}
    for arm in arms:
        env = make_env(task, None, seed=seed)
        p = Planner.from_file(models[arm], cfg, seed=seed, threads=threads)
        if arm == "OC":
            src = OutcomeContext(models[arm])
            ctl = MPCController(p, context=src, history=src.history)
        elif arm == "PC-oracle":
            ctl = MPCController(p, context=OracleContext.from_model(env, models[arm]))
        else:
            ctl = MPCController(p)
        envs[arm], ctls[arm] = env, ctl
        obs[arm], _ = env.reset(seed=seed)
    ms: dict[str, list[float]] = {a: [] for a in arms}
    try:
        for t in range(steps + 5):
            order = arms if t % 2 == 0 else arms[::-1]
            for arm in order:
                t0 = time.perf_counter_ns()
                a = ctls[arm].act(np.asarray(obs[arm], np.float32))
                dt = (time.perf_counter_ns() - t0) / 1e6
                if t >= 5:
                    ms[arm].append(dt)
                obs[arm], _, term, trunc, _ = envs[arm].step(a)
                if term or trunc:
                    obs[arm], _ = envs[arm].reset(seed=seed + t)
                    ctls[arm].reset()
    finally:
        for env in envs.values():
            env.close()
    out = {a: {"p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99))} for a, v in ms.items()}
    nc = out["NC"]["p50_ms"]
    return {
        "task": task,
        "steps": steps,
        "threads": threads,
        "arms": out,
        "ratio_p50": {a: out[a]["p50_ms"] / nc for a in arms if a != "NC"},
    }
