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
* ``torch``, ``pytorch_mppi``, ``mbrl``, ``torchrl``: the shared adapters of
  :mod:`planner.bench.adapters` on :func:`latent_torch_problem` (the latent state ``z``,
  the batched :class:`LatentRollout` return, the :class:`LatentStep` step and terminal
  value) with :meth:`LatentConfig.settings`: plain torch, a TD-MPC2-style planner and the
  strongest torch baseline; ``pytorch_mppi.MPPI`` with the latent dynamics as its
  dynamics; ``mbrl.planning`` optimizers via ``TrajectoryOptimizer``;
  ``torchrl.modules.planners.MPPIPlanner`` over a ``ModelBasedEnvBase``.

Where a library cannot express a setting, the adapter's class docstring says what it does
instead. For these configurations: pytorch_mppi has no top-k and no std adaptation, so
latent-tdmpc2-1m keeps std 2 (TD-MPC2's initial std) over all 512 samples with no refit;
mbrl plans latent-tdmpc2-1m with ``CEMOptimizer`` (64 of 512 elites weighted equally,
``alpha=0``, initial std 1 where TD-MPC2 starts at 2); torchrl refits the std for
latent-small too, weights all candidates there, and starts each call at std 1. Unlike
TD-MPC2 the torch planner draws no policy-prior samples (the model has no policy) and
executes the mean's first step (TD-MPC2 samples an elite and adds noise), as ours does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from planner.bench.adapters import (
    PEERS,
    PeerPlanner,
    PeerUnavailable,
    Settings,
    TorchProblem,
    import_torch,
    lookup_config,
    make_adapter,
)

LATENT_PEERS = PEERS
LATENT_IMPLS = ("ours",) + LATENT_PEERS

#: S and A of the benchmark task (a HalfCheetah-sized problem); the latent-small row of
#: BENCHMARKS.md uses these, and latent-tdmpc2-1m uses the same for comparability.
BENCH_OBS_DIM = 17
BENCH_ACTION_DIM = 6


def native_mppi_config(c):
    """The native `planner.MPPIConfig` of a benchmark configuration's MPPI fields."""
    import planner as native

    return native.MPPIConfig(
        samples=c.samples,
        horizon=c.horizon,
        iterations=c.iterations,
        sigma=c.sigma,
        temperature=c.temperature,
        top_k=c.top_k,
        adapt_std=c.adapt_std,
        min_std=c.min_std,
        max_std=c.max_std,
    )


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
        return native_mppi_config(self)

    def settings(self) -> Settings:
        """These settings for the shared adapters: an MPPI update (see the class doc)."""
        return Settings.of(self, method="mppi", elites=self.top_k)


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
    return lookup_config(LATENT_CONFIGS, config)


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
    torch = import_torch(threads)
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
            parts.append(self.context.expand(*z.shape[:-1], self.C))
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
# the problem, for the shared adapters
# --------------------------------------------------------------------------------------


def latent_torch_problem(problem: LatentProblem) -> TorchProblem:
    """``problem`` as a :class:`TorchProblem`: planning state = the latent ``z``
    (``encoder(obs)``), batched return = :class:`LatentRollout`, step = :class:`LatentStep`
    with the model's discount and, when the configuration asks for it and the model has a
    value head, the terminal value."""
    cfg, model = problem.config, problem.model
    rollout = LatentRollout(model, cfg.horizon, problem.context, terminal_value=cfg.terminal_value)
    step = LatentStep(model, problem.context)
    use_value = cfg.terminal_value and model.value_head is not None

    def returns(obs):
        z0 = rollout.encode(obs)
        return lambda actions: rollout(z0, actions).clone()

    return TorchProblem(
        lower=model.action_low.clone(),
        upper=model.action_high.clone(),
        horizon=cfg.horizon,
        state_dim=model.config.latent_dim,
        initial=rollout.encode,
        returns=returns,
        step=step,
        discount=float(model.config.discount),
        value=step.value if use_value else None,
    )


# --------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------


def make_latent_planner(impl: str, problem: LatentProblem, *, seed: int = 0, threads: int = 2) -> PeerPlanner:
    """Builds implementation ``impl`` (one of :data:`LATENT_IMPLS`) on ``problem``.

    Raises :class:`PeerUnavailable` when its package is missing.
    """
    if impl == "ours":
        return OursLatentPlanner(problem, seed=seed, threads=threads)
    if impl not in LATENT_PEERS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {LATENT_IMPLS}")
    import_torch(threads)
    return make_adapter(impl, latent_torch_problem(problem), problem.config.settings(), seed=seed, threads=threads)
