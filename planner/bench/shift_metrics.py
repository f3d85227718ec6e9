"""ShiftBench measurements of one cell: prediction errors, adaptation speed, ranking
agreement against an exact copy of the true simulator (see `planner.bench.shiftbench`)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

K_STEPS = (1, 5, 10, 30)


def _clone_env(env: Any) -> Any:
    """A copy of a (wrapped) env in the same physical state, for replaying candidates."""
    clone = copy.deepcopy(env)
    base, cbase = env.unwrapped, clone.unwrapped
    if hasattr(base, "data") and hasattr(base, "model"):
        import mujoco

        # deepcopy does not carry every in-place edit of the model (measured: body_mass
        # came back at its compiled value), so copy every array of the model explicitly.
        for name in dir(base.model):
            if name.startswith("_"):
                continue
            src = getattr(base.model, name, None)
            if isinstance(src, np.ndarray) and src.size and src.flags.writeable:
                getattr(cbase.model, name)[...] = src
        what = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(base.model, what))
        mujoco.mj_getState(base.model, base.data, state, what)
        mujoco.mj_setState(cbase.model, cbase.data, state, what)
        mujoco.mj_forward(cbase.model, cbase.data)
    return clone


def _switch_step(log: Any) -> int | None:
    """The resolved step of an abrupt switch in a shift log (None when the shift has none)."""
    if isinstance(log, dict):
        sw = log.get("switch")
        if isinstance(sw, dict) and isinstance(sw.get("step"), int):
            return sw["step"]
        for v in log.values():
            got = _switch_step(v)
            if got is not None:
                return got
    return None


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for u in np.unique(v):  # average ties
            m = v == u
            if m.sum() > 1:
                r[m] = r[m].mean()
        return r

    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _prediction_errors(
    scorer: Any, traces: list[dict], contexts: list[np.ndarray | None], reward_scorer: Any = None
) -> dict[str, Any]:
    """k-step latent prediction errors, and per episode the one-step latent error trace and
    (with `reward_scorer`, a scorer without terminal value) the one-step reward error trace
    |r_model(s_t, a_t, c) - r_t| in environment units: the same scale for every arm."""
    errs: dict[int, list[float]] = {k: [] for k in K_STEPS}
    one_step: list[list[float]] = []
    reward_err: list[list[float]] = []
    for tr, ctx_seq in zip(traces, contexts, strict=True):
        obs, act = tr["obs"].astype(np.float32), tr["action"].astype(np.float32)
        T = len(obs)
        if T < 2:
            one_step.append([])
            reward_err.append([])
            continue
        enc = scorer.encode(np.ascontiguousarray(obs))
        trace1, trace_r = [], []
        for t in range(T - 1):
            ctx = None if ctx_seq is None else ctx_seq[t]
            kmax = min(max(K_STEPS), T - 1 - t)
            z, _ = scorer.predict(obs[t], np.ascontiguousarray(act[None, t : t + kmax]), ctx)
            for k in K_STEPS:
                if k <= kmax and (k == 1 or t % 5 == 0):
                    errs[k].append(float(np.mean((z[0, k] - enc[t + k]) ** 2)))
            trace1.append(float(np.mean((z[0, 1] - enc[t + 1]) ** 2)))
            if reward_scorer is not None:
                _, r = reward_scorer.predict(obs[t], np.ascontiguousarray(act[None, t : t + 1]), ctx)
                trace_r.append(abs(float(r[0]) - float(tr["reward"][t])))
        one_step.append(trace1)
        reward_err.append(trace_r)
    return {
        "k_step_mse": {str(k): (float(np.mean(v)) if v else None) for k, v in errs.items()},
        "one_step_trace": one_step,
        "reward_error_trace": reward_err,
    }


def _adaptation_steps(trace: list[float], switch: int, reference: list[float] | None) -> int | None:
    """Steps after `switch` until the 5-step moving average of `trace` is within 1.1x the reference."""
    tr = np.asarray(trace, float)
    if switch >= len(tr) - 5:
        return None
    if reference is not None and len(reference) == len(tr):
        ref = np.convolve(np.asarray(reference, float), np.ones(5) / 5, mode="same")
    else:
        tail = tr[len(tr) - max(5, (len(tr) - switch) // 4) :]
        ref = np.full(len(tr), tail.mean())
    smooth = np.convolve(tr, np.ones(5) / 5, mode="same")
    for t in range(switch, len(tr)):
        if smooth[t] <= 1.1 * ref[t]:
            return t - switch
    return None


def _rank_agreement(
    planner: Any, scorer: Any, env: Any, obs: np.ndarray, r: Any, context: Any, samples: int, rng: Any
) -> float:
    """Spearman rho between model returns and true returns of sampled candidate sequences."""
    mean, lo, hi = planner.mean()[0], planner.lower, planner.upper
    H, A = mean.shape
    std = np.maximum(0.3 * (hi - lo) / 2, 1e-3)
    plan = np.asarray(r.plan, np.float32).reshape(H, A)
    cands = np.clip(plan + std * rng.standard_normal((samples, H, A)), lo, hi).astype(np.float32)
    cands = np.concatenate([plan[None], cands])
    ctx = None if context is None else np.ascontiguousarray(np.asarray(context, np.float32)[0])
    predicted = scorer.score(np.ascontiguousarray(obs, np.float32), np.ascontiguousarray(cands), ctx)
    gamma = float(planner.model.discount)
    true = np.empty(len(cands))
    for i, seq in enumerate(cands):
        sim = _clone_env(env)
        total, disc = 0.0, 1.0
        for a in seq:
            _, rew, terminated, _, _ = sim.step(a)
            total += disc * float(rew)
            disc *= gamma
            if terminated:
                break
        true[i] = total
        sim.close()
    return _spearman(predicted, true)
