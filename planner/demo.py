"""The demo: learned world models, planned natively, close the loop on Pendulum-v1.

Loads two small Pendulum models shipped in the package, trained by the project's own
script on the same data (random actions, pole mass and length drawn in 0.75 .. 1.25):
`NC` without a context (configs/pendulum_small.json) and `OC` with an outcome-centric
context inferred natively every step from the last 16 transitions
(configs/pendulum_oc.json). Each plans closed loop with the native MPPI planner inside
the real-time loop runner (20 Hz, the task's rate; every plan has a 40 ms budget) at
nominal dynamics and under dynamics shifts: a heavier, longer pole (a modeled
parameter, outside the training range) and a weak motor (an unmodeled one). Prints a
table (return with a 95% bootstrap interval, plan milliseconds p50/p99, deadline
misses) and writes a PNG (angle over time per model, latency histogram).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import config_from_dict
from .evaluate import PENDULUM_MODEL, PENDULUM_OC_MODEL, closed_loop_stats, run_closed_loop
from .planner import Planner

DEFAULTS = {
    "mppi": dict(samples=500, horizon=20, iterations=2, sigma=1.0, temperature=1.0),
    "cem": dict(samples=500, horizon=20, iterations=3, elites=50, init_std=1.0, momentum=0.1),
    "icem": dict(samples=500, horizon=20, iterations=3, elites=50, init_std=1.0, momentum=0.1),
}

#: (label, shift spec for planner.envs) run by the demo.
CONDITIONS: list[tuple[str, dict | None]] = [
    ("nominal", None),
    ("pole m x1.3, l x1.3", {"name": "heavier-longer-pole", "params": {"m": 1.3, "l": 1.3}}),
    ("motor at 60%", {"name": "weak-motor", "action_scale": 0.6}),
]


#: (label, model file, takes an outcome context)
MODELS: list[tuple[str, Any, bool]] = [("NC", PENDULUM_MODEL, False), ("OC", PENDULUM_OC_MODEL, True)]


def run_demo(
    optimizer: str = "mppi",
    episodes: int = 4,
    threads: int = 2,
    seed: int = 0,
    plot: str | None = None,
    progress: bool = True,
    model: str | None = None,
) -> dict:
    """Plans `episodes` 200-step episodes per condition from seeded random starts.

    Returns a dict with, per condition, the returns, their mean and interval, and the
    latency figures.
    """
    try:
        import gymnasium  # noqa: F401
    except ImportError as e:  # pragma: no cover - the envs extra installs it
        raise SystemExit("the demo needs gymnasium: pip install 'latent-planner[envs]'") from e
    from .context import OutcomeContext

    cfg = config_from_dict(optimizer, DEFAULTS[optimizer])
    models = [(label, str(path), oc) for label, path, oc in MODELS] if model is None else [("model", model, False)]
    bar = _progress(len(CONDITIONS) * len(models) * episodes * 200, progress)
    rows = []
    t_start = time.perf_counter()
    for label, spec in CONDITIONS:
        for name, path, oc in models:
            p = Planner.from_file(path, cfg, seed=seed, threads=threads)
            src = OutcomeContext(path) if oc else None
            r = run_closed_loop(
                p,
                "Pendulum-v1",
                shift=spec,
                episodes=episodes,
                seed=seed,
                record=True,
                bar=bar,
                context=src,
                history=src.history if src else 32,
            )
            stats = closed_loop_stats(r)
            stats["mean_return"] = stats.pop("mean")
            rows.append(
                {
                    "condition": label,
                    "model": name,
                    "shift": spec,
                    **stats,
                    "step_p50_ms": float(np.percentile(r["latency_ms"], 50)),
                    "_angles": [np.arctan2(t["obs"][:, 1], t["obs"][:, 0]) for t in r["traces"]],
                    "_plan_ms": np.asarray(r["plan_ms"]),
                }
            )
    bar.close()
    seconds = time.perf_counter() - t_start
    threads_used = Planner.from_file(models[0][1], cfg, threads=threads).threads
    print(
        f"Pendulum-v1, learned models ({', '.join(m[0] for m in models)}), native {optimizer.upper()} "
        f"{cfg.samples} x H{cfg.horizon} x {cfg.iterations}, {threads_used} threads, 20 Hz loop (40 ms budget), "
        f"{episodes} episodes per row"
    )
    print(f"{'condition':<22} {'model':<6} {'return':>8} {'95% CI':>18} {'p50 ms':>8} {'p99 ms':>8} {'misses':>7}")
    for row in rows:
        ci = f"{row['ci95'][0]:.0f} .. {row['ci95'][1]:.0f}"
        print(
            f"{row['condition']:<22} {row['model']:<6} {row['mean_return']:>8.1f} {ci:>18} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['deadline_misses']:>7d}"
        )
    print(f"({seconds:.0f} s)")
    if plot:
        _plot(rows, plot, optimizer)
        print(f"wrote {plot}")
    return {
        "models": {m[0]: m[1] for m in models},
        "optimizer": optimizer,
        "config": DEFAULTS[optimizer],
        "threads": threads_used,
        "episodes": episodes,
        "seed": seed,
        "seconds": seconds,
        "rows": [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows],
    }


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="step", leave=False)


def _plot(rows: list[dict], path: str, optimizer: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    conds = list(dict.fromkeys(r["condition"] for r in rows))
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(6 * len(models) + 5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for mi, m in enumerate(models):
        a = axes[mi]
        for row in (r for r in rows if r["model"] == m):
            color = colors[conds.index(row["condition"]) % len(colors)]
            for j, tr in enumerate(row["_angles"]):
                tr = np.asarray(tr, dtype=float).copy()
                tr[1:][np.abs(np.diff(tr)) > np.pi] = np.nan  # do not draw the wrap from +pi to -pi
                label = f"{row['condition']} ({row['mean_return']:.0f})" if j == 0 else None
                a.plot(np.arange(len(tr)) * 0.05, tr, lw=1, alpha=0.7, color=color, label=label)
        a.axhline(0.0, color="k", lw=0.5)
        a.set(xlabel="time [s]", ylabel="angle from upright [rad]", title=f"{m}: native {optimizer.upper()}")
        a.legend(fontsize=8, loc="upper right")
    b = axes[-1]
    for m, ls in zip(models, ["-", "--", ":"], strict=False):
        ms = np.concatenate([r["_plan_ms"] for r in rows if r["model"] == m])
        b.hist(ms, bins=40, histtype="step", lw=1.5, ls=ls, label=m)
    b.set(xlabel="plan() latency [ms]", ylabel="control steps", title="Planning latency (budget 40 ms)")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
