"""pytest-benchmark suite: one planning call (``act``) per config x implementation.

Run with ``pytest benchmarks/test_bench_plan.py --benchmark-only``. Nothing here asserts
on time; implementations whose package is missing are skipped with the reason.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from planner.bench.peers import CONFIGS, IMPLS, PeerUnavailable, make_planner
from planner.bench.plan_bench import bench_states, benchmark_act

THREADS = 2
ROUNDS = 10
WARMUP_ROUNDS = 3


@pytest.mark.parametrize(
    "config,impl",
    list(itertools.product(CONFIGS, IMPLS)),
    ids=[f"{c}-{i}" for c, i in itertools.product(CONFIGS, IMPLS)],
)
def test_plan_act(benchmark, config, impl):
    try:
        planner = make_planner(impl, config, seed=0, threads=THREADS)
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    benchmark.extra_info["dyn_steps_per_call"] = CONFIGS[config].dyn_steps_per_call
    states = bench_states(ROUNDS + WARMUP_ROUNDS, seed=0)
    action = benchmark_act(benchmark, planner, states, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    assert action.shape == (1,)
    assert np.all(np.isfinite(action))
    assert -2.0 <= float(action[0]) <= 2.0


def test_torch_pendulum_matches_gymnasium():
    """The torch dynamics used by the peers reproduce gymnasium's Pendulum-v1 step."""
    gymnasium = pytest.importorskip("gymnasium")
    torch = pytest.importorskip("torch")
    from planner.bench import pendulum_torch

    env = gymnasium.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = 256
    th = rng.uniform(-3 * np.pi, 3 * np.pi, n)
    thdot = rng.uniform(-9.0, 9.0, n)
    u = rng.uniform(-3.0, 3.0, n).astype(np.float32)
    expected = np.empty((n, 3))
    for k in range(n):
        env.state = np.array([th[k], thdot[k]])
        _, reward, *_ = env.step(u[k : k + 1])
        expected[k] = (*env.state, reward)
    new_th, new_thdot, reward = pendulum_torch.step(
        torch.tensor(th), torch.tensor(thdot), torch.tensor(u, dtype=torch.float64)
    )
    got = np.stack([new_th.numpy(), new_thdot.numpy(), reward.numpy()], axis=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)

    # Horizon returns against stepping the real env.
    actions = rng.uniform(-2.5, 2.5, (8, 20)).astype(np.float32)
    th0, thdot0 = 2.5, -0.7
    returns = pendulum_torch.rollout_returns(th0, thdot0, torch.tensor(actions, dtype=torch.float64))
    for k in range(len(actions)):
        env.state = np.array([th0, thdot0])
        total = sum(env.step(actions[k, t : t + 1])[1] for t in range(actions.shape[1]))
        assert returns[k].item() == pytest.approx(total, abs=1e-5)
