"""Peer planners for the analytic Pendulum-v1 planning benchmark.

Every planner here follows the :class:`PeerPlanner` protocol: ``act(state)`` takes the
gymnasium ``env.unwrapped.state`` (``[th, thdot]``) and returns a ``[1]`` torque; ``reset()``
clears the warm start between episodes.

Two configurations are compared (see :data:`CONFIGS`):

* ``pendulum-mppi``: MPPI, 1000 samples x horizon 20 x 1 iteration, sigma 1, lambda 1.
* ``pendulum-cem``: CEM, 500 samples x horizon 20 x 5 iterations, 50 elites, momentum 0.1.

Implementations:

* ``ours``: the native :mod:`planner` core.
* ``torch``: a plain, vectorised torch planner written here (the fair baseline).
* ``pytorch_mppi``: ``pytorch_mppi.MPPI`` (MPPI only).
* ``mbrl``: ``mbrl.planning`` optimizers (``MPPIOptimizer`` / ``CEMOptimizer``) driven by
  ``mbrl.planning.TrajectoryOptimizer``.
* ``torchrl``: ``torchrl.modules.planners.MPPIPlanner`` / ``CEMPlanner`` over a batched
  pendulum ``EnvBase``.

Each library keeps its own algorithmic choices; where they differ from the reference
configuration the class docstring says how.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

PEERS = ("torch", "pytorch_mppi", "mbrl", "torchrl")
IMPLS = ("ours",) + PEERS

ACTION_LOW = -2.0
ACTION_HIGH = 2.0


class PeerUnavailable(RuntimeError):
    """A planner implementation cannot be built here; the message says why."""


@runtime_checkable
class PeerPlanner(Protocol):
    name: str

    def reset(self) -> None: ...

    def act(self, state: np.ndarray) -> np.ndarray: ...


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
    try:
        return CONFIGS[config]
    except KeyError:
        raise ValueError(f"unknown config {config!r}; expected one of {sorted(CONFIGS)}") from None


def _import_torch(threads: int):
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PeerUnavailable(f"torch not installed ({exc})") from exc
    torch.set_num_threads(int(threads))
    return torch


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
# plain torch
# --------------------------------------------------------------------------------------


class TorchMPPI:
    """Plain-torch MPPI: preallocated buffers, vectorised over samples, inference mode.

    Samples ``u = clip(mean + sigma * eps)``; weights ``softmax(return / lambda)``; the new
    mean is the weighted average of the clipped samples. Warm start: shift by one step,
    tail filled with 0.
    """

    name = "torch"

    def __init__(self, cfg: PlanConfig, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        self._torch = torch
        from planner.bench.pendulum_torch import rollout_returns

        self._rollout = rollout_returns
        self.config = cfg
        self._gen = torch.Generator().manual_seed(seed)
        n, h = cfg.samples, cfg.horizon
        with torch.inference_mode():
            self._mean = torch.zeros(h)
            self._noise = torch.empty(n, h)
            self._actions = torch.empty(n, h)
            self._returns = torch.empty(n)

    def reset(self) -> None:
        with self._torch.inference_mode():
            self._mean.zero_()

    def act(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        cfg = self.config
        th0, thdot0 = _state_pair(state)
        with torch.inference_mode():
            for _ in range(cfg.iterations):
                self._noise.normal_(generator=self._gen)
                torch.add(self._mean, self._noise, alpha=cfg.sigma, out=self._actions)
                self._actions.clamp_(ACTION_LOW, ACTION_HIGH)
                self._rollout(th0, thdot0, self._actions, out=self._returns, clip_actions=False)
                weights = torch.softmax(self._returns.div_(cfg.temperature), dim=0)
                torch.mv(self._actions.T, weights, out=self._mean)
            action = self._mean[:1].numpy().copy()
            # warm start: shift by one step, tail filled with 0
            self._mean[:-1] = self._mean[1:].clone()
            self._mean[-1] = 0.0
        return action


class TorchCEM:
    """Plain-torch CEM with momentum, min std and clipped samples.

    Per iteration: ``u = clip(mean + std * eps)``, top-``elites`` by return,
    ``mean = m * mean + (1 - m) * elite_mean``, ``std = max(m * std + (1 - m) * elite_std,
    min_std)`` (population std). Warm start: mean shifted (tail 0), std reset to ``init_std``.
    """

    name = "torch"

    def __init__(self, cfg: PlanConfig, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        self._torch = torch
        from planner.bench.pendulum_torch import rollout_returns

        self._rollout = rollout_returns
        self.config = cfg
        self._gen = torch.Generator().manual_seed(seed)
        n, h = cfg.samples, cfg.horizon
        with torch.inference_mode():
            self._mean = torch.zeros(h)
            self._std = torch.full((h,), cfg.init_std)
            self._noise = torch.empty(n, h)
            self._actions = torch.empty(n, h)
            self._returns = torch.empty(n)

    def reset(self) -> None:
        with self._torch.inference_mode():
            self._mean.zero_()
            self._std.fill_(self.config.init_std)

    def act(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        cfg = self.config
        m = cfg.momentum
        th0, thdot0 = _state_pair(state)
        with torch.inference_mode():
            mean, std = self._mean, self._std
            for _ in range(cfg.iterations):
                self._noise.normal_(generator=self._gen)
                torch.addcmul(mean, std, self._noise, out=self._actions)
                self._actions.clamp_(ACTION_LOW, ACTION_HIGH)
                self._rollout(th0, thdot0, self._actions, out=self._returns, clip_actions=False)
                idx = torch.topk(self._returns, cfg.elites, sorted=False).indices
                elite = self._actions.index_select(0, idx)
                e_std, e_mean = torch.std_mean(elite, dim=0, correction=0)
                mean.mul_(m).add_(e_mean, alpha=1.0 - m)
                std.mul_(m).add_(e_std, alpha=1.0 - m).clamp_(min=cfg.min_std)
            action = mean[:1].numpy().copy()
            mean[:-1] = mean[1:].clone()
            mean[-1] = 0.0
            std.fill_(cfg.init_std)
        return action


# --------------------------------------------------------------------------------------
# pytorch_mppi
# --------------------------------------------------------------------------------------


class PytorchMPPIPeer:
    """``pytorch_mppi.MPPI`` with the same torch pendulum dynamics.

    ``pytorch_mppi`` scores a step with ``running_cost(next_state, u)``; the reference reward
    is on the state *before* the step, so the dynamics callback appends the previous state
    (``[th', thdot', th, thdot]``, allowed by the library) and the cost reads it. Differences
    kept as the library has them: it adds the information-theoretic control cost
    ``lambda * U^T Sigma^-1 eps`` to each sample's cost, and it shifts the nominal plan
    before planning (same result as shifting after). ``U`` starts (and resets) at zero.
    """

    name = "pytorch_mppi"

    def __init__(self, cfg: PlanConfig, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            from pytorch_mppi import MPPI
        except ImportError as exc:
            raise PeerUnavailable(f"pytorch_mppi not installed ({exc})") from exc
        from planner.bench.pendulum_torch import angle_normalize, step

        self._torch = torch
        self.config = cfg
        torch.manual_seed(seed)

        def dynamics(state, u):
            th, thdot = state[:, 0], state[:, 1]
            new_th, new_thdot, _ = step(th, thdot, u[:, 0])
            return torch.stack((new_th, new_thdot, th, thdot), dim=1)

        def running_cost(state, u):
            th, thdot = state[:, 2], state[:, 3]
            uu = torch.clamp(u[:, 0], ACTION_LOW, ACTION_HIGH)
            return angle_normalize(th).square() + 0.1 * thdot.square() + 0.001 * uu.square()

        self._u_init = torch.zeros(cfg.horizon, 1)
        self._mppi = MPPI(
            dynamics,
            running_cost,
            nx=2,
            noise_sigma=torch.tensor([[cfg.sigma**2]], dtype=torch.float32),
            num_samples=cfg.samples,
            horizon=cfg.horizon,
            device="cpu",
            lambda_=cfg.temperature,
            u_min=torch.tensor([ACTION_LOW]),
            u_max=torch.tensor([ACTION_HIGH]),
            U_init=self._u_init.clone(),
        )

    def reset(self) -> None:
        self._mppi.U = self._u_init.clone()

    def act(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            s = torch.as_tensor(np.asarray(state, dtype=np.float32))
            action = self._mppi.command(s)
            return action.reshape(1).numpy().copy()


def _make_pytorch_mppi(cfg: PlanConfig, seed: int, threads: int) -> PeerPlanner:
    if cfg.method != "mppi":
        raise PeerUnavailable("no CEM in pytorch_mppi")
    if cfg.iterations != 1:
        raise PeerUnavailable("pytorch_mppi.MPPI runs one iteration per command")
    return PytorchMPPIPeer(cfg, seed=seed, threads=threads)


# --------------------------------------------------------------------------------------
# mbrl-lib
# --------------------------------------------------------------------------------------


class MbrlPeer:
    """``mbrl.planning`` optimizers driven by ``mbrl.planning.TrajectoryOptimizer``.

    The objective evaluates the ``[N, H, 1]`` population batched in torch.

    CEM: ``CEMOptimizer(clipped_normal=True, return_mean_elites=True, alpha=momentum)``;
    init mean 0 / std 1, the library's warm start (plan shifted, tail 0, std reset each
    call). mbrl has no min std and uses the unbiased elite std.

    MPPI: ``MPPIOptimizer(gamma=1/lambda, sigma, beta=1)`` (beta=1: no temporal smoothing).
    Library behaviour kept as is: noise is a standard normal truncated at +-2 (the
    ``sigma`` argument is not applied when sampling), and its own warm start repeats the
    last mean step instead of filling the tail with 0.
    """

    name = "mbrl"

    def __init__(self, cfg: PlanConfig, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            import omegaconf
            from mbrl.planning import TrajectoryOptimizer
        except ImportError as exc:
            raise PeerUnavailable(f"mbrl not importable ({exc})") from exc
        from planner.bench.pendulum_torch import rollout_returns

        self._torch = torch
        self._rollout = rollout_returns
        self.config = cfg
        torch.manual_seed(seed)
        if cfg.method == "cem":
            opt_cfg = {
                "_target_": "mbrl.planning.CEMOptimizer",
                "num_iterations": cfg.iterations,
                "elite_ratio": cfg.elites / cfg.samples,
                "population_size": cfg.samples,
                "alpha": cfg.momentum,
                "device": "cpu",
                "lower_bound": "???",
                "upper_bound": "???",
                "return_mean_elites": True,
                "clipped_normal": True,
            }
        else:
            opt_cfg = {
                "_target_": "mbrl.planning.MPPIOptimizer",
                "num_iterations": cfg.iterations,
                "population_size": cfg.samples,
                "gamma": 1.0 / cfg.temperature,
                "sigma": cfg.sigma,
                "beta": 1.0,
                "device": "cpu",
                "lower_bound": "???",
                "upper_bound": "???",
            }
        self._opt = TrajectoryOptimizer(
            omegaconf.OmegaConf.create(opt_cfg),
            np.array([ACTION_LOW], dtype=np.float32),
            np.array([ACTION_HIGH], dtype=np.float32),
            planning_horizon=cfg.horizon,
            replan_freq=1,
            keep_last_solution=True,
        )
        inner = self._opt.optimizer
        if cfg.method == "cem" and int(inner.elite_num) != cfg.elites:
            raise PeerUnavailable(f"mbrl CEM elite count {inner.elite_num} != {cfg.elites}")
        self.reset()

    def reset(self) -> None:
        self._opt.reset()
        inner = self._opt.optimizer
        if hasattr(inner, "mean"):  # MPPIOptimizer keeps its own mean plan
            inner.mean = self._torch.zeros_like(inner.mean)

    def act(self, state: np.ndarray) -> np.ndarray:
        th0, thdot0 = _state_pair(state)
        rollout = self._rollout

        def objective(population):
            return rollout(th0, thdot0, population)

        with self._torch.inference_mode():
            plan = self._opt.optimize(objective)
        return np.asarray(plan[0], dtype=np.float32).reshape(1)


# --------------------------------------------------------------------------------------
# torchrl
# --------------------------------------------------------------------------------------


def _build_torchrl_env():
    import torch
    from tensordict import TensorDict
    from torchrl.data import Bounded, Composite, Unbounded
    from torchrl.envs import EnvBase

    from planner.bench.pendulum_torch import step

    class PendulumModelEnv(EnvBase):
        """Stateless, batch-unlocked Pendulum-v1 model env (observation = [th, thdot])."""

        def __new__(cls, *args, **kwargs):
            return super().__new__(cls, *args, _batch_locked=False, **kwargs)

        def __init__(self):
            super().__init__(device="cpu", batch_size=torch.Size([]))
            self.observation_spec = Composite(observation=Unbounded(shape=(2,)), shape=())
            self.state_spec = Composite(shape=())
            self.action_spec = Bounded(low=ACTION_LOW, high=ACTION_HIGH, shape=(1,))
            self.reward_spec = Unbounded(shape=(1,))

        def _reset(self, tensordict=None, **kwargs):
            shape = tensordict.shape if tensordict is not None else self.batch_size
            obs = tensordict.get("observation", None) if tensordict is not None else None
            if obs is None:
                obs = torch.zeros(*shape, 2)
            return TensorDict(
                {
                    "observation": obs,
                    "done": torch.zeros(*shape, 1, dtype=torch.bool),
                    "terminated": torch.zeros(*shape, 1, dtype=torch.bool),
                },
                batch_size=shape,
            )

        def _step(self, tensordict):
            obs = tensordict.get("observation")
            u = tensordict.get("action")
            new_th, new_thdot, reward = step(obs[..., 0], obs[..., 1], u[..., 0])
            done = torch.zeros(*tensordict.shape, 1, dtype=torch.bool)
            return TensorDict(
                {
                    "observation": torch.stack((new_th, new_thdot), dim=-1),
                    "reward": reward.unsqueeze(-1),
                    "done": done,
                    "terminated": done.clone(),
                },
                batch_size=tensordict.shape,
            )

        def _set_seed(self, seed):
            return seed

    return PendulumModelEnv()


def _build_return_advantage():
    from torch import nn

    class ReturnAdvantage(nn.Module):
        """Monte-Carlo advantage for the planner's imagined rollouts.

        ``advantage[k, t]`` = reward-to-go of candidate ``k`` from step ``t`` (no discount, no
        value bootstrap) minus the best candidate's return. The baseline leaves MPPI's
        normalised weights unchanged and keeps ``exp(temperature * advantage)`` finite
        (pendulum returns reach -300, whose exp underflows float32).
        """

        def forward(self, td):
            reward = td.get(("next", "reward"))  # [K, H, 1]
            to_go = reward.flip(-2).cumsum(-2).flip(-2)
            baseline = to_go[..., :1, :].amax(dim=-3, keepdim=True)
            td.set("advantage", to_go - baseline)
            return td

    return ReturnAdvantage()


class TorchrlPeer:
    """``torchrl.modules.planners`` (``MPPIPlanner`` / ``CEMPlanner``) over a pendulum EnvBase.

    Library behaviour kept as is: both planners start every call from mean 0 / std 1 (no
    warm start across control steps); CEM has no momentum and no min std and uses the
    unbiased elite std; MPPI weights are ``exp(temperature * advantage)`` so
    ``temperature = 1/lambda``, over ``top_k = samples`` (all candidates). Samples are
    clipped by ``action_spec.project``. The rollout goes through ``EnvBase.rollout`` and
    tensordicts, which is torchrl's planning path.
    """

    name = "torchrl"

    def __init__(self, cfg: PlanConfig, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            import tensordict  # noqa: F401
            from torchrl.modules.planners import CEMPlanner, MPPIPlanner
        except ImportError as exc:
            raise PeerUnavailable(f"torchrl not installed ({exc})") from exc
        from tensordict import TensorDict

        self._torch = torch
        self._TensorDict = TensorDict
        self.config = cfg
        torch.manual_seed(seed)
        env = _build_torchrl_env()
        if cfg.method == "cem":
            self._planner = CEMPlanner(
                env,
                planning_horizon=cfg.horizon,
                optim_steps=cfg.iterations,
                num_candidates=cfg.samples,
                top_k=cfg.elites,
            )
        else:
            self._planner = MPPIPlanner(
                env,
                _build_return_advantage(),
                temperature=1.0 / cfg.temperature,
                planning_horizon=cfg.horizon,
                optim_steps=cfg.iterations,
                num_candidates=cfg.samples,
                top_k=cfg.samples,
            )

    def reset(self) -> None:
        pass  # torchrl's planners keep no state between calls

    def act(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            obs = torch.as_tensor(np.asarray(state, dtype=np.float32))
            td = self._TensorDict({"observation": obs}, batch_size=[])
            td = self._planner(td)
            return td.get("action").reshape(1).numpy().copy()


# --------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------


def make_peer(impl: str, config: str, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Build peer ``impl`` (one of :data:`PEERS`) for ``config`` (a key of :data:`CONFIGS`).

    Raises :class:`PeerUnavailable` when the peer's package is missing or the peer has no
    equivalent of the configuration.
    """
    cfg = get_config(config)
    if impl == "torch":
        cls = TorchMPPI if cfg.method == "mppi" else TorchCEM
        return cls(cfg, seed=seed, threads=threads)
    if impl == "pytorch_mppi":
        return _make_pytorch_mppi(cfg, seed, threads)
    if impl == "mbrl":
        return MbrlPeer(cfg, seed=seed, threads=threads)
    if impl == "torchrl":
        return TorchrlPeer(cfg, seed=seed, threads=threads)
    raise ValueError(f"unknown peer {impl!r}; expected one of {PEERS}")


def make_planner(impl: str, config: str, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Like :func:`make_peer`, also accepting ``"ours"`` for the native planner."""
    if impl == "ours":
        return OursPlanner(config, seed=seed, threads=threads)
    return make_peer(impl, config, seed=seed, threads=threads)
