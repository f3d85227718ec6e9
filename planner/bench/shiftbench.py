"""ShiftBench: closed-loop control under dynamics shift (BENCHMARKS.md section 3).

For each task of a tier, each shift condition (a suite entry or a CaDM test bin) and
each arm (NC, PC-oracle, OC, OC+CMA: the same world model, only the context source
differs), it runs seeded episodes with the native planner in the loop runner and
measures:

- closed-loop return per condition (mean, 95% bootstrap interval) and, for every arm
  against NC, the paired difference (same seeds and episodes) with its interval;
- k-step prediction error (k = 1, 5, 10, 30) on the arm's own trajectories: the mean
  squared distance, per latent dimension, between the model's k-step latent
  prediction from (s_t, a_t..a_{t+k-1}) and the encoding of the observed s_{t+k};
- one-step reward prediction error |r_model - r| in environment units (comparable across
  arms, unlike latent errors, which live in each model's own latent space);
- adaptation speed after an abrupt switch (time-varying suite): steps after the switch
  until the arm's one-step reward error (moving average over 5 steps) is within 1.1x of
  the reference's, the reference being PC-oracle when that arm runs, else the arm's own
  error over the last quarter of the episode;
- ranking agreement: every `rank_every` steps, the planner's sampling distribution is
  sampled (16 sequences + the plan), the model scores them, and each is executed in a
  copy of the true (shifted) simulator; Spearman rho between the two;
- milliseconds per control step (plan p50 / p99) and deadline misses. Plans run every
  configured iteration (no anytime budget), so returns do not depend on the load of
  the machine and are identical on every executor.

Arms are model files: an arm runs only when a model for it is given (C = 0 for NC;
PC-oracle needs C = the number of modeled parameters of the task, fed their log
factors). Sweeps run on Ray when it is installed (``executor="ray"``) and in local
processes otherwise.

``python -m planner shiftbench --tier smoke --json PATH`` runs the smoke tier (CI).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import config_from_dict
from ..evaluate import (
    HALFCHEETAH_ARM_COMMANDS,
    HALFCHEETAH_ARM_MODELS,
    HALFCHEETAH_COMMAND,
    HALFCHEETAH_MODEL,
    PENDULUM_MODEL,
    PENDULUM_OC_MODEL,
    PENDULUM_PC_MODEL,
    PENDULUM_PCR_COMMAND,
    PENDULUM_PCR_MODEL,
    bootstrap_ci,
    paired_bootstrap_ci,
    run_closed_loop,
)
from .shift_metrics import (  # noqa: F401 (the cell measurements; tests reach them here)
    K_STEPS,
    _adaptation_steps,
    _clone_env,
    _prediction_errors,
    _rank_agreement,
    _spearman,
    _switch_step,
)

__all__ = ["ARMS", "TIERS", "Job", "run_job", "run_shiftbench", "plot_report", "slim_report", "write_markdown"]

ARMS = ("NC", "PC-oracle", "PC-regressed", "OC", "OC+CMA")


@dataclass
class TaskSetup:
    """One task of a tier: its optimizer, the conditions to run and the arms' models."""

    task: str
    optimizer: str
    knobs: dict
    conditions: list[tuple[str, Any]]  # (label, shift spec)
    models: dict[str, str]  # arm -> model file
    episodes: int = 1
    seeds: tuple[int, ...] = (0,)
    max_steps: int | None = None


def _named(specs: list) -> list[tuple[str, Any]]:
    return [(s.name or s.to_json(), s) for s in specs]


def _tier_tasks(tier: str, models: dict[str, dict[str, str]] | None) -> list[TaskSetup]:
    """The tasks, conditions and models of a tier. `models`: task -> arm -> file overrides."""
    from ..envs import suites

    models = models or {}
    pend_models = {"NC": str(PENDULUM_MODEL), "PC-oracle": str(PENDULUM_PC_MODEL), "OC": str(PENDULUM_OC_MODEL)}
    if PENDULUM_PCR_MODEL.is_file():
        pend_models["PC-regressed"] = str(PENDULUM_PCR_MODEL)
    if _has_cma():
        pend_models["OC+CMA"] = str(PENDULUM_OC_MODEL)
    pend_models.update(models.get("Pendulum-v1", {}))
    pend_knobs = dict(samples=500, horizon=20, iterations=2, sigma=1.0, temperature=1.0)
    if tier == "smoke":
        bins = _named(suites.cadm_test("Pendulum-v1"))[:2]
        return [TaskSetup("Pendulum-v1", "mppi", pend_knobs, [("nominal", None), *bins], pend_models)]
    seeds = (0, 1, 2) if tier == "standard" else (0, 1, 2, 3, 4)
    episodes = 3 if tier == "standard" else 5

    def conditions(task: str, names: tuple[str, ...], first: int | None = None) -> list[tuple[str, Any]]:
        out = [("nominal", None)]
        for n in names:
            out += _named(suites.suite(task, n))[:first]
        return out

    # The configuration the HalfCheetah model was trained and evaluated with (configs/halfcheetah.json).
    icem = dict(samples=512, horizon=12, iterations=3, elites=32, noise_beta=2.0, min_std=0.05)
    # The context arms' models when they were trained (one dataset; NC then is the same
    # data without context), else the model-based loop's nominal model as NC.
    cheetah_models = {arm: str(p) for arm, p in HALFCHEETAH_ARM_MODELS.items() if p.is_file()}
    if "OC" in cheetah_models and _has_cma():
        cheetah_models["OC+CMA"] = cheetah_models["OC"]
    if "NC" not in cheetah_models and HALFCHEETAH_MODEL.is_file():
        cheetah_models["NC"] = str(HALFCHEETAH_MODEL)
    cheetah_models.update(models.get("HalfCheetah-v5", {}))
    tasks = [
        TaskSetup(
            "Pendulum-v1",
            "mppi",
            pend_knobs,
            conditions("Pendulum-v1", ("CaDM-test",)) + conditions("Pendulum-v1", ("unmodeled", "time-varying"), 1)[1:],
            pend_models,
            episodes=episodes,
            seeds=seeds,
        ),
        TaskSetup(
            "HalfCheetah-v5",
            "icem",
            icem,
            conditions("HalfCheetah-v5", ("CaDM-test",))
            + conditions("HalfCheetah-v5", ("unmodeled", "time-varying"), 1)[1:],
            cheetah_models,
            episodes=max(1, episodes - 2),
            seeds=seeds,
        ),
        TaskSetup(
            "Pusher-v5",
            "icem",
            icem,
            conditions("Pusher-v5", ("OOD-single",)),
            models.get("Pusher-v5", {}),
            episodes=episodes,
            seeds=seeds,
        ),
    ]
    if tier == "full":
        every = ("ID", "OOD-single", "OOD-compound", "unmodeled", "time-varying")
        for task in ("InvertedPendulum-v5", "Reacher-v5", "Hopper-v5"):
            tasks.append(
                TaskSetup(
                    task, "icem", icem, conditions(task, every), models.get(task, {}), episodes=episodes, seeds=seeds
                )
            )
    return tasks


TIERS = ("smoke", "standard", "full")


@dataclass
class Job:
    """One (task, condition, arm, seed) cell: everything a worker process needs."""

    task: str
    condition: str
    shift: Any
    arm: str
    model: str
    optimizer: str
    knobs: dict
    seed: int
    episodes: int
    threads: int = 1
    max_steps: int | None = None
    rank_every: int = 20
    rank_samples: int = 16
    # None: every configured iteration runs, so returns do not depend on the machine's
    # load and arms compare on equal plans; ms per step is still measured.
    budget_fraction: float | None = None
    extra: dict = field(default_factory=dict)


def _context_source(arm: str, model: Any) -> tuple[Callable[[Any], Any] | None, int]:
    """(env -> context source, or None; history K for the controller) of an arm."""
    from ..context import OracleContext, OutcomeContext

    C = model.context_dim
    if arm == "NC":
        if C != 0:
            raise ValueError(f"arm NC needs a model without context (C=0), got C={C}")
        return None, 32
    if arm == "PC-oracle":
        OracleContext.from_model(None, model)  # validates the model before any episode runs
        return (lambda env: OracleContext.from_model(env, model)), 32
    if arm == "PC-regressed":
        info = json.loads(model.metadata).get("info", {}) if model.metadata else {}
        if info.get("context") != "regressed":
            raise ValueError("arm PC-regressed needs a model trained with context 'regressed'")
        enc = OutcomeContext(model)
        return (lambda env: enc), enc.history
    if arm == "OC":
        enc = OutcomeContext(model)
        return (lambda env: enc), enc.history
    if arm == "OC+CMA":
        from ..context import RefinedContext

        probe = RefinedContext(model)  # validates (context encoder, cma installed) before any episode
        # Stateful (running error, offset): one per run.
        return (lambda env: RefinedContext(model, every=20, surprise=2.0)), probe.history
    raise ValueError(f"arm {arm!r}: not available; known: {ARMS}")


def run_job(job: Job) -> dict:
    """Runs one cell (in a worker process or inline) and returns its measurements."""
    from ..planner import LatentScorer, Planner, WorldModel

    cfg = config_from_dict(job.optimizer, job.knobs)
    model = WorldModel.load(job.model)
    ctx_factory, history = _context_source(job.arm, model)
    planner = Planner.from_file(job.model, cfg, seed=job.seed, threads=job.threads)
    scorer = LatentScorer(model, terminal_value=True)
    contexts: list[list[np.ndarray | None]] = []
    rho: list[float] = []
    rng = np.random.default_rng(job.seed + 7919)
    holder: dict[str, Any] = {}

    def context_from_env(env: Any) -> Any:
        holder["env"] = env
        inner = ctx_factory(env) if ctx_factory is not None else None
        if inner is None:
            return None

        def ctx(history: Any) -> np.ndarray:
            c = inner(history)
            holder.setdefault("ctx", []).append(c[0].copy())
            return c

        return ctx

    # Ranking agreement needs the env and the planner at chosen steps: wrap the planner's plan().
    steps = {"t": 0}
    native_plan = planner.plan

    def plan_and_rank(state: Any, context: Any = None, candidates: Any = None, budget_ms: Any = None):
        r = native_plan(state, context, candidates, budget_ms=budget_ms)
        t = steps["t"]
        steps["t"] += 1
        env = holder.get("env")
        if env is not None and job.rank_every > 0 and t % job.rank_every == job.rank_every // 2:
            rho.append(_rank_agreement(planner, scorer, env, np.asarray(state)[0], r, context, job.rank_samples, rng))
        return r

    planner.plan = plan_and_rank  # type: ignore[method-assign]
    t0 = time.perf_counter()
    res = run_closed_loop(
        planner,
        job.task,
        shift=job.shift,
        episodes=job.episodes,
        seed=job.seed * 1000,
        max_steps=job.max_steps,
        budget_fraction=job.budget_fraction,
        context_from_env=context_from_env,
        history=history,
        record=True,
    )
    seconds = time.perf_counter() - t0
    T = [len(tr["obs"]) for tr in res["traces"]]
    flat_ctx = holder.get("ctx")
    start = 0
    for n in T:
        contexts.append(None if flat_ctx is None else [c for c in flat_ctx[start : start + n]])
        start += n
    reward_scorer = LatentScorer(model, terminal_value=False)
    ctxs = [None if c is None else np.asarray(c) for c in contexts]
    pred = _prediction_errors(scorer, res["traces"], ctxs, reward_scorer)
    return {
        "task": job.task,
        "condition": job.condition,
        "arm": job.arm,
        "seed": job.seed,
        "model": job.model,
        "returns": res["returns"],
        "plan_ms": res["plan_ms"],
        "step_ms": res["latency_ms"],  # the whole control step: observe, context, plan, send
        "deadline_misses": res["deadline_misses"],
        "iterations_mean": float(np.mean(res["iterations"])),
        "k_step_mse": pred["k_step_mse"],
        "one_step_trace": pred["one_step_trace"],
        "reward_error_trace": pred["reward_error_trace"],
        "rank_rho": [x for x in rho if np.isfinite(x)],
        "shift_log": res["shift_logs"][0] if res["shift_logs"] else None,
        "seconds": seconds,
        "switch_step": _switch_step(res["shift_logs"][0] if res["shift_logs"] else None),
    }


def _executor(kind: str, workers: int, tick: Callable[[], None]):
    """(name, run_all): runs jobs on Ray, in worker processes or inline, in job order;
    `tick()` is called as each cell finishes (progress)."""
    if kind == "ray":
        try:
            import ray
        except ImportError:
            kind = "process"
        else:
            if not ray.is_initialized():
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            remote = ray.remote(run_job)

            def run_ray(jobs: list[Job]) -> list[dict]:
                refs = [remote.remote(j) for j in jobs]
                pending = list(refs)
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    tick()
                return ray.get(refs)

            return "ray", run_ray
    if kind == "process" and workers > 1:

        def run_all(jobs: list[Job]) -> list[dict]:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                futures = [ex.submit(run_job, j) for j in jobs]
                for _ in as_completed(futures):
                    tick()
                return [f.result() for f in futures]

        return "process", run_all

    def run_inline(jobs: list[Job]) -> list[dict]:
        out = []
        for j in jobs:
            out.append(run_job(j))
            tick()
        return out

    return "inline", run_inline


def run_shiftbench(
    tier: str = "smoke",
    *,
    json_path: str | None = None,
    models: dict[str, dict[str, str]] | None = None,
    workers: int | None = None,
    executor: str = "auto",
    threads: int = 1,
    progress: bool = True,
    tasks: tuple[str, ...] | None = None,
    arms: tuple[str, ...] | None = None,
) -> dict:
    """Runs a tier and returns (and optionally writes) the report.

    Args:
        tier: "smoke", "standard" or "full".
        json_path: write the report here.
        models: task -> arm -> model file (adds or overrides arms; NC defaults to the
            shipped models for Pendulum and HalfCheetah).
        workers: parallel cells (default: CPU count // threads).
        executor: "ray", "process", "inline" or "auto" (Ray if installed, else
            processes).
        threads: planner threads per cell.
        tasks: run only these tasks of the tier (default: all).
        arms: run only these arms (default: every arm that has a model).
    """
    if arms and set(arms) - set(ARMS):
        raise ValueError(f"arms: unknown {sorted(set(arms) - set(ARMS))}; expected some of {ARMS}")
    if tier not in TIERS:
        raise ValueError(f"tier: expected one of {TIERS}, got {tier!r}")
    setups = _tier_tasks(tier, models)
    if tasks:
        unknown = set(tasks) - {ts.task for ts in setups}
        if unknown:
            raise ValueError(f"tasks: {sorted(unknown)} not in tier {tier!r} ({[ts.task for ts in setups]})")
        setups = [ts for ts in setups if ts.task in tasks]
    jobs: list[Job] = []
    skipped: list[dict] = []
    for ts in setups:
        config_from_dict(ts.optimizer, ts.knobs)  # a bad configuration fails here, not in a worker
        if not ts.models:
            reason = "no model file for any arm (pass --model TASK:ARM=FILE)"
            if ts.task == "HalfCheetah-v5":
                reason += f"; the NC model comes from `{HALFCHEETAH_COMMAND}`"
            skipped.append({"task": ts.task, "reason": reason})
            continue
        missing = [a for a in ARMS if a not in ts.models and (not arms or a in arms)]
        commands = {"HalfCheetah-v5": HALFCHEETAH_ARM_COMMANDS, "Pendulum-v1": (PENDULUM_PCR_COMMAND,)}
        if ts.task in commands and missing:
            skipped.append(
                {
                    "task": ts.task,
                    "arms": missing,
                    "reason": "model not trained; run: " + " && ".join(commands[ts.task]),
                }
            )
        for label, spec in ts.conditions:
            for arm, path in ts.models.items():
                if arms and arm not in arms:
                    continue
                if arm not in ARMS:
                    raise ValueError(f"unknown arm {arm!r}; expected one of {ARMS}")
                for seed in ts.seeds:
                    jobs.append(
                        Job(
                            ts.task,
                            label,
                            spec,
                            arm,
                            path,
                            ts.optimizer,
                            ts.knobs,
                            seed,
                            ts.episodes,
                            threads,
                            ts.max_steps,
                        )
                    )
    workers = workers or max(1, (os.cpu_count() or 1) // max(1, threads))
    if executor == "auto":
        executor = "ray" if _has_ray() else "process"
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="cell", desc=f"ShiftBench {tier}")
        except ImportError:
            pass
    used, run_all = _executor(executor, workers, (lambda: bar.update(1)) if bar is not None else (lambda: None))
    t0 = time.perf_counter()
    if progress:
        print(f"ShiftBench {tier}: {len(jobs)} cells on {used} ({workers} workers)", flush=True)
    try:
        cells = run_all(jobs)
    finally:
        if bar is not None:
            bar.close()
    report = {
        "tier": tier,
        "executor": used,
        "workers": workers,
        "threads_per_cell": threads,
        "seconds": time.perf_counter() - t0,
        "machine": _machine(),
        "skipped": skipped,
        "cells": cells,
        "summary": summarize(cells),
    }
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(_rounded(report), f, separators=(",", ":"))
    return report


def _rounded(x: Any) -> Any:
    """Floats to 4 significant digits for the JSON file (per-step traces dominate its size)."""
    if isinstance(x, float):
        return float(f"{x:.4g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x


#: Per-step arrays of a cell: what `summarize` reads, too long to commit with a report.
TRACE_KEYS = ("plan_ms", "step_ms", "one_step_trace", "reward_error_trace")


def slim_report(report: dict) -> dict:
    """The report without its cells' per-step arrays (`TRACE_KEYS`): the summary, returns,
    k-step errors and shift logs stay. A slim report can be read, not merged again."""
    out = dict(report)
    out["cells"] = [{k: v for k, v in c.items() if k not in TRACE_KEYS} for c in report["cells"]]
    out["slim"] = True
    return out


def merge_reports(reports: list[dict]) -> dict:
    """One report from several runs (e.g. arms run separately on the same tier and seeds):
    cells are united (a (task, condition, arm, seed) cell seen twice is kept once; runs
    are deterministic, see `Job.budget_fraction`) and summarized together, so the paired
    comparisons cover every arm."""
    if not reports:
        raise ValueError("merge: no reports given")
    if any(r.get("slim") for r in reports):
        raise ValueError("merge: a slim report (cells without per-step arrays) cannot be merged; pass the full ones")
    cells: dict[tuple, dict] = {}
    for r in reports:
        for c in r["cells"]:
            cells.setdefault((c["task"], c["condition"], c["arm"], c["seed"]), c)
    merged = dict(reports[0])
    merged["cells"] = list(cells.values())
    merged["summary"] = summarize(merged["cells"])
    merged["seconds"] = float(sum(r["seconds"] for r in reports))
    merged["merged_from"] = len(reports)
    return merged


def _has_cma() -> bool:
    try:
        import cma  # noqa: F401
    except ImportError:
        return False
    return True


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _machine() -> dict:
    import platform

    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_average": load}


def summarize(cells: list[dict]) -> list[dict]:
    """One row per (task, condition, arm): returns with intervals, paired differences vs
    NC, prediction errors, ranking agreement, adaptation speed, latency."""
    rows = []
    seen = list(dict.fromkeys((c["task"], c["condition"]) for c in cells))  # run order
    keys = sorted(
        {(c["task"], c["condition"], c["arm"]) for c in cells},
        key=lambda k: (seen.index((k[0], k[1])), ARMS.index(k[2])),
    )
    by = {}
    for c in cells:
        by.setdefault((c["task"], c["condition"], c["arm"]), []).append(c)
    for key in keys:
        cs = sorted(by[key], key=lambda c: c["seed"])
        returns = [r for c in cs for r in c["returns"]]
        lo, hi = bootstrap_ci(returns)
        plan_ms = np.concatenate([np.asarray(c["plan_ms"]) for c in cs])
        row = {
            "task": key[0],
            "condition": key[1],
            "arm": key[2],
            "episodes": len(returns),
            "return_mean": float(np.mean(returns)),
            "return_ci95": [lo, hi],
            "plan_p50_ms": float(np.percentile(plan_ms, 50)),
            "plan_p99_ms": float(np.percentile(plan_ms, 99)),
            "step_p50_ms": _p50([x for c in cs for x in c.get("step_ms", [])]),
            "deadline_misses": int(sum(c["deadline_misses"] for c in cs)),
            "k_step_mse": {
                k: _mean_or_none([c["k_step_mse"][k] for c in cs if c["k_step_mse"][k] is not None])
                for k in cs[0]["k_step_mse"]
            },
            "rank_rho": _mean_or_none([x for c in cs for x in c["rank_rho"]]),
            "reward_mae_1": _mean_or_none([x for c in cs for tr in c.get("reward_error_trace") or [] for x in tr]),
        }
        for ref, prefix in (("NC", "vs_NC"), ("PC-oracle", "vs_PC")):
            other = by.get((key[0], key[1], ref))
            # vs PC-oracle: the arms that infer the context (OC, OC+CMA) or estimate it (PC-regressed).
            infers = key[2].startswith("OC") or key[2] == "PC-regressed"
            if key[2] in ("NC", ref) or not other or (ref == "PC-oracle" and not infers):
                continue
            other = sorted(other, key=lambda c: c["seed"])
            a = [r for c in cs for r in c["returns"]]
            b = [r for c in other for r in c["returns"]]
            if len(a) == len(b):
                row[f"{prefix}_mean"] = float(np.mean(np.asarray(a) - np.asarray(b)))
                row[f"{prefix}_ci95"] = list(paired_bootstrap_ci(a, b))
        sw = cs[0].get("switch_step")
        if sw is not None:
            # Reward error is in environment units, the same scale for every arm (latent
            # errors live in each model's own latent space); older reports lack it.
            trace_key = "reward_error_trace" if all(c.get("reward_error_trace") for c in cs) else "one_step_trace"
            ref = by.get((key[0], key[1], "PC-oracle"))
            steps = []
            for i, c in enumerate(cs):
                for e, tr in enumerate(c[trace_key]):
                    ref_tr = None
                    if ref and key[2] != "PC-oracle":
                        rc = sorted(ref, key=lambda c: c["seed"])
                        if i < len(rc) and e < len(rc[i].get(trace_key) or []):
                            ref_tr = rc[i][trace_key][e]
                    steps.append(_adaptation_steps(tr, sw, ref_tr))
            got = [s for s in steps if s is not None]
            row["adaptation_steps"] = float(np.mean(got)) if got else None
            row["adaptation_reference"] = "PC-oracle" if ref and key[2] != "PC-oracle" else "own steady state"
            row["adaptation_error"] = "reward" if trace_key == "reward_error_trace" else "latent"
            row["adaptation_never"] = len(steps) - len(got)
        rows.append(row)
    return rows


def _p50(v: list[float]) -> float | None:
    return float(np.percentile(v, 50)) if v else None


def _mean_or_none(v: list[float]) -> float | None:
    return float(np.mean(v)) if v else None


def write_markdown(report: dict, path: str, command: str) -> None:
    """A markdown table of the summary."""
    lines = [
        f"# ShiftBench, tier `{report['tier']}`",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {report['machine']}; {report['executor']} executor, {report['workers']} workers, "
        f"{report['threads_per_cell']} planner thread(s) per cell; {report['seconds']:.0f} s.",
        "",
        "| task | condition | arm | episodes | return (95% CI) | vs NC (paired 95% CI) | vs PC-oracle | 1-step MSE "
        "| 10-step MSE | 1-step reward err "
        "| rank rho | adapt steps | plan p50/p99 ms | step p50 ms | misses |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def f(x, fmt="{:.3g}"):
        return "n/a" if x is None else fmt.format(x)

    for r in report["summary"]:
        vs = (
            ""
            if "vs_NC_mean" not in r
            else f"{r['vs_NC_mean']:+.1f} ({r['vs_NC_ci95'][0]:+.1f} .. {r['vs_NC_ci95'][1]:+.1f})"
        )
        vp = (
            ""
            if "vs_PC_mean" not in r
            else f"{r['vs_PC_mean']:+.1f} ({r['vs_PC_ci95'][0]:+.1f} .. {r['vs_PC_ci95'][1]:+.1f})"
        )
        ad = ""
        if "adaptation_steps" in r:
            err = r.get("adaptation_error", "latent")
            ad = f"{f(r['adaptation_steps'], '{:.0f}')} ({err}, vs {r['adaptation_reference']})"
        lines.append(
            f"| {r['task']} | {r['condition']} | {r['arm']} | {r['episodes']} | {r['return_mean']:.1f} "
            f"({r['return_ci95'][0]:.1f} .. {r['return_ci95'][1]:.1f}) | {vs} | {vp} | {f(r['k_step_mse'].get('1'))} | "
            f"{f(r['k_step_mse'].get('10'))} | {f(r.get('reward_mae_1'))} | {f(r['rank_rho'], '{:.2f}')} | {ad} | "
            f"{r['plan_p50_ms']:.2f} / "
            f"{r['plan_p99_ms']:.2f} | {f(r.get('step_p50_ms'), '{:.2f}')} | {r['deadline_misses']} |"
        )
    for s in report["skipped"]:
        what = f"{s['task']} arms {', '.join(s['arms'])}" if s.get("arms") else s["task"]
        lines.append(f"\nSkipped {what}: {s['reason']}.")
    Path(path).write_text("\n".join(lines) + "\n")


def plot_report(report: dict, path: str) -> None:
    """Returns per condition and arm (with intervals) and k-step prediction error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["summary"]
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(len(tasks), 2, figsize=(13, 3.8 * len(tasks)), squeeze=False)
    colors = dict(zip(ARMS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ti, task in enumerate(tasks):
        tr = [r for r in rows if r["task"] == task]
        conds = list(dict.fromkeys(r["condition"] for r in tr))
        arms = [a for a in ARMS if any(r["arm"] == a for r in tr)]
        ax = axes[ti][0]
        w = 0.8 / max(1, len(arms))
        for ai, arm in enumerate(arms):
            xs, ys, err = [], [], [[], []]
            for ci, c in enumerate(conds):
                r = next((r for r in tr if r["condition"] == c and r["arm"] == arm), None)
                if r is None:
                    continue
                xs.append(ci + ai * w)
                ys.append(r["return_mean"])
                err[0].append(r["return_mean"] - r["return_ci95"][0])
                err[1].append(r["return_ci95"][1] - r["return_mean"])
            ax.bar(xs, ys, w, yerr=err, color=colors[arm], label=arm, capsize=2)
        ax.set_xticks(np.arange(len(conds)) + 0.4 - w / 2, conds, rotation=20, ha="right", fontsize=7)
        ax.set(title=f"{task}: return per condition (95% CI)", ylabel="return")
        ax.legend(fontsize=8)
        ax = axes[ti][1]
        palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        styles = dict(zip(ARMS, ["-", "--", (0, (5, 1, 1, 1)), ":", "-."], strict=True))
        for ci, c in enumerate(conds):
            for arm in arms:
                r = next((r for r in tr if r["condition"] == c and r["arm"] == arm), None)
                if r is None:
                    continue
                ks = [int(k) for k, v in r["k_step_mse"].items() if v is not None]
                vs = [r["k_step_mse"][str(k)] for k in ks]
                ax.plot(
                    ks,
                    vs,
                    marker="o",
                    lw=1.2,
                    color=palette[ci % len(palette)],
                    ls=styles[arm],
                    label=f"{c}" + (f" ({arm})" if len(arms) > 1 else ""),
                )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="k (steps)",
            ylabel="latent MSE",
            title=f"{task}: k-step prediction error" + (" (line style = arm)" if len(arms) > 1 else f" ({arms[0]})"),
        )
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
