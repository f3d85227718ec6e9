"""The real-time loop benchmark: a latent-small model at 100 Hz on 2 cores.

Runs `LoopRunner` in real time (sleeping to each tick) on HalfCheetah-v5 with the shipped
latent-small model (`runs/halfcheetah.lpm.safetensors`, trained by reports/halfcheetah.md), MPPI 256 x H12
x 4 iterations (the latent-small configuration of BENCHMARKS.md), a planning budget of
80% of the 10 ms period, in the foreground (plan, then act) and in background mode
(plan while the last action executes, executing the plan shifted by its latency).
Reports per-tick latency p50 / p99 / max, deadline misses, budget overruns and whether
every overrun stayed within one optimizer iteration, iterations completed, and the
return over the run. ``python -m planner bench loop`` runs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..config import MPPIConfig
from ..evaluate import HALFCHEETAH_COMMAND, HALFCHEETAH_MODEL

__all__ = ["run_loop_bench", "write_markdown", "plot_report"]

CONFIG = dict(samples=256, horizon=12, iterations=4, sigma=0.5, temperature=1.0)


def run_loop_bench(
    json_path: str | None = None,
    *,
    hz: float = 100.0,
    steps: int = 1000,
    threads: int = 2,
    seed: int = 0,
    budget_fraction: float = 0.8,
    model: str | None = None,
    task: str = "HalfCheetah-v5",
    modes: tuple[str, ...] = ("foreground", "background"),
) -> dict:
    import gymnasium as gym

    from ..control import GymRobot, LoopRunner, MPCController
    from ..planner import Planner

    path = str(model or HALFCHEETAH_MODEL)
    if not Path(path).is_file():
        raise FileNotFoundError(f"model: {path} does not exist; train it with `{HALFCHEETAH_COMMAND}` or pass --model")
    results = []
    for mode in modes:
        planner = Planner.from_file(path, MPPIConfig(**CONFIG), seed=seed, threads=threads)
        env = gym.make(task, max_episode_steps=steps)
        robot = GymRobot(env, seed=seed)
        robot.reset()
        ctl = MPCController(planner)
        runner = LoopRunner(ctl, robot, hz, budget_fraction=budget_fraction, background=(mode == "background"))
        stats = runner.run(steps)
        env.close()
        s = stats.summary()
        s.update(mode=mode, episode_return=robot.episode_return, steps=stats.ticks)
        s["latency_ms"] = [round(x, 4) for x in stats.latency_ms]
        s["plan_ms"] = [round(x, 4) for x in stats.plan_ms]
        s["iterations"] = stats.iterations
        results.append(s)
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    report = {
        "task": task,
        "model": path,
        "config": CONFIG,
        "hz": hz,
        "budget_fraction": budget_fraction,
        "threads": threads,
        "cores": os.cpu_count(),
        "load_average": load,
        "results": results,
    }
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1))
    return report


def format_table(report: dict) -> str:
    lines = [
        "| mode | ticks | latency p50 / p99 / max ms | plan p50 / p99 ms | deadline misses | budget overruns "
        "(max ms) | overrun <= 1 iteration | iterations mean (min) of "
        f"{report['config']['iterations']} | return |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['mode']} | {r['ticks']} | {r['latency_p50_ms']:.2f} / {r['latency_p99_ms']:.2f} / "
            f"{r['latency_max_ms']:.2f} | {r['plan_p50_ms']:.2f} / {r['plan_p99_ms']:.2f} | {r['deadline_misses']} | "
            f"{r['budget_overruns']} ({r['max_overrun_ms']:.2f}) | {r['overrun_within_one_iteration']} | "
            f"{r['iterations_mean']:.2f} ({r['iterations_min']}) | {r['episode_return']:.1f} |"
        )
    return "\n".join(lines)


def write_markdown(report: dict, path: str, command: str) -> None:
    text = [
        f"# Real-time loop at {report['hz']:.0f} Hz: latent-small on {report['task']}",
        "",
        f"Command: `{command}`",
        "",
        f"Model `{report['model']}` (latent-small, trained by reports/halfcheetah.md), MPPI "
        f"{report['config']['samples']} x H{report['config']['horizon']} x {report['config']['iterations']}, "
        f"{report['threads']} planner threads on {report['cores']} cores, budget {report['budget_fraction']:.0%} of "
        f"the {1e3 / report['hz']:.0f} ms period, load average at the end {report['load_average']}.",
        "",
        format_table(report),
        "",
        "Latency is the tick's work (read, observe, plan in the foreground, send); in background mode "
        "planning runs beside the loop and the latency is only read + pick + send. A deadline miss is a tick "
        "whose work exceeded the period. An overrun is a plan that ran past its budget; the anytime rule bounds "
        "it by the plan's slowest iteration (checked per plan).",
        "",
        "The simulated robot advances one env step (0.05 s for HalfCheetah-v5) per tick, so the simulation runs "
        "faster than wall time: the run measures the loop's latency and deadline behaviour at 100 Hz, and the "
        "return shows the controller still works with the anytime budget (the model was trained with 3 iCEM "
        "iterations of 512 samples; reports/halfcheetah.md: 1324 per 1000 steps).",
    ]
    Path(path).write_text("\n".join(text) + "\n")


def plot_report(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    period = 1e3 / report["hz"]
    for r in report["results"]:
        a.hist(r["plan_ms"], bins=60, histtype="step", lw=1.5, label=f"plan, {r['mode']}")
        a.hist(r["latency_ms"], bins=60, histtype="step", lw=1.0, ls="--", label=f"tick, {r['mode']}")
        its = np.asarray(r["iterations"])
        edges = np.arange(0.5, report["config"]["iterations"] + 1.5)
        b.hist(its, bins=edges, histtype="step", lw=1.5, label=r["mode"])
    a.axvline(period, color="r", lw=1, label="period")
    a.axvline(period * report["budget_fraction"], color="k", lw=1, ls=":", label="budget")
    a.set(xlabel="ms", ylabel="count", yscale="log", title=f"{report['hz']:.0f} Hz loop: latency")
    a.legend(fontsize=7)
    b.set(
        xlabel="iterations completed (of the configured maximum)",
        ylabel="plans",
        yscale="log",
        title="Anytime: iterations that fit the budget",
    )
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
