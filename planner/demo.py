"""The demo: native planning closes the loop on gymnasium's Pendulum-v1.

Runs the native planner on the analytic Pendulum model against the real simulator,
prints return and per-step planning latency, and optionally writes a plot.
"""

from __future__ import annotations

import time

import numpy as np

from .config import config_from_dict
from .planner import Planner

DEFAULTS = {
    "mppi": dict(samples=1000, horizon=20, iterations=1, sigma=1.0, temperature=1.0),
    "cem": dict(samples=500, horizon=20, iterations=5, elites=50, init_std=1.0, momentum=0.1),
    "icem": dict(samples=500, horizon=20, iterations=5, elites=50, init_std=1.0, momentum=0.1),
}


def run_demo(
    optimizer: str = "mppi",
    episodes: int = 10,
    threads: int = 2,
    seed: int = 0,
    plot: str | None = None,
    progress: bool = True,
) -> dict:
    """Plans `episodes` 200-step Pendulum-v1 episodes from seeded random starts.

    Returns a dict with per-episode returns, their mean and the latency percentiles.
    """
    try:
        import gymnasium as gym
    except ImportError as e:  # pragma: no cover - the demo extra installs it
        raise SystemExit("the demo needs gymnasium: pip install 'latent-planner[envs]'") from e
    cfg = config_from_dict(optimizer, DEFAULTS[optimizer])
    p = Planner("pendulum", cfg, seed=seed, threads=threads)
    env = gym.make("Pendulum-v1")
    returns, latencies, angles = [], [], []
    bar = _progress(episodes * 200, progress)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        p.reset()
        total, trace = 0.0, []
        for _ in range(200):
            state = env.unwrapped.state.astype(np.float32)
            t0 = time.perf_counter_ns()
            action = p.plan(state).action
            latencies.append((time.perf_counter_ns() - t0) / 1e6)
            trace.append(float(np.arctan2(np.sin(state[0]), np.cos(state[0]))))
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            bar.update(1)
            if terminated or truncated:
                break
        returns.append(total)
        angles.append(trace)
    bar.close()
    lat = np.asarray(latencies)
    result = {
        "optimizer": optimizer,
        "config": DEFAULTS[optimizer],
        "threads": p.threads,
        "returns": returns,
        "mean_return": float(np.mean(returns)),
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }
    print(f"Pendulum-v1, native {optimizer.upper()} on the analytic model, {p.threads} threads")
    print(f"{'episode':>8} {'return':>10}")
    for i, r in enumerate(returns):
        print(f"{i:>8} {r:>10.1f}")
    print(f"mean return {result['mean_return']:.1f} over {episodes} episodes")
    print(f"plan latency p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms")
    if plot:
        _plot(angles, lat, plot, optimizer)
        print(f"wrote {plot}")
    return result


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


def _plot(angles: list, lat: np.ndarray, path: str, optimizer: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for tr in angles:
        tr = np.asarray(tr)
        tr[1:][np.abs(np.diff(tr)) > np.pi] = np.nan  # do not draw the wrap from +pi to -pi
        a.plot(np.arange(len(tr)) * 0.05, tr, lw=1, alpha=0.8)
    a.axhline(0.0, color="k", lw=0.5)
    a.set(
        xlabel="time [s]", ylabel="angle from upright [rad]", title=f"Pendulum-v1 swing-up, native {optimizer.upper()}"
    )
    b.hist(lat * 1e3, bins=50, color="tab:blue")
    b.set(xlabel="plan() latency [us]", ylabel="control steps", title="Planning latency")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
