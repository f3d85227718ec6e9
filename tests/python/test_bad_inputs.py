"""Bad input raises ValueError or TypeError naming the argument and the expected shape,
never crashes, never converts silently, and leaves the planner usable."""

import numpy as np
import pytest

import planner
from conftest import make_config

GOOD = np.array([0.3, 0.0], np.float32)


@pytest.fixture
def p():
    return planner.Planner("pendulum", make_config("mppi"), threads=2)


@pytest.mark.parametrize(
    "state,exc,pattern",
    [
        (np.zeros(3, np.float32), ValueError, r"state: expected shape \[S\] = \(2\), got shape \(3,\)"),
        (np.zeros((2, 2), np.float32), ValueError, r"state: expected shape \[B, S\] = \(1, 2\)"),
        (np.zeros((1, 2, 1), np.float32), ValueError, r"state: expected shape \[B, S\]"),
        (np.zeros(2, np.float64), TypeError, r"state: expected dtype float32 \[B, S\], got shape \(2,\) dtype float64"),
        (np.zeros(2, np.int32), TypeError, r"state: expected dtype float32"),
        (np.zeros(4, np.float32)[::2], TypeError, r"state: expected a C-contiguous"),
        (np.array([np.nan, 0.0], np.float32), ValueError, r"state \[B=1, S=2\] must be finite; got nan at \(0, 0\)"),
        (np.array([0.0, np.inf], np.float32), ValueError, r"must be finite; got inf at \(0, 1\)"),
        ([0.3, 0.0], TypeError, r"state: expected a float32 numpy array"),
    ],
)
def test_bad_state(p, state, exc, pattern):
    with pytest.raises(exc, match=pattern):
        p.plan(state)
    assert np.isfinite(p.plan(GOOD).action).all()  # still usable


def test_bad_candidates(p):
    with pytest.raises(ValueError, match=r"candidates: expected shape \[P, H, A\]"):
        p.plan(GOOD, candidates=np.zeros((2, 3, 1), np.float32))
    with pytest.raises(TypeError, match="candidates: expected dtype float32"):
        p.plan(GOOD, candidates=np.zeros((2, 8, 1)))
    assert np.isfinite(p.plan(GOOD).action).all()


@pytest.mark.parametrize(
    "make,exc,pattern",
    [
        (lambda: planner.MPPIConfig(samples=0), ValueError, r"samples \(N\)"),
        (lambda: planner.CEMConfig(horizon=0), ValueError, r"horizon \(H\)"),
        (lambda: planner.CEMConfig(iterations=0), ValueError, r"iterations \(I\)"),
        (lambda: planner.CEMConfig(samples=10, elites=11), ValueError, r"elites \(K\)"),
        (lambda: planner.ICEMConfig(samples=10, elites=6), ValueError, r"N\) >= 2 \* elites"),
        (lambda: planner.MPPIConfig(temperature=0.0), ValueError, "temperature"),
        (lambda: planner.MPPIConfig(samples=4.5), TypeError, r"samples \(N\) must be an int"),
        (lambda: planner.CEMConfig(sampling="reject"), ValueError, "sampling"),
        (lambda: planner.MPPIConfig(sigma=1.0, init_std=1.0), ValueError, "sigma or init_std"),
        (lambda: planner.config_from_dict("sgd"), ValueError, r"optimizer: unknown name 'sgd'"),
    ],
)
def test_bad_config(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def test_bad_planner_arguments():
    with pytest.raises(ValueError, match=r"lower \[A\] must be <= upper \[A\]; dim 0 has lower=1 > upper=-1"):
        planner.Planner("pendulum", make_config("cem"), lower=1.0, upper=-1.0)
    with pytest.raises(ValueError, match=r"lower must have 1 or A=2 values, got 3"):
        planner.Planner("point_mass", make_config("cem"), lower=[-1, -1, -1])
    with pytest.raises(ValueError, match="scorer: unknown name 'rocket'"):
        planner.Planner("rocket", make_config("cem"))
    with pytest.raises(ValueError, match="batch"):
        planner.Planner("pendulum", make_config("cem"), batch=0)
    with pytest.raises(ValueError, match="threads"):
        planner.Planner("pendulum", make_config("cem"), threads=-1)
    with pytest.raises(ValueError, match="action_dim"):
        planner.Planner(lambda s, a: None, make_config("cem"))
    with pytest.raises(TypeError, match="config"):
        planner.Planner("pendulum", {"samples": 10})
    with pytest.raises(ValueError, match=r"optimizer: unknown name 'sgd'"):
        cfg = make_config("cem").to_core()
        cfg.name = "sgd"
        planner.Optimizer(cfg, 1, 1)


def test_python_scorer_bad_returns():
    def f64(state, actions):
        return np.zeros(actions.shape[:2])

    p = planner.Planner(f64, make_config("cem"), lower=-1.0, upper=1.0, action_dim=1)
    with pytest.raises(TypeError, match=r"returns: expected dtype float32 \[B, N\]"):
        p.plan(np.zeros(1, np.float32))

    def wrong_shape(state, actions):
        return np.zeros(actions.shape[1], np.float32)

    q = planner.Planner(wrong_shape, make_config("cem"), lower=-1.0, upper=1.0, action_dim=1)
    with pytest.raises(ValueError, match=r"returns: expected shape \[B, N\] = \(1, 64\), got shape \(64,\)"):
        q.plan(np.zeros(1, np.float32))
