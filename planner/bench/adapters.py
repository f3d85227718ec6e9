"""Peer planning libraries behind one adapter each, generic over the planning problem.

A benchmark module (:mod:`planner.bench.peers`, :mod:`planner.bench.latent_peers`) defines
its problem as a :class:`TorchProblem` (the action box, a batched return function and a
step function in torch) and maps its configuration to :class:`Settings`; the adapters here
turn that into a :class:`PeerPlanner`:

* ``torch``: :class:`TorchPlanner`, a plain, vectorised torch planner (the fair baseline).
* ``pytorch_mppi``: :class:`PytorchMPPIPeer` (``pytorch_mppi.MPPI``; MPPI only).
* ``mbrl``: :class:`MbrlPeer` (``mbrl.planning`` optimizers via ``TrajectoryOptimizer``).
* ``torchrl``: :class:`TorchrlPeer` (``torchrl.modules.planners`` over a model env).

Each library keeps its own algorithmic choices; where they differ from :class:`Settings`
the adapter's docstring says how.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

PEERS = ("torch", "pytorch_mppi", "mbrl", "torchrl")


class PeerUnavailable(RuntimeError):
    """A planner implementation cannot be built here; the message says why."""


@runtime_checkable
class PeerPlanner(Protocol):
    name: str

    def reset(self) -> None: ...

    def act(self, state: np.ndarray) -> np.ndarray: ...


def import_torch(threads: int):
    """``torch`` with ``threads`` intra-op threads; :class:`PeerUnavailable` without it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PeerUnavailable(f"torch not installed ({exc})") from exc
    torch.set_num_threads(int(threads))
    return torch


def lookup_config(configs: dict, config: str):
    """``configs[config]``, or a ValueError that lists the known names."""
    try:
        return configs[config]
    except KeyError:
        raise ValueError(f"unknown config {config!r}; expected one of {sorted(configs)}") from None


@dataclass(frozen=True)
class Settings:
    """Sampling-planner settings, as every adapter reads them.

    Per iteration: ``a = clip(mean + std * eps)`` over ``samples`` sequences of ``horizon``
    steps, scored by the problem's return. ``method``:

    * ``"mppi"``: weight the ``elites`` best (all if 0) by ``exp((R - max R) / temperature)``;
      new mean = weighted mean; if ``adapt_std``, new std = weighted std clamped to
      ``[min_std, max_std]``, else the std stays ``sigma``.
    * ``"cem"``: the ``elites`` best, ``mean = momentum * mean + (1 - momentum) *
      elite_mean``, ``std = max(momentum * std + (1 - momentum) * elite_std, min_std)``
      (population std).

    Warm start between calls: mean shifted by one step (tail = box midpoint), std reset to
    ``sigma``.
    """

    method: str
    samples: int
    horizon: int
    iterations: int
    sigma: float = 1.0
    temperature: float = 1.0
    elites: int = 0
    adapt_std: bool = False
    momentum: float = 0.0
    min_std: float = 0.0
    max_std: float = math.inf

    @property
    def top_k(self) -> int:
        return self.elites if self.elites > 0 else self.samples

    @classmethod
    def of(cls, config, **overrides) -> Settings:
        """Settings from the same-named attributes of a benchmark ``config``, then ``overrides``."""
        names = [f for f in cls.__dataclass_fields__ if f not in overrides and hasattr(config, f)]
        return cls(**{f: getattr(config, f) for f in names}, **overrides)


@dataclass
class TorchProblem:
    """A planning problem in torch, as the adapters see it (float32, CPU).

    Attributes:
        lower, upper: the action box [A].
        horizon: planning horizon H.
        state_dim: width X of the planning state.
        initial: raw observation -> planning state [X] (called under inference mode).
        returns: raw observation -> a batched return function ``f(actions [N, H, A]) ->
            [N]`` (a fresh tensor) for that start; called under inference mode.
        step: ``(x [K, X], a [K, A]) -> (x' [K, X], r [K])``, the reward of the step in
            environment units (undiscounted), for step-driven libraries.
        discount: per-step discount of the planning return.
        value: terminal value ``V(x [..., X]) -> [...]`` (already scaled), or None.
    """

    lower: object
    upper: object
    horizon: int
    state_dim: int
    initial: Callable
    returns: Callable
    step: Callable
    discount: float = 1.0
    value: Callable | None = None

    @property
    def action_dim(self) -> int:
        return int(self.lower.shape[0])

    def midpoint(self):
        return 0.5 * (self.lower + self.upper)


# --------------------------------------------------------------------------------------
# plain torch
# --------------------------------------------------------------------------------------


class TorchPlanner:
    """Plain-torch sampling planner: preallocated ``[N, H, A]`` buffers, vectorised over
    samples, under ``torch.inference_mode()`` with ``torch.set_num_threads(threads)``.

    Implements :class:`Settings` exactly: per iteration draw noise, ``a = clip(mean + std *
    eps)``, score all samples at once with the problem's return (Python loops only over the
    horizon and the iterations), then the MPPI (top-k + temperature weights, optional std
    refit) or CEM (elites, momentum, min std, population std) update. Warm start: mean
    shifted one step (tail = box midpoint), std reset to ``sigma``. The executed action is
    the mean's first step.
    """

    name = "torch"

    def __init__(self, problem: TorchProblem, settings: Settings, *, seed: int = 0, threads: int = 2):
        torch = import_torch(threads)
        self._torch = torch
        self.problem = problem
        self.config = settings
        self._gen = torch.Generator().manual_seed(seed)
        n, h, a = settings.samples, settings.horizon, problem.action_dim
        with torch.inference_mode():
            self._lo = problem.lower.clone()
            self._hi = problem.upper.clone()
            self._mid = problem.midpoint()
            self._mean = self._mid.expand(h, a).clone()
            self._std = torch.full((h, a), settings.sigma)
            self._noise = torch.empty(n, h, a)
            self._actions = torch.empty(n, h, a)

    def reset(self) -> None:
        with self._torch.inference_mode():
            self._mean.copy_(self._mid.expand_as(self._mean))
            self._std.fill_(self.config.sigma)

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self._torch
        cfg = self.config
        with torch.inference_mode():
            returns_of = self.problem.returns(obs)
            mean, std, actions = self._mean, self._std, self._actions
            for _ in range(cfg.iterations):
                self._noise.normal_(generator=self._gen)
                torch.addcmul(mean, std, self._noise, out=actions)
                torch.clamp(actions, self._lo, self._hi, out=actions)
                returns = returns_of(actions)
                if cfg.method == "cem":
                    self._cem_update(returns)
                else:
                    self._mppi_update(returns)
            action = mean[0].numpy().copy()
            mean[:-1] = mean[1:].clone()
            mean[-1] = self._mid
            std.fill_(cfg.sigma)
        return action

    def _mppi_update(self, returns) -> None:
        torch, cfg, actions = self._torch, self.config, self._actions
        if cfg.elites:
            values, idx = torch.topk(returns, cfg.elites, sorted=False)
            elites = actions.index_select(0, idx)
        else:
            values, elites = returns, actions
        w = torch.softmax(values / cfg.temperature, dim=0)
        k = elites.shape[0]
        torch.mv(elites.reshape(k, -1).T, w, out=self._mean.view(-1))
        if cfg.adapt_std:
            var = torch.mv((elites - self._mean).square().reshape(k, -1).T, w).view_as(self._std)
            self._std.copy_(var.sqrt_().clamp_(cfg.min_std, cfg.max_std))

    def _cem_update(self, returns) -> None:
        torch, cfg, m = self._torch, self.config, self.config.momentum
        idx = torch.topk(returns, cfg.elites, sorted=False).indices
        elite = self._actions.index_select(0, idx)
        e_std, e_mean = torch.std_mean(elite, dim=0, correction=0)
        self._mean.mul_(m).add_(e_mean, alpha=1.0 - m)
        self._std.mul_(m).add_(e_std, alpha=1.0 - m).clamp_(min=cfg.min_std)


def _bind(peer, problem: TorchProblem, settings: Settings, seed: int, threads: int):
    """Common adapter set-up: threads, the problem and settings, torch's global seed."""
    torch = import_torch(threads)
    peer._torch = torch
    peer.problem = problem
    peer.config = settings
    torch.manual_seed(seed)
    return torch


# --------------------------------------------------------------------------------------
# pytorch_mppi
# --------------------------------------------------------------------------------------


class PytorchMPPIPeer:
    """``pytorch_mppi.MPPI`` with the problem's step as its dynamics.

    ``pytorch_mppi`` scores a step with ``running_cost(next_state, u)`` while the reward is
    ``r(x_t, a_t)`` of the state before the step, so the dynamics callback returns ``[x',
    r]`` (a wider state is allowed by the library: it keeps the first ``nx = X`` columns)
    and the step-dependent running cost is ``-discount^t r``; the terminal cost is
    ``-discount^H V(x_H)`` when the problem has a value. The observation is mapped to the
    start state outside the library. Iterations: ``command`` is called I times per plan,
    the nominal plan shifted only on the first (the library's refinement path).

    Library behaviour kept as is: it adds the information-theoretic control cost
    ``lambda * U^T Sigma^-1 eps`` to each sample's cost; it shifts the nominal plan before
    planning (same result as shifting after); there is no top-k and no std adaptation, so
    the noise std stays ``sigma`` over all samples; the warm-start tail is the box
    midpoint. ``U`` starts (and resets) at the midpoint. No CEM.
    """

    name = "pytorch_mppi"

    def __init__(self, problem: TorchProblem, settings: Settings, *, seed: int = 0, threads: int = 2):
        import_torch(threads)
        if settings.method != "mppi":
            raise PeerUnavailable("no CEM in pytorch_mppi")
        try:
            from pytorch_mppi import MPPI
        except ImportError as exc:
            raise PeerUnavailable(f"pytorch_mppi not installed ({exc})") from exc
        torch = _bind(self, problem, settings, seed, threads)
        X, A, H = problem.state_dim, problem.action_dim, settings.horizon
        step = problem.step
        discounts = [problem.discount**t for t in range(H)]
        terminal_weight = problem.discount**H

        def dynamics(state, u, t):
            x_next, r = step(state[:, :X], u)
            return torch.cat((x_next, r.unsqueeze(-1)), dim=-1)

        def running_cost(state, u, t):
            return state[:, X] * -discounts[t]

        def terminal_cost(states, actions):  # states [1, K, T, X]
            return problem.value(states[:, :, -1, :]) * -terminal_weight

        lo, hi = problem.lower.clone(), problem.upper.clone()
        mid = problem.midpoint()
        self._u_init = mid.expand(H, A).clone()
        self._mppi = MPPI(
            dynamics,
            running_cost,
            nx=X,
            noise_sigma=torch.eye(A) * settings.sigma**2,
            num_samples=settings.samples,
            horizon=H,
            device="cpu",
            terminal_state_cost=terminal_cost if problem.value is not None else None,
            lambda_=settings.temperature,
            u_min=lo,
            u_max=hi,
            u_init=mid,
            U_init=self._u_init.clone(),
            step_dependent_dynamics=True,
        )

    def reset(self) -> None:
        self._mppi.U = self._u_init.clone()

    def act(self, obs: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            x0 = self.problem.initial(obs)
            for i in range(self.config.iterations):
                action = self._mppi.command(x0, shift_nominal_trajectory=(i == 0))
            return action.reshape(-1).numpy().copy()


# --------------------------------------------------------------------------------------
# mbrl-lib
# --------------------------------------------------------------------------------------


def mbrl_optimizer_config(settings: Settings) -> dict:
    """The ``mbrl.planning`` optimizer for ``settings``: ``CEMOptimizer`` for CEM and for
    MPPI with top-k or std refit (mbrl has no temperature-weighted top-k update), else
    ``MPPIOptimizer``."""
    if settings.method == "cem" or settings.elites or settings.adapt_std:
        return {
            "_target_": "mbrl.planning.CEMOptimizer",
            "num_iterations": settings.iterations,
            "elite_ratio": settings.top_k / settings.samples,
            "population_size": settings.samples,
            "alpha": settings.momentum,
            "device": "cpu",
            "lower_bound": "???",
            "upper_bound": "???",
            "return_mean_elites": True,
            "clipped_normal": True,
        }
    return {
        "_target_": "mbrl.planning.MPPIOptimizer",
        "num_iterations": settings.iterations,
        "population_size": settings.samples,
        "gamma": 1.0 / settings.temperature,
        "sigma": settings.sigma,
        "beta": 1.0,
        "device": "cpu",
        "lower_bound": "???",
        "upper_bound": "???",
    }


class MbrlPeer:
    """``mbrl.planning`` optimizers driven by ``mbrl.planning.TrajectoryOptimizer``; the
    objective is the problem's batched torch return of the ``[N, H, A]`` population.

    MPPI: ``MPPIOptimizer(gamma=1/temperature, sigma, beta=1)`` (beta=1: no temporal
    smoothing). Library behaviour kept as is: noise is a standard normal truncated at +-2
    (the ``sigma`` argument is not applied when sampling), and its own warm start repeats
    the last mean step instead of filling the tail with the box midpoint.

    CEM (also MPPI with top-k or std refit, which mbrl cannot express):
    ``CEMOptimizer(clipped_normal=True, return_mean_elites=True, alpha=momentum)`` with the
    same elite count; initial mean the box midpoint, std 1 (the library's fixed value for
    clipped sampling), the library's warm start (plan shifted, std reset each call). Elites
    are weighted equally (no temperature); mbrl has no min/max std and uses the unbiased
    elite std.
    """

    name = "mbrl"

    def __init__(self, problem: TorchProblem, settings: Settings, *, seed: int = 0, threads: int = 2):
        import_torch(threads)
        try:
            import omegaconf
            from mbrl.planning import TrajectoryOptimizer
        except ImportError as exc:
            raise PeerUnavailable(f"mbrl not importable ({exc})") from exc
        _bind(self, problem, settings, seed, threads)
        opt_cfg = mbrl_optimizer_config(settings)
        self._opt = TrajectoryOptimizer(
            omegaconf.OmegaConf.create(opt_cfg),
            problem.lower.numpy().astype(np.float32),
            problem.upper.numpy().astype(np.float32),
            planning_horizon=settings.horizon,
            replan_freq=1,
            keep_last_solution=True,
        )
        inner = self._opt.optimizer
        if opt_cfg["_target_"].endswith("CEMOptimizer") and int(inner.elite_num) != settings.top_k:
            raise PeerUnavailable(f"mbrl CEM elite count {inner.elite_num} != {settings.top_k}")
        self.reset()

    def reset(self) -> None:
        self._opt.reset()
        inner = self._opt.optimizer
        if hasattr(inner, "mean"):  # MPPIOptimizer keeps its own mean plan
            inner.mean = self._torch.zeros_like(inner.mean) + self._opt.initial_solution

    def act(self, obs: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            plan = self._opt.optimize(self.problem.returns(obs))
        return np.asarray(plan[0], dtype=np.float32).reshape(-1)


# --------------------------------------------------------------------------------------
# torchrl
# --------------------------------------------------------------------------------------


def build_torchrl_env(problem: TorchProblem):
    """The problem's step as a batch-unlocked torchrl ``ModelBasedEnvBase`` whose world
    model is a ``TensorDictModule``; observation = the planning state (key
    ``"observation"``)."""
    import torch
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torch import nn
    from torchrl.data import Bounded, Composite, Unbounded
    from torchrl.envs.model_based import ModelBasedEnvBase

    X, A = problem.state_dim, problem.action_dim

    class Transition(nn.Module):
        """(state, action) -> (next state, reward [.., 1]) in environment units."""

        def forward(self, state, action):
            x_next, r = problem.step(state, action)
            return x_next, r.unsqueeze(-1)

    world_model = TensorDictModule(Transition(), in_keys=["observation", "action"], out_keys=["observation", "reward"])

    class ProblemModelEnv(ModelBasedEnvBase):
        """The problem's model as a stateless, batch-unlocked torchrl env."""

        def __init__(self):
            super().__init__(world_model, device="cpu", batch_size=torch.Size([]))
            self.observation_spec = Composite(observation=Unbounded(shape=(X,)), shape=())
            self.state_spec = Composite(shape=())
            self.action_spec = Bounded(low=problem.lower.clone(), high=problem.upper.clone(), shape=(A,))
            self.reward_spec = Unbounded(shape=(1,))

        def _reset(self, tensordict=None, **kwargs):
            shape = tensordict.shape if tensordict is not None else self.batch_size
            obs = tensordict.get("observation", None) if tensordict is not None else None
            if obs is None:
                obs = torch.zeros(*shape, X)
            return TensorDict(
                {
                    "observation": obs,
                    "done": torch.zeros(*shape, 1, dtype=torch.bool),
                    "terminated": torch.zeros(*shape, 1, dtype=torch.bool),
                },
                batch_size=shape,
            )

    return ProblemModelEnv()


def build_return_advantage(problem: TorchProblem):
    import torch
    from torch import nn

    gamma, value = problem.discount, problem.value

    class ReturnAdvantage(nn.Module):
        """Monte-Carlo advantage for the planner's imagined rollouts.

        ``advantage[k, t]`` = discounted reward-to-go of candidate ``k`` from step ``t``
        plus ``discount^(H - t) V(x_H)`` (when the problem has a value), minus the best
        candidate's return from step 0. The planner only reads step 0, where this is
        ``R_k - max R`` with ``R`` the planning return; subtracting the best leaves MPPI's
        normalised weights unchanged and keeps ``exp(temperature * advantage)`` finite
        (pendulum returns reach -300, whose exp underflows float32).
        """

        def forward(self, td):
            reward = td.get(("next", "reward"))  # [K, H, 1]
            H = reward.shape[-2]
            disc = gamma ** torch.arange(H, dtype=reward.dtype).unsqueeze(-1)  # [H, 1]
            to_go = (reward * disc).flip(-2).cumsum(-2).flip(-2) / disc
            if value is not None:
                v = value(td.get(("next", "observation"))[..., -1, :])  # [K]
                to_go = to_go + v[..., None, None] * (gamma ** (H - torch.arange(H, dtype=reward.dtype))).unsqueeze(-1)
            baseline = to_go[..., :1, :].amax(dim=-3, keepdim=True)
            td.set("advantage", to_go - baseline)
            return td

    return ReturnAdvantage()


class TorchrlPeer:
    """``torchrl.modules.planners`` (``MPPIPlanner`` / ``CEMPlanner``) over a
    ``ModelBasedEnvBase`` whose world model is the problem's step (:func:`build_torchrl_env`);
    a terminal value is added by the advantage module. The observation is mapped to the
    start state outside the planner.

    torchrl's MPPI update is TD-MPC2's: top-k by advantage (``top_k = samples``, all
    candidates, when :class:`Settings` has no elites), weights ``exp(temperature *
    advantage)`` (so ``temperature = 1 / T`` here), weighted mean and weighted std.
    Library behaviour kept as is: MPPI always refits the std (even where the settings ask
    for a fixed std), without a min/max clamp; CEM has no momentum and no min std and uses
    the unbiased elite std; both planners start every call from mean 0 / std 1 (no warm
    start across control steps). Samples are clipped by ``action_spec.project``. The
    rollout goes through ``EnvBase.rollout`` and tensordicts, torchrl's planning path.
    """

    name = "torchrl"

    def __init__(self, problem: TorchProblem, settings: Settings, *, seed: int = 0, threads: int = 2):
        import_torch(threads)
        try:
            from tensordict import TensorDict
            from torchrl.modules.planners import CEMPlanner, MPPIPlanner
        except ImportError as exc:
            raise PeerUnavailable(f"torchrl not installed ({exc})") from exc
        self._TensorDict = TensorDict
        _bind(self, problem, settings, seed, threads)
        env = build_torchrl_env(problem)
        if settings.method == "cem":
            self._planner = CEMPlanner(
                env,
                planning_horizon=settings.horizon,
                optim_steps=settings.iterations,
                num_candidates=settings.samples,
                top_k=settings.elites,
            )
        else:
            self._planner = MPPIPlanner(
                env,
                build_return_advantage(problem),
                temperature=1.0 / settings.temperature,
                planning_horizon=settings.horizon,
                optim_steps=settings.iterations,
                num_candidates=settings.samples,
                top_k=settings.top_k,
            )

    def reset(self) -> None:
        pass  # torchrl's planners keep no state between calls

    def act(self, obs: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            td = self._TensorDict({"observation": self.problem.initial(obs)}, batch_size=[])
            td = self._planner(td)
            return td.get("action").reshape(-1).numpy().copy()


# --------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------

ADAPTERS = {
    "torch": TorchPlanner,
    "pytorch_mppi": PytorchMPPIPeer,
    "mbrl": MbrlPeer,
    "torchrl": TorchrlPeer,
}


def make_adapter(impl: str, problem: TorchProblem, settings: Settings, *, seed: int = 0, threads: int = 2):
    """Builds peer ``impl`` (one of :data:`PEERS`) on ``problem`` with ``settings``.

    Raises :class:`PeerUnavailable` when the peer's package is missing or the peer has no
    equivalent of the settings.
    """
    try:
        cls = ADAPTERS[impl]
    except KeyError:
        raise ValueError(f"unknown peer {impl!r}; expected one of {PEERS}") from None
    return cls(problem, settings, seed=seed, threads=threads)
