"""Planning-latency and closed-loop benchmark: the native planner against its peers.

For each configuration x implementation it times ``calls`` control steps (after 3 warm-up
calls) from a fixed set of random Pendulum-v1 states and runs ``episodes`` closed-loop
episodes on ``gymnasium.make("Pendulum-v1")``.

Run it with ``python -m planner bench plan [--json out.json]``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import platform
import sys
import time

import numpy as np

from planner.bench.peers import (
    CONFIGS,
    IMPLS,
    PeerPlanner,
    PeerUnavailable,
    get_config,
    make_planner,
)

WARMUP_CALLS = 3
EPISODE_STEPS = 200


def bench_states(n: int, seed: int = 0) -> np.ndarray:
    """``n`` fixed random Pendulum-v1 states ``[th, thdot]`` (gymnasium's reset ranges)."""
    rng = np.random.default_rng(seed)
    th = rng.uniform(-np.pi, np.pi, size=n)
    thdot = rng.uniform(-1.0, 1.0, size=n)
    return np.stack([th, thdot], axis=1)


def time_planner(planner: PeerPlanner, states: np.ndarray, warmup: int = WARMUP_CALLS) -> np.ndarray:
    """Wall time in ms of ``planner.act`` on ``states[warmup:]``.

    The first ``warmup`` states are planned from untimed.
    """
    planner.reset()
    for s in states[:warmup]:
        planner.act(s)
    timed = states[warmup:]
    times = np.empty(len(timed), dtype=np.float64)
    for i, s in enumerate(timed):
        t0 = time.perf_counter_ns()
        planner.act(s)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return times


def benchmark_act(benchmark, planner: PeerPlanner, inputs, *, rounds: int, warmup_rounds: int) -> np.ndarray:
    """One ``planner.act`` per round under a pytest-benchmark fixture, cycling through
    ``inputs`` (set up outside the timing); returns the last action as an array."""
    cursor = itertools.cycle(inputs)

    def next_input():
        return (next(cursor),), {}

    planner.reset()
    action = benchmark.pedantic(
        planner.act,
        setup=next_input,
        rounds=rounds,
        warmup_rounds=warmup_rounds,
        iterations=1,
    )
    return np.asarray(action)


def closed_loop_return(planner: PeerPlanner, seed: int, steps: int = EPISODE_STEPS) -> float:
    """Return of one episode of the real gymnasium Pendulum-v1 driven by ``planner``."""
    import gymnasium

    env = gymnasium.make("Pendulum-v1")
    try:
        env.reset(seed=seed)
        planner.reset()
        total = 0.0
        for _ in range(steps):
            action = np.asarray(planner.act(env.unwrapped.state), dtype=np.float32).reshape(1)
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return total
    finally:
        env.close()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int) -> dict:
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_version,
        "threads": threads,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _skipped(config: str, impl: str, reason: str) -> dict:
    return {
        "config": config,
        "impl": impl,
        "p50_ms": None,
        "p99_ms": None,
        "dyn_steps_per_s": None,
        "closed_loop_return": None,
        "status": "skipped",
        "reason": reason,
    }


def bench_one(
    config: str,
    impl: str,
    *,
    calls: int = 20,
    episodes: int = 1,
    threads: int = 2,
    seed: int = 0,
) -> dict:
    """Time one implementation on one configuration (latency on fixed random states, then
    ``episodes`` closed-loop episodes); errors as :func:`guarded` says."""
    cfg = get_config(config)
    states = bench_states(calls + WARMUP_CALLS, seed)

    def run():
        planner = make_planner(impl, config, seed=seed, threads=threads)
        times = time_planner(planner, states, WARMUP_CALLS)
        returns = [closed_loop_return(planner, seed + e) for e in range(episodes)]
        row = latency_row(config, impl, times, cfg.dyn_steps_per_call)
        row["closed_loop_return"] = float(np.mean(returns)) if returns else None
        return row

    return guarded(config, impl, run)


def guarded(config: str, impl: str, run, skipped=_skipped) -> dict:
    """``run()``'s result row; a peer that is unavailable, or that fails while building or
    planning (a peer library's own error), gives ``skipped(config, impl, reason)`` instead.
    The native planner must not fail silently: its errors propagate."""
    try:
        return run()
    except PeerUnavailable as exc:
        return skipped(config, impl, str(exc))
    except Exception as exc:
        if impl == "ours":
            raise
        return skipped(config, impl, f"failed: {type(exc).__name__}: {exc}")


def latency_row(config: str, impl: str, times: np.ndarray, rows_per_call: int) -> dict:
    """The result row of ``times`` [ms]: p50, p99 and model rows (dynamics steps) per second."""
    p50 = float(np.percentile(times, 50))
    return {
        "config": config,
        "impl": impl,
        "p50_ms": p50,
        "p99_ms": float(np.percentile(times, 99)),
        "dyn_steps_per_s": rows_per_call / (p50 / 1e3),
        "closed_loop_return": None,
        "status": "ok",
    }


def run_jobs(jobs, run, *, desc: str, progress: bool = True) -> list:
    """``[run(config, impl) for config, impl in jobs]`` behind a tqdm bar on stderr."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=desc, unit="run", file=sys.stderr)
    results = []
    try:
        for config, impl in jobs:
            if bar is not None:
                bar.set_postfix_str(f"{config} {impl}")
            results.append(run(config, impl))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def finish_report(machine: dict, results: list[dict], json_path: str | None, table) -> dict:
    """``{"machine", "results"}``, written as JSON to ``json_path`` if given; prints ``table(results)``."""
    report = {"machine": machine, "results": results}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    print(table(results))
    return report


def table_rows(results: list[dict], config_width: int, columns) -> str:
    """A text table: config, impl, then ``columns`` (``(header, width, cell(row) -> str)``),
    then ``p50/ours`` (the row's median latency over ours on the same config)."""
    ours = {r["config"]: r["p50_ms"] for r in results if r["impl"] == "ours" and r["status"] == "ok"}
    header = f"{'config':<{config_width}} {'impl':<13} " + " ".join(f"{h:>{w}}" for h, w, _ in columns)
    header += f" {'p50/ours':>9}"
    lines = [header, "-" * len(header)]
    for r in results:
        if r["status"] != "ok":
            lines.append(f"{r['config']:<{config_width}} {r['impl']:<13} skipped: {r.get('reason', '')}")
            continue
        base = ours.get(r["config"])
        ratio = f"{r['p50_ms'] / base:8.2f}x" if base else f"{'-':>9}"
        cells = " ".join(cell(r) for _, _, cell in columns)
        lines.append(f"{r['config']:<{config_width}} {r['impl']:<13} {cells} {ratio}")
    return "\n".join(lines)


def _optional(value, fmt: str, width: int) -> str:
    return format(value, fmt) if value is not None else f"{'-':>{width}}"


def format_table(results: list[dict]) -> str:
    return table_rows(
        results,
        15,
        [
            ("p50 ms", 9, lambda r: f"{r['p50_ms']:9.3f}"),
            ("p99 ms", 9, lambda r: f"{r['p99_ms']:9.3f}"),
            ("Mdyn/s", 8, lambda r: f"{r['dyn_steps_per_s'] / 1e6:8.2f}"),
            ("return", 9, lambda r: _optional(r["closed_loop_return"], "9.1f", 9)),
        ],
    )


def trivial_overhead(calls: int = 5000, threads: int = 2) -> dict:
    """Cost of one plan() from Python on a trivial problem (N=1, H=1, one iteration):
    the binding, validation and result overhead a control loop pays per call."""
    import planner as native

    p = native.Planner("pendulum", native.MPPIConfig(samples=1, horizon=1, iterations=1), threads=threads)
    state = np.array([0.1, 0.0], np.float32)
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        p.plan(state)
        times[i] = time.perf_counter_ns() - t0
    times = times[100:] / 1e6
    return latency_row("trivial-n1-h1", "ours", times, 1)


def run_plan_bench(
    json_path: str | None,
    *,
    impls=IMPLS,
    configs=tuple(CONFIGS),
    calls: int = 20,
    episodes: int = 1,
    threads: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Benchmark every ``config`` x ``impl``; write JSON to ``json_path`` if given.

    Returns ``{"machine": {...}, "results": [{config, impl, p50_ms, p99_ms,
    dyn_steps_per_s, closed_loop_return, status, reason?}, ...]}``.
    """
    jobs = [(c, i) for c in configs for i in impls]

    def run(config, impl):
        return bench_one(config, impl, calls=calls, episodes=episodes, threads=threads, seed=seed)

    results = run_jobs(jobs, run, desc="plan bench", progress=progress)
    if "ours" in impls:
        results.append(trivial_overhead(threads=threads))
    return finish_report(machine_info(threads), results, json_path, format_table)


def write_markdown(report: dict, path: str, command: str) -> None:
    """A markdown report of `report` (from run_plan_bench), with the command that made it."""
    lines = [
        *markdown_header("# Planning speed: ours vs peer planners (analytic Pendulum-v1)", command, report),
        "All implementations ran in the same process, one after the other, on the same states, with the same",
        "sample budget. `p50/ours` is the peer's median latency over ours (higher = we are faster).",
        "`return` is the mean 200-step return on gymnasium's Pendulum-v1 from seeded random starts.",
        "",
        *markdown_table(format_table(report["results"])),
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def markdown_header(title: str, command: str, report: dict) -> list[str]:
    """Title, the command that regenerates the report and the machine line."""
    m = report["machine"]
    return [
        title,
        "",
        f"Regenerate: `{command}`",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('threads', '?')} threads per planner; "
        f"python {m.get('python', '?')}, numpy {m.get('numpy', '?')}, torch {m.get('torch', '-')}; "
        f"{m.get('date', '')}.",
    ]


def markdown_table(table: str) -> list[str]:
    return ["```", table, "```", ""]


def plot_latency(report: dict, path: str, configs, impls, title: str) -> None:
    """Bar chart of p50 latency per configuration and implementation (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in report["results"] if r["status"] == "ok" and r["config"] in configs]
    configs = [c for c in configs if any(r["config"] == c for r in ok)]
    impls = [i for i in impls if any(r["impl"] == i for r in ok)]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(impls), 1)
    for k, impl in enumerate(impls):
        xs, ys = [], []
        for j, c in enumerate(configs):
            for r in ok:
                if r["config"] == c and r["impl"] == impl:
                    xs.append(j + k * width)
                    ys.append(r["p50_ms"])
        bars = ax.bar(xs, ys, width, label=impl)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks([j + width * (len(impls) - 1) / 2 for j in range(len(configs))], configs)
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency per plan [ms] (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_report(report: dict, path: str) -> None:
    """Bar chart of the analytic-pendulum benchmark."""
    plot_latency(report, path, CONFIGS, IMPLS, "Planning latency, same run, same budget")
