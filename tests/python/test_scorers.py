"""Conformance suite over every registered native scorer, plus physics checks against
the real gymnasium Pendulum-v1 and independent NumPy models."""

import math

import numpy as np
import pytest

import planner
from planner import reference as ref


def test_shapes_determinism_and_bounds(scorer_name):
    s = planner.Scorer(scorer_name)
    rng = np.random.default_rng(0)
    lo, hi = s.bounds
    assert len(lo) == len(hi) == s.action_dim and all(a < b for a, b in zip(lo, hi, strict=False))
    state = rng.uniform(-1, 1, s.state_dim).astype(np.float32)
    actions = rng.uniform(-1, 1, (37, 9, s.action_dim)).astype(np.float32)  # not a multiple of 16
    r1 = s.score(state, actions)
    assert r1.shape == (37,) and r1.dtype == np.float32 and np.isfinite(r1).all()
    np.testing.assert_array_equal(r1, s.score(state, actions))
    # Rows are scored independently: any subset gives the same values.
    np.testing.assert_array_equal(r1[5:21], s.score(state, np.ascontiguousarray(actions[5:21])))


def test_unknown_params_rejected(scorer_name):
    with pytest.raises(ValueError, match="unknown parameter 'nonsense'.*known"):
        planner.Scorer(scorer_name, {"nonsense": 1.0})


def test_pendulum_matches_gymnasium_step():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    s = planner.Scorer("pendulum")
    rng = np.random.default_rng(1)
    for _ in range(200):
        th, thd, u = rng.uniform(-7, 7), rng.uniform(-8, 8), rng.uniform(-3, 3)
        env.unwrapped.state = np.array([th, thd])
        _, reward, *_ = env.step(np.array([u], np.float32))
        mine = s.score(np.array([th, thd], np.float32), np.array([[[u]]], np.float32))[0]
        assert mine == pytest.approx(reward, rel=1e-5, abs=1e-5)


def test_pendulum_horizon_matches_float64_reference():
    s = planner.Scorer("pendulum", {"m": 1.3, "l": 0.8, "g": 9.81})
    rng = np.random.default_rng(2)
    state = np.array([2.5, -1.0], np.float32)
    actions = rng.uniform(-2.5, 2.5, (64, 20, 1)).astype(np.float32)
    want = ref.pendulum_returns(state, actions, g=9.81, m=1.3, l=0.8)
    np.testing.assert_allclose(s.score(state, actions), want, rtol=1e-4, atol=1e-3)


def _cartpole_np(state, actions, g=9.8, mc=1.0, mp=0.1, length=0.5, fm=10.0, dt=0.02, xw=0.05, uw=0.001):
    x, xd, th, thd = (np.full(len(actions), float(v)) for v in state)
    ret = np.zeros(len(actions))
    total, pml = mc + mp, mp * length
    for t in range(actions.shape[1]):
        u = np.clip(actions[:, t, 0].astype(np.float64), -1, 1)
        ret += np.cos(th) - xw * x**2 - uw * u**2
        temp = (fm * u + pml * thd**2 * np.sin(th)) / total
        thacc = (g * np.sin(th) - np.cos(th) * temp) / (length * (4 / 3 - mp * np.cos(th) ** 2 / total))
        xacc = temp - pml * thacc * np.cos(th) / total
        x, xd, th, thd = x + dt * xd, xd + dt * xacc, th + dt * thd, thd + dt * thacc
    return ret


def _point_mass_np(state, actions, gx=1.0, gy=1.0, dt=0.05, vw=0.1, aw=0.01):
    p = np.tile(np.asarray(state[:2], np.float64), (len(actions), 1))
    v = np.tile(np.asarray(state[2:], np.float64), (len(actions), 1))
    ret = np.zeros(len(actions))
    for t in range(actions.shape[1]):
        a = np.clip(actions[:, t].astype(np.float64), -1, 1)
        v = v + a * dt
        p = p + v * dt
        ret -= ((p - [gx, gy]) ** 2).sum(1) + vw * (v**2).sum(1) + aw * (a**2).sum(1)
    return ret


def _diff_drive_np(
    state,
    actions,
    dt=0.02,
    r=1.0,
    track=1.0,
    umax=1.0,
    goal=(2.0, 2.0, 0.0),
    yw=0.1,
    aw=0.01,
    obs=(1.0, 1.0, 0.3, 100.0),
):
    x, y, yaw = (np.full(len(actions), float(v)) for v in state)
    ret = np.zeros(len(actions))
    for t in range(actions.shape[1]):
        wl, wr = (np.clip(actions[:, t, i].astype(np.float64), -umax, umax) for i in range(2))
        v, w = 0.5 * r * (wl + wr), r * (wr - wl) / track
        x, y, yaw = x + v * np.cos(yaw) * dt, y + v * np.sin(yaw) * dt, yaw + w * dt
        dyaw = (yaw - goal[2] + math.pi) % (2 * math.pi) - math.pi
        hit = np.where((x - obs[0]) ** 2 + (y - obs[1]) ** 2 < obs[2] ** 2, obs[3], 0.0)
        ret -= (x - goal[0]) ** 2 + (y - goal[1]) ** 2 + yw * dyaw**2 + aw * (wl**2 + wr**2) + hit
    return ret


@pytest.mark.parametrize(
    "name,model,state",
    [
        ("cartpole", _cartpole_np, [0.1, -0.2, math.pi - 0.3, 0.5]),
        ("point_mass", _point_mass_np, [0.0, -0.5, 0.2, 0.1]),
        ("diff_drive", _diff_drive_np, [0.2, -0.1, 0.4]),
    ],
)
def test_matches_independent_numpy_model(name, model, state):
    s = planner.Scorer(name)
    rng = np.random.default_rng(3)
    actions = rng.uniform(-1.2, 1.2, (50, 15, s.action_dim)).astype(np.float32)
    np.testing.assert_allclose(s.score(np.float32(state), actions), model(state, actions), rtol=2e-4, atol=2e-3)


def test_diff_drive_obstacle_costs():
    s = planner.Scorer("diff_drive", {"obstacle_x": 0.5, "obstacle_y": 0.0, "obstacle_radius": 0.2})
    straight = np.ones((1, 40, 2), np.float32)  # drives through (0.5, 0)
    spin = np.stack([-np.ones((40,)), np.ones((40,))], -1)[None].astype(np.float32)
    start = np.zeros(3, np.float32)
    free = planner.Scorer("diff_drive", {"obstacle_cost": 0.0})
    assert s.score(start, straight)[0] < free.score(start, straight)[0] - 50
    assert s.score(start, spin)[0] == pytest.approx(free.score(start, spin)[0])
