"""Conformance suite over every registered optimizer, through the ask/tell interface,
checked against the NumPy reference (planner/reference.py)."""

import numpy as np
import pytest

import planner
from conftest import make_config
from planner import reference as ref

B, A = 2, 2
LOWER, UPPER = [-1.0, -0.5], [1.0, 0.5]


def objective(pop: np.ndarray) -> np.ndarray:
    """A smooth test objective over [B, N, H, A]: track a per-problem target."""
    target = np.linspace(-0.4, 0.4, pop.shape[2] * pop.shape[3]).reshape(pop.shape[2:])
    shift = np.arange(pop.shape[0])[:, None, None, None] * 0.1
    return (-((pop - target - shift) ** 2).sum((2, 3))).astype(np.float32)


def pair(name, seed=3, **over):
    cfg = make_config(name, **over)
    native = planner.Optimizer(cfg.to_core(seed=seed, lower=LOWER, upper=UPPER), B, A)
    oracle = ref.ReferenceOptimizer(cfg, B, A, lower=LOWER, upper=UPPER, seed=seed)
    return cfg, native, oracle


@pytest.mark.parametrize("sampling", ["clip", "truncated"])
def test_agrees_with_reference_over_iterations_and_steps(optimizer_name, sampling):
    over = {"sampling": sampling} if optimizer_name != "mppi" else {"top_k": 16 if sampling == "clip" else 0}
    cfg, native, oracle = pair(optimizer_name, **over)
    for step in range(3):
        native.begin()
        oracle.begin()
        for it in range(cfg.iterations):
            a, b = native.ask(), oracle.ask()
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=2e-5, err_msg=f"population, step {step} iteration {it}")
            R = objective(a)
            native.tell(R)
            oracle.tell(R)
            np.testing.assert_allclose(native.mean(), oracle.mean, atol=2e-5)
        np.testing.assert_allclose(native.solution(), oracle.solution(), atol=2e-5)
        native.shift(1)
        oracle.shift(1)


def test_samples_inside_bounds_and_shapes(optimizer_name):
    cfg, native, _ = pair(optimizer_name, init_std=5.0) if optimizer_name != "mppi" else pair(optimizer_name, sigma=5.0)
    for _ in range(cfg.iterations):
        pop = native.ask()
        assert pop.dtype == np.float32 and pop.ndim == 4
        assert pop.shape[0] == B and pop.shape[2:] == (cfg.horizon, A)
        assert (pop >= np.array(LOWER, np.float32)).all() and (pop <= np.array(UPPER, np.float32)).all()
        native.tell(objective(pop))


def test_same_seed_same_population_other_seed_differs(optimizer_name):
    _, a, _ = pair(optimizer_name, seed=1)
    _, b, _ = pair(optimizer_name, seed=1)
    _, c, _ = pair(optimizer_name, seed=2)
    pa, pb, pc = a.ask(), b.ask(), c.ask()
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_ask_returns_a_copy(optimizer_name):
    _, native, _ = pair(optimizer_name)
    pop = native.ask()
    keep = pop.copy()
    pop[...] = 123.0  # writing to the returned array must not reach the optimizer
    native.tell(objective(keep))
    assert (native.mean() != 123.0).all()
    m = native.mean()
    m[...] = 7.0
    assert (native.mean() != 7.0).all()


def test_improves_objective(optimizer_name):
    cfg, native, _ = pair(optimizer_name, iterations=6)
    first = None
    for _ in range(cfg.iterations):
        R = objective(native.ask())
        first = R.max(1) if first is None else first
        native.tell(R)
    final = objective(native.solution()[:, None])[:, 0]
    assert (final > first).all()


def test_warm_start_shift(optimizer_name):
    cfg, native, _ = pair(optimizer_name)
    for _ in range(cfg.iterations):
        native.tell(objective(native.ask()))
    before = native.mean()
    native.shift(3)
    after = native.mean()
    np.testing.assert_array_equal(after[:, :-3], before[:, 3:])
    np.testing.assert_array_equal(after[:, -3:], np.zeros_like(after[:, -3:]))  # box midpoint
    assert native.iteration == 0
    # A fresh noise stream per control step.
    a = native.ask()
    native2 = pair(optimizer_name)[1]
    assert not np.array_equal(a[:, -5:], native2.ask()[:, -5:])
    with pytest.raises(ValueError, match="steps"):
        native.shift(-1)


def test_injected_candidates_are_in_every_population(optimizer_name):
    cfg, native, oracle = pair(optimizer_name)
    cand = np.full((B, 3, cfg.horizon, A), 0.25, np.float32)
    cand[:, 2] = 9.0  # out of the box: clipped
    native.set_candidates(cand)
    oracle.set_candidates(cand)
    for _ in range(cfg.iterations):
        pop = native.ask()
        np.testing.assert_array_equal(pop[:, :2], cand[:, :2])
        np.testing.assert_array_equal(pop[:, 2], np.broadcast_to(np.float32(UPPER), (B, cfg.horizon, A)))
        np.testing.assert_allclose(pop, oracle.ask(), atol=2e-5)
        R = objective(pop)
        native.tell(R)
        oracle.tell(R)
    with pytest.raises(ValueError, match=r"candidates"):
        native.set_candidates(np.zeros((B, 3, cfg.horizon + 1, A), np.float32))
    with pytest.raises(ValueError, match="no room"):
        native.set_candidates(np.zeros((B, cfg.samples, cfg.horizon, A), np.float32))


def test_nonfinite_returns_rank_worst(optimizer_name):
    cfg, native, _ = pair(optimizer_name)
    pop = native.ask()
    R = objective(pop)
    R_bad = R.copy()
    R_bad[:, ::2] = np.nan
    R_bad[:, 1::4] = np.inf  # +inf is not a win either
    native.tell(R_bad)
    _, clean, _ = pair(optimizer_name)
    clean.ask()
    R_ref = R.copy()
    R_ref[:, ::2] = -np.inf
    R_ref[:, 1::4] = -np.inf
    clean.tell(R_ref)
    np.testing.assert_array_equal(native.mean(), clean.mean())
    assert (native.nonfinite() == np.isnan(R_bad).sum(1) + np.isinf(R_bad).sum(1)).all()


def test_all_nonfinite_keeps_distribution(optimizer_name):
    cfg, native, _ = pair(optimizer_name)
    before = native.mean()
    native.ask()
    native.tell(np.full((B, cfg.samples), np.nan, np.float32))
    np.testing.assert_array_equal(native.mean(), before)
    assert np.isneginf(native.best_return()).all()


def test_tell_validates(optimizer_name):
    cfg, native, _ = pair(optimizer_name)
    with pytest.raises(ValueError, match="ask"):
        native.tell(np.zeros((B, cfg.samples), np.float32))
    pop = native.ask()
    with pytest.raises(ValueError, match=r"returns: expected shape \[B, N\]"):
        native.tell(np.zeros((B, pop.shape[1] + 1), np.float32))
    with pytest.raises(TypeError, match="float32"):
        native.tell(np.zeros((B, pop.shape[1]), np.float64))
    native.tell(objective(pop))  # still usable


def test_icem_population_decay_and_elites():
    cfg, native, oracle = pair("icem", samples=64, elites=8, pop_decay=2.0, iterations=4)
    sizes = []
    for _ in range(cfg.iterations):
        pop = native.ask()
        sizes.append(pop.shape[1])
        native.tell(objective(pop))
    assert sizes == [64, 32, 16, 16]  # max(N * 2^-i, 2K)
    for i in range(4):
        assert oracle.population_size(i) == sizes[i]


def test_icem_problems_with_different_elite_counts():
    """Problems that keep different numbers of elites (few finite returns in one) still
    get fully formed populations, as in the reference."""
    cfg, native, oracle = pair("icem", samples=64, elites=8, keep_elites=1.0)
    for it in range(cfg.iterations):
        a, b = native.ask(), oracle.ask()
        np.testing.assert_allclose(a, b, atol=2e-5, err_msg=f"iteration {it}")
        R = objective(a)
        R[1, 3:] = np.nan  # problem 1 keeps only 3 elites
        native.tell(R)
        oracle.tell(R)
    np.testing.assert_allclose(native.solution(), oracle.solution(), atol=2e-5)
