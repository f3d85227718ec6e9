"""Peer planners for the latent world-model planning benchmark (BENCHMARKS.md section 1).

Every implementation plans with the *same* random-initialized torch `WorldModel`: ours
loads the exported model file natively, the peers wrap the torch module (or its copy
loaded back from the same file). The planning return is MODEL_FORMAT.md's:
``R = sum_t discount^t r(z_t, a_t, c) + discount^H V(z_H, c)`` from ``z_0 = encoder(obs)``.

Planners follow :class:`planner.bench.peers.PeerPlanner`: ``act(obs)`` takes the raw
observation ``[S]`` and returns the first action ``[A]`` (inside the model's action box);
``reset()`` clears the warm start. The context (C > 0) is fixed per problem and held by
the planner.

Configurations (see :data:`LATENT_CONFIGS`):

* ``latent-small``: preset "latent-small" (S=17, A=6, Z=32, hidden 128 x 2 per network,
  C=8, LayerNorm + Mish, no value head); MPPI 256 samples x H12 x 4 iterations,
  sigma 0.5, temperature 1, all samples weighted, fixed std.
* ``latent-tdmpc2-1m``: preset "tdmpc2-1m" (S=17, A=6 chosen for the benchmark, Z=128,
  hidden 384 x 2, SimNorm latents, C=0, terminal value head); TD-MPC2's planner update:
  512 samples x H3 x 6 iterations, top-k 64 elites weighted by ``exp((R - max R) / T)``
  with T = 0.5, mean and std refitted from the elites (std clamped to [0.05, 2]), initial
  std 2, terminal value.

Temperature convention (all implementations): weights ``exp((R - max R) / T)``. TD-MPC2's
own code multiplies by its ``temperature`` instead (``exp(0.5 (R - max R))``); the value
0.5 is used here in our convention for every implementation, so the comparison is the
same problem for all. Latency does not depend on it.

Implementations:

* ``ours``: ``planner.Planner.from_file`` (native C++ scorer and MPPI).
* ``torch``: a plain-torch TD-MPC2-style planner written here (:class:`TorchLatentMPPI`),
  the strongest torch baseline.
* ``pytorch_mppi``: ``pytorch_mppi.MPPI`` with the latent dynamics as its dynamics.
* ``mbrl``: ``mbrl.planning`` optimizers via ``TrajectoryOptimizer``.
* ``torchrl``: ``torchrl.modules.planners.MPPIPlanner`` over a ``ModelBasedEnvBase``.

Where a library cannot express a setting, its class docstring says what it does instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from planner.bench.peers import PeerPlanner, PeerUnavailable, _import_torch

LATENT_PEERS = ("torch", "pytorch_mppi", "mbrl", "torchrl")
LATENT_IMPLS = ("ours",) + LATENT_PEERS

#: S and A of the benchmark task (a HalfCheetah-sized problem); the latent-small row of
#: BENCHMARKS.md uses these, and latent-tdmpc2-1m uses the same for comparability.
BENCH_OBS_DIM = 17
BENCH_ACTION_DIM = 6


@dataclass(frozen=True)
class LatentConfig:
    """One benchmark configuration: a model preset and the planner settings.

    MPPI update (every implementation, as far as its library allows): sample
    ``a = clip(mean + std * eps)``; weight the ``top_k`` best (all if 0) by
    ``exp((R - max R) / temperature)``; new mean = weighted mean; if ``adapt_std``, new std
    = weighted std clamped to ``[min_std, max_std]``. Warm start between calls: mean
    shifted by one step (tail = box midpoint), std reset to ``sigma``.
    """

    preset: str
    samples: int
    horizon: int
    iterations: int
    sigma: float
    temperature: float
    top_k: int = 0
    adapt_std: bool = False
    min_std: float = 0.05
    max_std: float = 1e30
    obs_dim: int = BENCH_OBS_DIM
    action_dim: int = BENCH_ACTION_DIM
    terminal_value: bool = True

    @property
    def rows_per_plan(self) -> int:
        """Model rows (dynamics + reward evaluations) per plan: N * H * I."""
        return self.samples * self.horizon * self.iterations

    @property
    def elites(self) -> int:
        return self.top_k if self.top_k > 0 else self.samples

    def native_config(self):
        import planner as native

        return native.MPPIConfig(
            samples=self.samples,
            horizon=self.horizon,
            iterations=self.iterations,
            sigma=self.sigma,
            temperature=self.temperature,
            top_k=self.top_k,
            adapt_std=self.adapt_std,
            min_std=self.min_std,
            max_std=self.max_std,
        )


LATENT_CONFIGS: dict[str, LatentConfig] = {
    "latent-small": LatentConfig(
        preset="latent-small", samples=256, horizon=12, iterations=4, sigma=0.5, temperature=1.0
    ),
    "latent-tdmpc2-1m": LatentConfig(
        preset="tdmpc2-1m",
        samples=512,
        horizon=3,
        iterations=6,
        sigma=2.0,
        temperature=0.5,
        top_k=64,
        adapt_std=True,
        min_std=0.05,
        max_std=2.0,
    ),
}


def get_latent_config(config: str) -> LatentConfig:
    try:
        return LATENT_CONFIGS[config]
    except KeyError:
        raise ValueError(f"unknown config {config!r}; expected one of {sorted(LATENT_CONFIGS)}") from None


# --------------------------------------------------------------------------------------
# the shared problem: one model, one file, one context
# --------------------------------------------------------------------------------------


@dataclass
class LatentProblem:
    """One configuration's model, exported once and shared by every implementation.

    Attributes:
        name: configuration name.
        config: planner settings.
        model: the torch `WorldModel` (eval mode), the weights the peers plan with.
        path: the exported model file ours loads.
        context: the fixed context [C] (float32), None when C = 0.
    """

    name: str
    config: LatentConfig
    model: object
    path: str
    context: np.ndarray | None

    def flop_per_plan(self) -> int:
        """Model FLOPs of one plan: 2 * in * out per Linear per row evaluated.

        Encoder once (one row), dynamics and reward heads (every ensemble member) on
        N * H * I rows, the value head on N * I rows when the planner adds a terminal
        value. Elementwise work (norms, activations, the optimizer) is not counted.
        """
        return model_flops(self.model, self.config)


def _mlp_flops(mlp) -> int:
    return sum(2 * layer.spec.inp * layer.spec.out for layer in mlp.layers)


def model_flops(model, cfg: LatentConfig) -> int:
    """See :meth:`LatentProblem.flop_per_plan`."""
    per_row = sum(_mlp_flops(d) for d in model.dynamics) + sum(_mlp_flops(r) for r in model.reward_heads)
    total = _mlp_flops(model.encoder) + cfg.rows_per_plan * per_row
    if cfg.terminal_value and model.value_head is not None:
        total += cfg.samples * cfg.iterations * _mlp_flops(model.value_head)
    return int(total)


def build_problem(config: str, directory: str, *, seed: int = 0, threads: int = 2) -> LatentProblem:
    """Builds configuration ``config``'s random-initialized model (seeded), exports it to
    ``directory`` and draws the fixed context.

    Raises:
        PeerUnavailable: torch or the model package cannot be imported.
    """
    cfg = get_latent_config(config)
    torch = _import_torch(threads)
    try:
        from planner.models.export import export_model
        from planner.models.world_model import WorldModel, preset
    except ImportError as exc:
        raise PeerUnavailable(f"planner.models not importable ({exc})") from exc
    torch.manual_seed(seed)
    model = WorldModel(preset(cfg.preset, cfg.obs_dim, cfg.action_dim)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    path = os.path.join(directory, f"{config}.lpm.safetensors")
    export_model(model, path, info={"preset": cfg.preset, "task": "random-init benchmark", "seed": seed})
    C = model.config.context_dim
    context = np.random.default_rng(seed + 1).standard_normal(C).astype(np.float32) if C else None
    return LatentProblem(config, cfg, model, path, context)


def bench_observations(n: int, obs_dim: int, seed: int = 0) -> np.ndarray:
    """``n`` fixed random raw observations [n, S] (standard normal, float32)."""
    return np.random.default_rng(seed).standard_normal((n, obs_dim)).astype(np.float32)


# --------------------------------------------------------------------------------------
# torch building blocks shared by the peers
# --------------------------------------------------------------------------------------


def _mean_heads(heads, x):
    if len(heads) == 1:
        return heads[0](x)
    return sum(h(x) for h in heads) / len(heads)


class LatentRollout:
    """Batched planning returns of ``[N, H, A]`` (or time-major ``[H, N, A]``) raw action
    sequences from one latent ``z0`` [Z], in plain torch.

    Inputs of every step live in one preallocated ``[H, N, Z + A + C]`` buffer (normalized
    actions and the context written once per call, the latent each step), so the loop over
    the horizon only runs the networks; dynamics and reward heads share the input. Call
    under ``torch.inference_mode()``.
    """

    def __init__(self, model, horizon: int, context: np.ndarray | None, *, terminal_value: bool = True):
        import torch

        self._torch = torch
        self.model = model
        cfg = model.config
        self.H = horizon
        self.Z, self.A, self.C = cfg.latent_dim, cfg.action_dim, cfg.context_dim
        with torch.inference_mode():
            self.context = torch.as_tensor(context) if self.C else None
            lo, hi = model.action_low.clone(), model.action_high.clone()
            self.a_scale = 2.0 / (hi - lo)
            self.a_offset = -2.0 * lo / (hi - lo) - 1.0
        gamma = float(cfg.discount)
        self.discounts = [gamma**t for t in range(horizon)]
        rs, rsh = float(model.reward_scale), float(model.reward_shift)
        self.reward_weights = [w * rs for w in self.discounts]
        const = rsh * sum(self.discounts)
        self.value = model.value_head if terminal_value else None
        self.value_weight = 0.0
        if self.value is not None:
            self.value_weight = gamma**horizon * float(model.value_scale)
            const += gamma**horizon * float(model.value_shift)
        self.const = const
        self._n = -1

    def _buffers(self, n: int) -> None:
        if n == self._n:
            return
        torch = self._torch
        Z, A, C = self.Z, self.A, self.C
        with torch.inference_mode():
            self.x = torch.empty(self.H, n, Z + A + C)
            self.v_in = torch.empty(n, Z + C)
            if C:
                self.x[:, :, Z + A :] = self.context
                self.v_in[:, Z:] = self.context
            self.ret = torch.empty(n)
        self._n = n

    def encode(self, obs: np.ndarray):
        """Raw observation [S] -> latent [Z]."""
        m = self.model
        return m.encode(m.normalize_obs(self._torch.from_numpy(np.ascontiguousarray(obs, np.float32))))

    def __call__(self, z0, actions, *, time_major: bool = False):
        """Returns [N] (a view of an internal buffer, overwritten by the next call)."""
        acts = actions if time_major else actions.transpose(0, 1)
        H, n = acts.shape[0], acts.shape[1]
        if H != self.H:
            raise ValueError(f"expected horizon {self.H}, got {H}")
        self._buffers(n)
        Z, A = self.Z, self.A
        x, m, ret = self.x, self.model, self.ret
        a_in = x[:, :, Z : Z + A]
        a_in.copy_(acts).mul_(self.a_scale).add_(self.a_offset)
        x[0, :, :Z] = z0
        ret.fill_(self.const)
        for t in range(H):
            xt = x[t]
            ret.add_(_mean_heads(m.reward_heads, xt).squeeze(-1), alpha=self.reward_weights[t])
            z = _mean_heads(m.dynamics, xt)
            if t + 1 < H:
                x[t + 1, :, :Z] = z
            else:
                self.v_in[:, :Z] = z
        if self.value is not None:
            ret.add_(self.value(self.v_in).squeeze(-1), alpha=self.value_weight)
        return ret


class LatentStep:
    """One latent step for step-driven libraries: ``(z [K, Z], a [K, A]) -> (z' [K, Z],
    r [K])`` in environment units (undiscounted), plus the terminal value ``V(z) [K]``."""

    def __init__(self, model, context: np.ndarray | None):
        import torch

        self._torch = torch
        self.model = model
        self.C = model.config.context_dim
        self.context = torch.as_tensor(context) if self.C else None
        self.rs, self.rsh = float(model.reward_scale), float(model.reward_shift)
        self.vs, self.vsh = float(model.value_scale), float(model.value_shift)

    def inputs(self, z, a):
        m = self.model
        parts = [z, m.normalize_action(a)]
        if self.C:
            parts.append(self.context.expand(z.shape[0], self.C))
        return self._torch.cat(parts, dim=-1)

    def __call__(self, z, a):
        x = self.inputs(z, a)
        m = self.model
        z_next = _mean_heads(m.dynamics, x)
        r = _mean_heads(m.reward_heads, x).squeeze(-1) * self.rs + self.rsh
        return z_next, r

    def value(self, z):
        m = self.model
        parts = [z] + ([self.context.expand(*z.shape[:-1], self.C)] if self.C else [])
        x = parts[0] if len(parts) == 1 else self._torch.cat(parts, dim=-1)
        return m.value_head(x).squeeze(-1) * self.vs + self.vsh


# --------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------


class OursLatentPlanner:
    """The native planner on the exported model file (``Planner.from_file``)."""

    name = "ours"

    def __init__(self, problem: LatentProblem, *, seed: int = 0, threads: int = 2):
        try:
            import planner as native
        except ImportError as exc:
            raise PeerUnavailable(f"planner native core not importable ({exc})") from exc
        if not hasattr(native.Planner, "from_file"):
            raise PeerUnavailable("planner native core lacks Planner.from_file")
        cfg = problem.config
        self.config = cfg
        self._context = problem.context
        self._planner = native.Planner.from_file(
            problem.path, cfg.native_config(), terminal_value=cfg.terminal_value, threads=threads, seed=seed
        )

    def reset(self) -> None:
        self._planner.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        res = self._planner.plan(np.ascontiguousarray(obs, np.float32), context=self._context)
        return np.asarray(res.action, dtype=np.float32)


# --------------------------------------------------------------------------------------
# plain torch (TD-MPC2 style)
# --------------------------------------------------------------------------------------


class TorchLatentMPPI:
    """Plain-torch TD-MPC2-style latent planner: the fair torch baseline.

    Under ``torch.inference_mode()`` with ``torch.set_num_threads(threads)``: encode the
    observation once per plan; per iteration draw noise into a preallocated time-major
    ``[H, N, A]`` buffer, ``a = clip(mean + std * eps)``, roll dynamics + reward over the
    horizon for all N samples at once (:class:`LatentRollout`; Python loops only over the
    horizon and the iterations), add the terminal value, then the top-k + temperature
    update of :class:`LatentConfig`. Warm start as ours: mean shifted one step (tail = box
    midpoint), std reset to ``sigma``. Unlike TD-MPC2 there are no policy-prior samples
    (the model has no policy) and the executed action is the mean's first step (TD-MPC2
    samples an elite and adds noise), as in ours.
    """

    name = "torch"

    def __init__(self, problem: LatentProblem, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        self._torch = torch
        cfg = problem.config
        self.config = cfg
        model = problem.model
        self._rollout = LatentRollout(model, cfg.horizon, problem.context, terminal_value=cfg.terminal_value)
        self._gen = torch.Generator().manual_seed(seed)
        H, N, A = cfg.horizon, cfg.samples, model.config.action_dim
        with torch.inference_mode():
            self._lo = model.action_low.clone()
            self._hi = model.action_high.clone()
            self._mid = 0.5 * (self._lo + self._hi)
            self._mean = self._mid.expand(H, A).clone()
            self._std = torch.full((H, A), cfg.sigma)
            self._noise = torch.empty(H, N, A)
            self._actions = torch.empty(H, N, A)

    def reset(self) -> None:
        with self._torch.inference_mode():
            self._mean.copy_(self._mid.expand_as(self._mean))
            self._std.fill_(self.config.sigma)

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self._torch
        cfg = self.config
        with torch.inference_mode():
            z0 = self._rollout.encode(obs)
            mean, std, actions = self._mean, self._std, self._actions
            for _ in range(cfg.iterations):
                self._noise.normal_(generator=self._gen)
                torch.addcmul(mean[:, None, :], std[:, None, :], self._noise, out=actions)
                torch.clamp(actions, self._lo, self._hi, out=actions)
                returns = self._rollout(z0, actions, time_major=True)
                if cfg.top_k:
                    values, idx = torch.topk(returns, cfg.top_k, sorted=False)
                    elites = actions.index_select(1, idx)
                else:
                    values, elites = returns, actions
                w = torch.softmax(values / cfg.temperature, dim=0)
                mean.copy_(torch.einsum("n,hna->ha", w, elites))
                if cfg.adapt_std:
                    var = torch.einsum("n,hna->ha", w, (elites - mean[:, None, :]).square())
                    std.copy_(var.sqrt_().clamp_(cfg.min_std, cfg.max_std))
            action = mean[0].numpy().copy()
            mean[:-1] = mean[1:].clone()
            mean[-1] = self._mid
            std.fill_(cfg.sigma)
        return action


# --------------------------------------------------------------------------------------
# pytorch_mppi
# --------------------------------------------------------------------------------------


class PytorchMPPILatentPeer:
    """``pytorch_mppi.MPPI`` with the latent model as its dynamics (state = z).

    ``pytorch_mppi`` scores a step with ``running_cost(next_state, u)`` while the reward is
    ``r(z_t, a_t)``, so the dynamics callback returns ``[z', r]`` (a wider state is allowed
    by the library: it keeps the first ``nx = Z`` columns) and the step-dependent running
    cost is ``-discount^t r``; the terminal cost is ``-discount^H V(z_H)``. The observation is
    encoded outside the library. Iterations: ``command`` is called I times per plan, the
    nominal plan shifted only on the first (the library's refinement path).

    Library behaviour kept as is: it adds the control cost ``lambda * U^T Sigma^-1 eps`` to
    each sample's cost; there is no top-k and no std adaptation, so the noise std stays
    ``sigma`` (latent-tdmpc2-1m: 2, TD-MPC2's initial std, over all 512 samples instead of
    the 64 elites, and no refit); the warm-start tail is 0 (= the box midpoint here). ``U``
    starts (and resets) at 0.
    """

    name = "pytorch_mppi"

    def __init__(self, problem: LatentProblem, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            from pytorch_mppi import MPPI
        except ImportError as exc:
            raise PeerUnavailable(f"pytorch_mppi not installed ({exc})") from exc
        self._torch = torch
        cfg = problem.config
        self.config = cfg
        model = problem.model
        Z, A = model.config.latent_dim, model.config.action_dim
        self._rollout = LatentRollout(model, cfg.horizon, problem.context)  # for encode()
        step = LatentStep(model, problem.context)
        gamma = float(model.config.discount)
        discounts = [gamma**t for t in range(cfg.horizon)]
        terminal_weight = gamma**cfg.horizon
        torch.manual_seed(seed)

        def dynamics(state, u, t):
            z_next, r = step(state[:, :Z], u)
            return torch.cat((z_next, r.unsqueeze(-1)), dim=-1)

        def running_cost(state, u, t):
            return state[:, Z] * -discounts[t]

        def terminal_cost(states, actions):  # states [1, K, T, Z]
            return step.value(states[:, :, -1, :]) * -terminal_weight

        use_value = cfg.terminal_value and model.value_head is not None
        lo, hi = model.action_low.clone(), model.action_high.clone()
        self._u_init = (0.5 * (lo + hi)).expand(cfg.horizon, A).clone()
        self._mppi = MPPI(
            dynamics,
            running_cost,
            nx=Z,
            noise_sigma=torch.eye(A) * cfg.sigma**2,
            num_samples=cfg.samples,
            horizon=cfg.horizon,
            device="cpu",
            terminal_state_cost=terminal_cost if use_value else None,
            lambda_=cfg.temperature,
            u_min=lo,
            u_max=hi,
            u_init=0.5 * (lo + hi),
            U_init=self._u_init.clone(),
            step_dependent_dynamics=True,
        )

    def reset(self) -> None:
        self._mppi.U = self._u_init.clone()

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            z0 = self._rollout.encode(obs)
            for i in range(self.config.iterations):
                action = self._mppi.command(z0, shift_nominal_trajectory=(i == 0))
            return action.reshape(-1).numpy().copy()


# --------------------------------------------------------------------------------------
# mbrl-lib
# --------------------------------------------------------------------------------------


class MbrlLatentPeer:
    """``mbrl.planning`` optimizers driven by ``TrajectoryOptimizer``; the objective is the
    batched torch rollout (:class:`LatentRollout`, the same code as the torch peer).

    latent-small (plain MPPI): ``MPPIOptimizer(gamma=1/temperature, sigma, beta=1)``
    (beta=1: no temporal smoothing). Library behaviour kept: noise is a standard normal
    truncated at +-2 whose first-step-onward sampling ignores ``sigma`` (see the pendulum
    peer), and its own warm start repeats the last mean step instead of the midpoint.

    latent-tdmpc2-1m: mbrl has no temperature-weighted top-k update, so the closest
    optimizer is ``CEMOptimizer`` with the same 64 elites out of 512, 6 iterations,
    ``alpha=0`` (no momentum), ``clipped_normal=True``, ``return_mean_elites=True``:
    elites weighted equally (no temperature), unbiased elite std, no std clamp, initial
    std 1 (the library's fixed value for clipped sampling; TD-MPC2 starts at 2).
    """

    name = "mbrl"

    def __init__(self, problem: LatentProblem, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            import omegaconf
            from mbrl.planning import TrajectoryOptimizer
        except ImportError as exc:
            raise PeerUnavailable(f"mbrl not importable ({exc})") from exc
        self._torch = torch
        cfg = problem.config
        self.config = cfg
        model = problem.model
        self._rollout = LatentRollout(model, cfg.horizon, problem.context, terminal_value=cfg.terminal_value)
        torch.manual_seed(seed)
        if cfg.top_k or cfg.adapt_std:
            opt_cfg = {
                "_target_": "mbrl.planning.CEMOptimizer",
                "num_iterations": cfg.iterations,
                "elite_ratio": cfg.elites / cfg.samples,
                "population_size": cfg.samples,
                "alpha": 0.0,
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
            model.action_low.numpy().astype(np.float32),
            model.action_high.numpy().astype(np.float32),
            planning_horizon=cfg.horizon,
            replan_freq=1,
            keep_last_solution=True,
        )
        inner = self._opt.optimizer
        if opt_cfg["_target_"].endswith("CEMOptimizer") and int(inner.elite_num) != cfg.elites:
            raise PeerUnavailable(f"mbrl CEM elite count {inner.elite_num} != {cfg.elites}")
        self.reset()

    def reset(self) -> None:
        self._opt.reset()
        inner = self._opt.optimizer
        if hasattr(inner, "mean"):  # MPPIOptimizer keeps its own mean plan
            inner.mean = self._torch.zeros_like(inner.mean) + self._opt.initial_solution

    def act(self, obs: np.ndarray) -> np.ndarray:
        rollout = self._rollout
        with self._torch.inference_mode():
            z0 = rollout.encode(obs)

            def objective(population):
                return rollout(z0, population).clone()

            plan = self._opt.optimize(objective)
        return np.asarray(plan[0], dtype=np.float32).reshape(-1)


# --------------------------------------------------------------------------------------
# torchrl
# --------------------------------------------------------------------------------------


def _build_torchrl_env(problem: LatentProblem):
    import torch
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torch import nn
    from torchrl.data import Bounded, Composite, Unbounded
    from torchrl.envs.model_based import ModelBasedEnvBase

    model = problem.model
    Z, A, C = model.config.latent_dim, model.config.action_dim, model.config.context_dim
    step = LatentStep(model, problem.context)

    class LatentTransition(nn.Module):
        """(latent, action[, context]) -> (next latent, reward [.., 1]) in environment units."""

        def forward(self, latent, action, context=None):
            x = torch.cat([latent, model.normalize_action(action)] + ([context] if C else []), dim=-1)
            z_next = _mean_heads(model.dynamics, x)
            r = _mean_heads(model.reward_heads, x) * step.rs + step.rsh
            return z_next, r

    in_keys = ["latent", "action"] + (["context"] if C else [])
    world_model = TensorDictModule(LatentTransition(), in_keys=in_keys, out_keys=["latent", "reward"])

    class LatentModelEnv(ModelBasedEnvBase):
        """The world model as a batch-unlocked torchrl env; observation = the latent (+ context)."""

        def __init__(self):
            super().__init__(world_model, device="cpu", batch_size=torch.Size([]))
            obs = {"latent": Unbounded(shape=(Z,))}
            if C:
                obs["context"] = Unbounded(shape=(C,))
            self.observation_spec = Composite(**obs, shape=())
            self.state_spec = Composite(shape=())
            self.action_spec = Bounded(low=model.action_low.clone(), high=model.action_high.clone(), shape=(A,))
            self.reward_spec = Unbounded(shape=(1,))

        def _reset(self, tensordict=None, **kwargs):
            shape = tensordict.shape if tensordict is not None else self.batch_size
            out = {
                "done": torch.zeros(*shape, 1, dtype=torch.bool),
                "terminated": torch.zeros(*shape, 1, dtype=torch.bool),
            }
            for key in self.observation_spec.keys():
                out[key] = tensordict.get(key)
            return TensorDict(out, batch_size=shape)

    return LatentModelEnv(), step


def _build_latent_advantage(step: LatentStep, gamma: float, use_value: bool):
    import torch
    from torch import nn

    class LatentReturnAdvantage(nn.Module):
        """``advantage[k, t]`` = discounted reward-to-go of candidate k from step t plus
        ``discount^(H - t) V(z_H)``, minus the best candidate's return from step 0.

        The planner only reads step 0, where this is ``R_k - max R`` with ``R`` the
        planning return; subtracting the best keeps ``exp(temperature * advantage)`` finite
        and leaves the normalized weights unchanged.
        """

        def forward(self, td):
            reward = td.get(("next", "reward"))  # [K, H, 1]
            H = reward.shape[-2]
            disc = gamma ** torch.arange(H, dtype=reward.dtype).unsqueeze(-1)  # [H, 1]
            to_go = (reward * disc).flip(-2).cumsum(-2).flip(-2) / disc
            if use_value:
                v = step.value(td.get(("next", "latent"))[..., -1, :])  # [K]
                to_go = to_go + v[..., None, None] * (gamma ** (H - torch.arange(H, dtype=reward.dtype))).unsqueeze(-1)
            baseline = to_go[..., :1, :].amax(dim=-3, keepdim=True)
            td.set("advantage", to_go - baseline)
            return td

    return LatentReturnAdvantage()


class TorchrlLatentPeer:
    """``torchrl.modules.planners.MPPIPlanner`` over a ``ModelBasedEnvBase`` whose world
    model is the torch model's transition (a ``TensorDictModule``); the terminal value is
    added by the advantage module. The observation is encoded outside the planner and
    passed as the env's ``latent`` (the context rides along as an observation key).

    torchrl's MPPI update is TD-MPC2's: top-k by advantage, weights
    ``exp(temperature * advantage)`` (so ``temperature = 1 / T`` here), weighted mean and
    weighted std. Library behaviour kept as is: it always refits the std (latent-small
    asks for a fixed std), without a min/max clamp; every call starts from mean 0 / std 1
    (no warm start across control steps, TD-MPC2 starts at std 2); for latent-small
    ``top_k = samples`` (all candidates). Samples are clipped by ``action_spec.project``.
    The rollout goes through ``EnvBase.rollout`` and tensordicts, torchrl's planning path.
    """

    name = "torchrl"

    def __init__(self, problem: LatentProblem, *, seed: int = 0, threads: int = 2):
        torch = _import_torch(threads)
        try:
            import tensordict  # noqa: F401
            from torchrl.modules.planners import MPPIPlanner
        except ImportError as exc:
            raise PeerUnavailable(f"torchrl not installed ({exc})") from exc
        from tensordict import TensorDict

        self._torch = torch
        self._TensorDict = TensorDict
        cfg = problem.config
        self.config = cfg
        model = problem.model
        self._rollout = LatentRollout(model, cfg.horizon, problem.context)  # for encode()
        self._context = torch.as_tensor(problem.context) if problem.context is not None else None
        torch.manual_seed(seed)
        env, step = _build_torchrl_env(problem)
        use_value = cfg.terminal_value and model.value_head is not None
        self._planner = MPPIPlanner(
            env,
            _build_latent_advantage(step, float(model.config.discount), use_value),
            temperature=1.0 / cfg.temperature,
            planning_horizon=cfg.horizon,
            optim_steps=cfg.iterations,
            num_candidates=cfg.samples,
            top_k=cfg.elites,
        )

    def reset(self) -> None:
        pass  # torchrl's planners keep no state between calls

    def act(self, obs: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            fields = {"latent": self._rollout.encode(obs)}
            if self._context is not None:
                fields["context"] = self._context
            td = self._planner(self._TensorDict(fields, batch_size=[]))
            return td.get("action").reshape(-1).numpy().copy()


# --------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------

_CLASSES = {
    "ours": OursLatentPlanner,
    "torch": TorchLatentMPPI,
    "pytorch_mppi": PytorchMPPILatentPeer,
    "mbrl": MbrlLatentPeer,
    "torchrl": TorchrlLatentPeer,
}


def make_latent_planner(impl: str, problem: LatentProblem, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Builds implementation ``impl`` (one of :data:`LATENT_IMPLS`) on ``problem``.

    Raises :class:`PeerUnavailable` when its package is missing.
    """
    try:
        cls = _CLASSES[impl]
    except KeyError:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {LATENT_IMPLS}") from None
    return cls(problem, seed=seed, threads=threads)
