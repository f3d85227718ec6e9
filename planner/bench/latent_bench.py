"""Planning-latency benchmark on latent world models: the native planner against its peers.

Configurations ``latent-small`` and ``latent-tdmpc2-1m`` of BENCHMARKS.md section 1. For
each configuration one random-initialized torch `WorldModel` is built (seeded) and
exported to a temporary model file; every implementation plans with those weights (ours
from the file, the peers with the torch module; see :mod:`planner.bench.latent_peers`).
For each configuration x implementation it times ``calls`` plans (after 3 warm-up plans)
from fixed random observations (and a fixed random context when C > 0), and reports p50 /
p99 latency, the model FLOP rate and its fraction of the machine's float32 matrix-product
rate measured in the same run. Returns are not reported: the weights are random.

Run it with::

    from planner.bench.latent_bench import run_latent_bench
    run_latent_bench("latent.json", calls=20)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

from planner.bench.latent_peers import (
    LATENT_CONFIGS,
    LATENT_IMPLS,
    LatentProblem,
    PeerUnavailable,
    bench_observations,
    build_problem,
    make_latent_planner,
)
from planner.bench.plan_bench import WARMUP_CALLS, _skipped, machine_info, plot_latency, time_planner

MATMUL_SIZE = 2048
MATMUL_REPEATS = 5


def matmul_peak_gflops(threads: int, size: int = MATMUL_SIZE, repeats: int = MATMUL_REPEATS) -> dict:
    """The float32 matrix-product rate of numpy's BLAS: best of ``repeats`` timed
    ``size x size`` products (after one untimed), ``2 size^3`` FLOPs each.

    The BLAS thread count is set to ``threads`` with threadpoolctl for the measurement
    when it is installed. Without it numpy's BLAS keeps the thread count it read at import
    (``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, else one per core); the result
    records which (``matmul_threads``, ``matmul_threads_how``).

    Returns ``{"matmul_peak_gflops", "matmul_size", "matmul_threads", "matmul_threads_how"}``.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    c = np.empty((size, size), dtype=np.float32)

    def measure() -> float:
        np.matmul(a, b, out=c)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
        return 2.0 * size**3 / best / 1e9

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=threads, user_api="blas"):
            gflops = measure()
        used, how = threads, "threadpoolctl"
    else:
        gflops = measure()
        env = next((v for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if os.environ.get(v)), None)
        if env is not None:
            used, how = int(os.environ[env]), f"{env} at import (threadpoolctl not installed)"
        else:
            used, how = machine_info(threads)["cores"], "BLAS default, one per core (threadpoolctl not installed)"
    return {
        "matmul_peak_gflops": gflops,
        "matmul_size": size,
        "matmul_threads": used,
        "matmul_threads_how": how,
    }


def bench_one(
    problem: LatentProblem,
    impl: str,
    *,
    calls: int = 20,
    threads: int = 2,
    seed: int = 0,
    peak_gflops: float | None = None,
) -> dict:
    """Time one implementation on one configuration's problem.

    A peer that is unavailable, or that fails while building or planning (a peer
    library's own error), is reported as skipped with the reason; the run goes on.
    """
    cfg = problem.config
    obs = bench_observations(calls + WARMUP_CALLS, cfg.obs_dim, seed)
    try:
        planner = make_latent_planner(impl, problem, seed=seed, threads=threads)
        times = time_planner(planner, obs, WARMUP_CALLS)
    except PeerUnavailable as exc:
        return _latent_skipped(problem.name, impl, str(exc))
    except Exception as exc:
        if impl == "ours":
            raise  # the native planner must not fail silently
        return _latent_skipped(problem.name, impl, f"failed: {type(exc).__name__}: {exc}")
    p50 = float(np.percentile(times, 50))
    p99 = float(np.percentile(times, 99))
    flop = problem.flop_per_plan()
    gflops = flop / (p50 / 1e3) / 1e9
    return {
        "config": problem.name,
        "impl": impl,
        "p50_ms": p50,
        "p99_ms": p99,
        "dyn_steps_per_s": cfg.rows_per_plan / (p50 / 1e3),
        "closed_loop_return": None,
        "status": "ok",
        "gflop_per_plan": flop / 1e9,
        "gflops": gflops,
        "peak_fraction": gflops / peak_gflops if peak_gflops else None,
    }


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other work on a shared machine skews latencies)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _latent_skipped(config: str, impl: str, reason: str) -> dict:
    r = _skipped(config, impl, reason)
    r.update(gflop_per_plan=None, gflops=None, peak_fraction=None)
    return r


def run_latent_bench(
    json_path: str | None = None,
    *,
    impls=LATENT_IMPLS,
    configs=tuple(LATENT_CONFIGS),
    calls: int = 20,
    threads: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Benchmark every ``config`` x ``impl``; write JSON to ``json_path`` if given.

    Returns ``{"machine": {..., matmul_peak_gflops, matmul_size, matmul_threads,
    matmul_threads_how, load_avg_start, load_avg_end}, "results": [{config, impl, p50_ms, p99_ms, dyn_steps_per_s,
    closed_loop_return (None: random weights), status, reason?, gflop_per_plan, gflops,
    peak_fraction}, ...]}``. ``dyn_steps_per_s`` counts model rows (N * H * I per plan).
    """
    for c in configs:
        if c not in LATENT_CONFIGS:
            raise ValueError(f"unknown config {c!r}; expected one of {sorted(LATENT_CONFIGS)}")
    try:
        import torch

        torch.set_num_threads(int(threads))  # also for the model build and export
    except ImportError:
        pass
    machine = machine_info(threads)
    machine["load_avg_start"] = _load_average()
    machine.update(matmul_peak_gflops(threads))
    peak = machine["matmul_peak_gflops"]
    jobs = [(c, i) for c in configs for i in impls]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="latent bench", unit="run", file=sys.stderr)
    results = []
    problems: dict[str, LatentProblem | str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="latent_bench_") as directory:
            for config, impl in jobs:
                if bar is not None:
                    bar.set_postfix_str(f"{config} {impl}")
                if config not in problems:
                    try:
                        problems[config] = build_problem(config, directory, seed=seed, threads=threads)
                    except PeerUnavailable as exc:
                        problems[config] = f"no model: {exc}"
                problem = problems[config]
                if isinstance(problem, str):
                    results.append(_latent_skipped(config, impl, problem))
                else:
                    results.append(bench_one(problem, impl, calls=calls, threads=threads, seed=seed, peak_gflops=peak))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    machine["load_avg_end"] = _load_average()
    report = {"machine": machine, "results": results}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    print(format_table(results))
    return report


def format_table(results: list[dict]) -> str:
    ours = {r["config"]: r["p50_ms"] for r in results if r["impl"] == "ours" and r["status"] == "ok"}
    header = f"{'config':<17} {'impl':<13} {'p50 ms':>9} {'p99 ms':>9} {'GFLOP/s':>8} {'of peak':>8} {'p50/ours':>9}"
    lines = [header, "-" * len(header)]
    for r in results:
        if r["status"] != "ok":
            lines.append(f"{r['config']:<17} {r['impl']:<13} skipped: {r.get('reason', '')}")
            continue
        base = ours.get(r["config"])
        ratio = f"{r['p50_ms'] / base:8.2f}x" if base else f"{'-':>9}"
        frac = r.get("peak_fraction")
        frac_s = f"{100 * frac:7.1f}%" if frac is not None else f"{'-':>8}"
        lines.append(
            f"{r['config']:<17} {r['impl']:<13} {r['p50_ms']:9.2f} {r['p99_ms']:9.2f} "
            f"{r['gflops']:8.1f} {frac_s} {ratio}"
        )
    return "\n".join(lines)


def write_markdown(report: dict, path: str, command: str) -> None:
    """A markdown report of `report` (from run_latent_bench), with the command that made it."""
    m = report["machine"]
    flop = {r["config"]: r["gflop_per_plan"] for r in report["results"] if r.get("gflop_per_plan")}
    settings = []
    for name, cfg in LATENT_CONFIGS.items():
        if any(r["config"] == name for r in report["results"]):
            extra = f", top-k {cfg.top_k}" if cfg.top_k else ""
            extra += ", adaptive std" if cfg.adapt_std else ""
            gf = f"{flop[name]:.2f} GFLOP per plan" if name in flop else "model FLOPs -"
            settings.append(
                f"- `{name}`: preset `{cfg.preset}`, S={cfg.obs_dim}, A={cfg.action_dim}; MPPI {cfg.samples} x "
                f"H{cfg.horizon} x {cfg.iterations} iterations, sigma {cfg.sigma}, temperature {cfg.temperature}"
                f"{extra}; {gf}."
            )
    lines = [
        "# Planning speed on latent world models: ours vs peer planners",
        "",
        f"Regenerate: `{command}`",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('threads', '?')} threads per planner; "
        f"python {m.get('python', '?')}, numpy {m.get('numpy', '?')}, torch {m.get('torch', '-')}; "
        f"{m.get('date', '')}.",
        f"float32 matrix-product peak (numpy BLAS, {m.get('matmul_size', '?')}^2, best of {MATMUL_REPEATS}, "
        f"{m.get('matmul_threads', '?')} threads via {m.get('matmul_threads_how', '?')}): "
        f"{m.get('matmul_peak_gflops', float('nan')):.1f} GFLOP/s. Load average (1, 5, 15 min) at start "
        f"{m.get('load_avg_start')}, at end {m.get('load_avg_end')} (above 0 means other work shared the cores).",
        "",
        *settings,
        "",
        "Every implementation plans with the same random-initialized weights (ours from the exported model file,",
        "the peers with the torch module), in the same process, one after the other, from the same random",
        "observations. `GFLOP/s` = model FLOPs per plan (2 x in x out per Linear per row; encoder, dynamics, reward",
        "and value heads; elementwise work not counted) / p50; `of peak` = that over the matrix-product peak.",
        "`p50/ours` is the peer's median latency over ours (higher = we are faster). Library deviations from",
        "the settings are listed in the peer classes' docstrings (planner/bench/latent_peers.py).",
        "",
        "```",
        format_table(report["results"]),
        "```",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def plot_report(report: dict, path: str) -> None:
    """Bar chart of p50 latency per configuration and implementation (log scale)."""
    peak = report["machine"].get("matmul_peak_gflops")
    title = "Latent planning latency, same run, same weights and budget"
    if peak:
        title += f" (matmul peak {peak:.0f} GFLOP/s)"
    plot_latency(report, path, LATENT_CONFIGS, LATENT_IMPLS, title)
