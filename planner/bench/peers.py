"""Peer planners for the analytic Pendulum-v1 planning benchmark.

Every planner here follows the :class:`PeerPlanner` protocol: ``act(state)`` takes the
gymnasium ``env.unwrapped.state`` (``[th, thdot]``) and returns a ``[1]`` torque; ``reset()``
clears the warm start between episodes.

Two configurations are compared (see :data:`CONFIGS`):

* ``pendulum-mppi``: MPPI, 1000 samples x horizon 20 x 1 iteration, sigma 1, lambda 1.
* ``pendulum-cem``: CEM, 500 samples x horizon 20 x 5 iterations, 50 elites, momentum 0.1.

Implementations:

* ``ours``: the native :mod:`planner` core.
* ``torch``, ``pytorch_mppi``, ``mbrl``, ``torchrl``: the shared adapters of
  :mod:`planner.bench.adapters` on :func:`pendulum_problem` with :meth:`PlanConfig.settings`
  (plain vectorised torch, the fair baseline; ``pytorch_mppi.MPPI``, MPPI only;
  ``mbrl.planning`` ``MPPIOptimizer`` / ``CEMOptimizer`` driven by ``TrajectoryOptimizer``;
  ``torchrl.modules.planners.MPPIPlanner`` / ``CEMPlanner`` over a batched pendulum model
  env).

Each library keeps its own algorithmic choices; where they differ from the reference
configuration the adapter's class docstring says how (for this problem: the box midpoint
is 0, the return is undiscounted and there is no terminal value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.bench.adapters import (
    PEERS,
    MbrlPeer,
    PeerPlanner,
    PeerUnavailable,
    PytorchMPPIPeer,
    Settings,
    TorchPlanner,
    TorchProblem,
    TorchrlPeer,
    import_torch,
    lookup_config,
    make_adapter,
)

__all__ = [
    "ACTION_HIGH",
    "ACTION_LOW",
    "CONFIGS",
    "IMPLS",
    "PEERS",
    "MbrlPeer",
    "OursPlanner",
    "PytorchMPPIPeer",
    "TorchPlanner",
    "TorchrlPeer",
    "PeerPlanner",
    "PeerUnavailable",
    "PlanConfig",
    "get_config",
    "make_peer",
    "make_planner",
    "pendulum_problem",
]

IMPLS = ("ours",) + PEERS

ACTION_LOW = -2.0
ACTION_HIGH = 2.0


@dataclass(frozen=True)
class PlanConfig:
    method: str  # "mppi" or "cem"
    samples: int
    horizon: int
    iterations: int
    sigma: float = 1.0  # MPPI noise std
    temperature: float = 1.0  # MPPI lambda
    elites: int = 0  # CEM
    init_std: float = 1.0  # CEM
    momentum: float = 0.0  # CEM: new = momentum * old + (1 - momentum) * elite stat
    min_std: float = 0.0  # CEM

    @property
    def dyn_steps_per_call(self) -> int:
        return self.samples * self.horizon * self.iterations

    def settings(self) -> Settings:
        """These settings for the shared adapters (CEM's ``init_std`` is their ``sigma``)."""
        return Settings.of(self, sigma=self.init_std) if self.method == "cem" else Settings.of(self)


CONFIGS: dict[str, PlanConfig] = {
    "pendulum-mppi": PlanConfig(method="mppi", samples=1000, horizon=20, iterations=1, sigma=1.0, temperature=1.0),
    "pendulum-cem": PlanConfig(
        method="cem",
        samples=500,
        horizon=20,
        iterations=5,
        elites=50,
        init_std=1.0,
        momentum=0.1,
        min_std=0.05,
    ),
}


def get_config(config: str) -> PlanConfig:
    return lookup_config(CONFIGS, config)


def _state_pair(state) -> tuple[float, float]:
    s = np.asarray(state, dtype=np.float64).reshape(-1)
    return float(s[0]), float(s[1])


# --------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------


class OursPlanner:
    """The native planner behind the :class:`PeerPlanner` protocol."""

    name = "ours"

    def __init__(self, config: str, *, seed: int = 0, threads: int = 2):
        cfg = get_config(config)
        try:
            import planner as native
        except ImportError as exc:
            raise PeerUnavailable(f"planner native core not importable ({exc})") from exc
        missing = [n for n in ("Planner", "MPPIConfig", "CEMConfig") if not hasattr(native, n)]
        if missing:
            raise PeerUnavailable(f"planner native core lacks {', '.join(missing)}")
        if cfg.method == "mppi":
            ncfg = native.MPPIConfig(
                samples=cfg.samples,
                horizon=cfg.horizon,
                iterations=cfg.iterations,
                sigma=cfg.sigma,
                temperature=cfg.temperature,
            )
        else:
            ncfg = native.CEMConfig(
                samples=cfg.samples,
                horizon=cfg.horizon,
                iterations=cfg.iterations,
                elites=cfg.elites,
                init_std=cfg.init_std,
                momentum=cfg.momentum,
                min_std=cfg.min_std,
            )
        self.config = cfg
        self._planner = native.Planner(
            "pendulum",
            ncfg,
            lower=[ACTION_LOW],
            upper=[ACTION_HIGH],
            seed=seed,
            threads=threads,
        )

    def reset(self) -> None:
        self._planner.reset()

    def act(self, state: np.ndarray) -> np.ndarray:
        res = self._planner.plan(np.asarray(state, dtype=np.float32))
        return np.asarray(res.action, dtype=np.float32).reshape(1)


# --------------------------------------------------------------------------------------
# the problem, for the shared adapters
# --------------------------------------------------------------------------------------


def pendulum_problem(horizon: int) -> TorchProblem:
    """Pendulum-v1 (:mod:`planner.bench.pendulum_torch`) as a :class:`TorchProblem`: the
    planning state is ``[th, thdot]``, the return undiscounted, no terminal value."""
    import torch

    from planner.bench.pendulum_torch import rollout_returns, step

    def initial(state):
        return torch.as_tensor(np.asarray(state, dtype=np.float32))

    def returns(state):
        th0, thdot0 = _state_pair(state)
        return lambda actions: rollout_returns(th0, thdot0, actions)

    def step_fn(x, u):
        new_th, new_thdot, reward = step(x[..., 0], x[..., 1], u[..., 0])
        return torch.stack((new_th, new_thdot), dim=-1), reward

    return TorchProblem(
        lower=torch.tensor([ACTION_LOW]),
        upper=torch.tensor([ACTION_HIGH]),
        horizon=horizon,
        state_dim=2,
        initial=initial,
        returns=returns,
        step=step_fn,
    )


# --------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------


def make_peer(impl: str, config: str, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Build peer ``impl`` (one of :data:`PEERS`) for ``config`` (a key of :data:`CONFIGS`).

    Raises :class:`PeerUnavailable` when the peer's package is missing or the peer has no
    equivalent of the configuration.
    """
    cfg = get_config(config)
    if impl not in PEERS:
        raise ValueError(f"unknown peer {impl!r}; expected one of {PEERS}")
    import_torch(threads)
    return make_adapter(impl, pendulum_problem(cfg.horizon), cfg.settings(), seed=seed, threads=threads)


def make_planner(impl: str, config: str, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Like :func:`make_peer`, also accepting ``"ours"`` for the native planner."""
    if impl == "ours":
        return OursPlanner(config, seed=seed, threads=threads)
    return make_peer(impl, config, seed=seed, threads=threads)
