import numpy as np
import pytest

import planner


def make_config(name: str, **overrides):
    """Small, fast configs for every registered optimizer."""
    base = {
        "cem": dict(samples=64, horizon=8, iterations=3, elites=8, init_std=0.8),
        "icem": dict(samples=64, horizon=8, iterations=3, elites=8, init_std=0.8),
        "mppi": dict(samples=64, horizon=8, iterations=3, sigma=0.8, temperature=0.5),
    }[name]
    base.update(overrides)
    return planner.config_from_dict(name, base)


OPTIMIZERS = planner.optimizer_names()
SCORERS = planner.scorer_names()


@pytest.fixture(params=OPTIMIZERS)
def optimizer_name(request):
    return request.param


@pytest.fixture(params=SCORERS)
def scorer_name(request):
    return request.param


def random_state(scorer: str, rng: np.random.Generator, batch: int | None = None) -> np.ndarray:
    S = planner.Scorer(scorer).state_dim
    shape = (S,) if batch is None else (batch, S)
    return rng.uniform(-1, 1, size=shape).astype(np.float32)
