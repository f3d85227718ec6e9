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

import os
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
from planner.bench.plan_bench import (
    WARMUP_CALLS,
    _skipped,
    finish_report,
    guarded,
    latency_row,
    machine_info,
    markdown_header,
    markdown_table,
    plot_latency,
    run_jobs,
    table_rows,
    time_planner,
)

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
    """Latency and model FLOP rate of ``impl`` on ``problem`` (skipped rows: :func:`guarded`)."""
    cfg = problem.config
    obs = bench_observations(calls + WARMUP_CALLS, cfg.obs_dim, seed)

    def run():
        planner = make_latent_planner(impl, problem, seed=seed, threads=threads)
        row = latency_row(problem.name, impl, time_planner(planner, obs, WARMUP_CALLS), cfg.rows_per_plan)
        flop = problem.flop_per_plan()
        gflops = flop / (row["p50_ms"] / 1e3) / 1e9
        row.update(
            gflop_per_plan=flop / 1e9,
            gflops=gflops,
            peak_fraction=gflops / peak_gflops if peak_gflops else None,
        )
        return row

    return guarded(problem.name, impl, run, _latent_skipped)


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
    problems: dict[str, LatentProblem | str] = {}
    with tempfile.TemporaryDirectory(prefix="latent_bench_") as directory:

        def run(config, impl):
            if config not in problems:
                try:
                    problems[config] = build_problem(config, directory, seed=seed, threads=threads)
                except PeerUnavailable as exc:
                    problems[config] = f"no model: {exc}"
            problem = problems[config]
            if isinstance(problem, str):
                return _latent_skipped(config, impl, problem)
            return bench_one(problem, impl, calls=calls, threads=threads, seed=seed, peak_gflops=peak)

        results = run_jobs(jobs, run, desc="latent bench", progress=progress)
    machine["load_avg_end"] = _load_average()
    return finish_report(machine, results, json_path, format_table)


def format_table(results: list[dict]) -> str:
    return table_rows(
        results,
        17,
        [
            ("p50 ms", 9, lambda r: f"{r['p50_ms']:9.2f}"),
            ("p99 ms", 9, lambda r: f"{r['p99_ms']:9.2f}"),
            ("GFLOP/s", 8, lambda r: f"{r['gflops']:8.1f}"),
            (
                "of peak",
                8,
                lambda r: f"{100 * r['peak_fraction']:7.1f}%" if r.get("peak_fraction") is not None else f"{'-':>8}",
            ),
        ],
    )


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
        *markdown_header("# Planning speed on latent world models: ours vs peer planners", command, report),
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
        "the settings are listed in the adapters' docstrings (planner/bench/adapters.py, latent_peers.py).",
        "",
        *markdown_table(format_table(report["results"])),
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
