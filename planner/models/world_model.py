"""Latent world models in torch: encoder, ensemble dynamics and reward heads, value head.

Every network is an `MLP` of `Layer`s, and one `Layer` is exactly one LAYER of the model
file (docs/MODEL_FORMAT.md): ``y = act(norm(W x + b))``. The export is therefore a 1:1
walk over the modules, and the native scorer computes the same function.

Units: methods named in the docs below take *normalized* inputs (observation
``(obs - obs_shift) / obs_scale``, action mapped from its box to [-1, 1]) and return
normalized rewards and values; `rollout_returns` takes raw observations and actions and
returns planning returns in environment units. The normalization constants are buffers.

Letters: B problems, N samples, H horizon, S obs dims, A action dims, Z latent dims,
C context dims, M ensemble members.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "LayerSpec",
    "Layer",
    "MLP",
    "ModelConfig",
    "PRESETS",
    "preset",
    "WorldModel",
    "simnorm",
]

#: Activations a LAYER may use (docs/MODEL_FORMAT.md); ModelConfig.activation is one of
#: the hidden-layer ones (mish, elu, relu).
ACTIVATIONS = ("none", "relu", "elu", "mish", "tanh", "simnorm")
HIDDEN_ACTIVATIONS = ("mish", "elu", "relu")
LAYER_NORM_EPS = 1e-5


def simnorm(x: Tensor, group: int) -> Tensor:
    """Softmax over consecutive groups of `group` features of the last dim (TD-MPC2)."""
    shape = x.shape
    return F.softmax(x.reshape(*shape[:-1], shape[-1] // group, group), dim=-1).reshape(shape)


@dataclass(frozen=True)
class LayerSpec:
    """One LAYER: Linear(in, out) -> optional LayerNorm(out) -> activation."""

    inp: int
    out: int
    norm: bool = False
    act: str = "none"
    simnorm_dim: int = 0
    bias: bool = True
    eps: float = LAYER_NORM_EPS

    def __post_init__(self) -> None:
        if self.inp < 1 or self.out < 1:
            raise ValueError(f"layer sizes must be >= 1, got in={self.inp}, out={self.out}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.act!r}; expected one of {ACTIVATIONS}")
        if self.act == "simnorm" and (self.simnorm_dim < 1 or self.out % self.simnorm_dim):
            raise ValueError(f"simnorm_dim {self.simnorm_dim} must be >= 1 and divide out={self.out}")
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise ValueError(f"LayerNorm eps must be > 0, got {self.eps}")


class Layer(nn.Module):
    """``y = act(norm(W x + b))``; parameters named as in the model file."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.linear = nn.Linear(spec.inp, spec.out, bias=spec.bias)
        self.norm = nn.LayerNorm(spec.out, eps=spec.eps) if spec.norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.linear(x)
        if self.norm is not None:
            x = self.norm(x)
        act = self.spec.act
        if act == "mish":
            return F.mish(x)
        if act == "elu":
            return F.elu(x)
        if act == "relu":
            return F.relu(x)
        if act == "tanh":
            return torch.tanh(x)
        if act == "simnorm":
            return simnorm(x, self.spec.simnorm_dim)
        return x


class MLP(nn.Module):
    """A chain of `Layer`s; `specs` must connect (out of one is in of the next)."""

    def __init__(self, specs: Sequence[LayerSpec]) -> None:
        super().__init__()
        if not specs:
            raise ValueError("an MLP needs at least one layer")
        for prev, nxt in zip(specs, specs[1:], strict=False):
            if prev.out != nxt.inp:
                raise ValueError(f"layers do not connect: out={prev.out} then in={nxt.inp}")
        self.layers = nn.ModuleList(Layer(s) for s in specs)

    @property
    def inp(self) -> int:
        return self.layers[0].spec.inp

    @property
    def out(self) -> int:
        return self.layers[-1].spec.out

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def dataclass_from_dict(cls, d: dict, where: str):
    """`cls(**d)` for a dataclass, with a clear error naming unknown keys."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {unknown} (unknown {cls.__name__} fields); expected some of {sorted(known)}"
        )
    return cls(**d)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a `WorldModel`; validated on construction.

    Attributes:
        obs_dim: S.
        action_dim: A.
        latent_dim: Z.
        hidden_dim: width of every hidden layer.
        hidden_layers: hidden layers per network (encoder and each head).
        context_dim: C (0: no context).
        ensemble: M dynamics heads and M reward heads.
        activation: hidden-layer activation, "mish", "elu" or "relu".
        layer_norm: LayerNorm after every hidden Linear (and before the latent output).
        simnorm_dim: 0 = off; else the encoder's and each dynamics head's last layer
            ends in SimNorm over groups of this size (Z must be a multiple).
        value_head: add a terminal value network V(z, c).
        discount: gamma of the planning return.
        context_history: K > 0 adds a context encoder q(c | last K transitions)
            (docs/MODEL_FORMAT.md, "Context encoder"); needs context_dim > 0.
        context_hidden: width of the context encoder's layers.
    """

    obs_dim: int
    action_dim: int
    latent_dim: int = 32
    hidden_dim: int = 128
    hidden_layers: int = 2
    context_dim: int = 0
    ensemble: int = 1
    activation: str = "mish"
    layer_norm: bool = True
    simnorm_dim: int = 0
    value_head: bool = False
    discount: float = 0.99
    context_history: int = 0
    context_hidden: int = 64

    def __post_init__(self) -> None:
        for name, lo in (
            ("obs_dim", 1),
            ("action_dim", 1),
            ("latent_dim", 1),
            ("hidden_dim", 1),
            ("hidden_layers", 0),
            ("context_dim", 0),
            ("ensemble", 1),
            ("simnorm_dim", 0),
            ("context_history", 0),
            ("context_hidden", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}, got {self.activation!r}")
        for name in ("layer_norm", "value_head"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        if self.simnorm_dim and self.latent_dim % self.simnorm_dim:
            raise ValueError(f"latent_dim (Z={self.latent_dim}) must be a multiple of simnorm_dim={self.simnorm_dim}")
        if self.context_history and not self.context_dim:
            raise ValueError("context_history > 0 (a context encoder) needs context_dim > 0")
        d = self.discount
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < d <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {d}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return dataclass_from_dict(cls, d, "ModelConfig")

    # -- layer layout --------------------------------------------------------------------
    def _trunk(self, inp: int) -> list[LayerSpec]:
        specs, width = [], inp
        for _ in range(self.hidden_layers):
            specs.append(LayerSpec(width, self.hidden_dim, self.layer_norm, self.activation))
            width = self.hidden_dim
        return specs

    def _latent_head(self, inp: int) -> list[LayerSpec]:
        """Layers ending in the latent: LayerNorm + SimNorm when on, else LayerNorm only."""
        width = self.hidden_dim if self.hidden_layers else inp
        if self.simnorm_dim:
            last = LayerSpec(width, self.latent_dim, self.layer_norm, "simnorm", self.simnorm_dim)
        else:
            last = LayerSpec(width, self.latent_dim, self.layer_norm, "none")
        return self._trunk(inp) + [last]

    def _scalar_head(self, inp: int) -> list[LayerSpec]:
        width = self.hidden_dim if self.hidden_layers else inp
        return self._trunk(inp) + [LayerSpec(width, 1)]

    def network_specs(self) -> dict:
        """Layer specs per network: encoder, dynamics [M], reward [M], value (or None)."""
        S, A, Z, C, M = self.obs_dim, self.action_dim, self.latent_dim, self.context_dim, self.ensemble
        return {
            "encoder": self._latent_head(S),
            "dynamics": [self._latent_head(Z + A + C) for _ in range(M)],
            "reward": [self._scalar_head(Z + A + C) for _ in range(M)],
            "value": self._scalar_head(Z + C) if self.value_head else None,
            "context_encoder": self.context_encoder_specs(),
        }

    def context_encoder_specs(self) -> dict | None:
        """{"history": K, "embed": [...], "head": [...]} or None (no context encoder)."""
        if not self.context_history:
            return None
        S, A, C, W = self.obs_dim, self.action_dim, self.context_dim, self.context_hidden
        act, ln = self.activation, self.layer_norm
        embed = [LayerSpec(2 * S + A, W, ln, act), LayerSpec(W, W, ln, act)]
        head = [LayerSpec(W, W, ln, act), LayerSpec(W, 2 * C)]
        return {"history": self.context_history, "embed": embed, "head": head}


#: Named architectures (obs_dim and action_dim come from the task).
PRESETS: dict[str, dict] = {
    # A control-rate model for CPUs (BENCHMARKS.md `latent-small`).
    "latent-small": dict(latent_dim=32, hidden_dim=128, hidden_layers=2, context_dim=8, ensemble=1),
    # TD-MPC2 1M and 5M sizes: SimNorm latents and a terminal value head.
    "tdmpc2-1m": dict(latent_dim=128, hidden_dim=384, hidden_layers=2, simnorm_dim=8, value_head=True),
    "tdmpc2-5m": dict(latent_dim=512, hidden_dim=512, hidden_layers=2, simnorm_dim=8, value_head=True),
    # For tests: trains in seconds.
    "tiny": dict(latent_dim=8, hidden_dim=16, hidden_layers=1, context_dim=0, ensemble=2),
}
_ALIASES = {"latent-tdmpc2-1m": "tdmpc2-1m", "latent-tdmpc2-5m": "tdmpc2-5m"}


def preset(name: str, obs_dim: int, action_dim: int, **overrides) -> ModelConfig:
    """The `ModelConfig` of preset `name` for a task with S = obs_dim, A = action_dim.

    `overrides` replace preset fields, e.g. ``preset("latent-small", 3, 1, context_dim=0)``.
    """
    key = _ALIASES.get(name, name)
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS) + sorted(_ALIASES)}")
    values = dict(PRESETS[key], obs_dim=obs_dim, action_dim=action_dim)
    return ModelConfig.from_dict({**values, **overrides})


def _scalar_buffer(v: float) -> Tensor:
    return torch.tensor(float(v), dtype=torch.float32)


class WorldModel(nn.Module):
    """Encoder, M dynamics heads, M reward heads and an optional value head.

    Args:
        config: the architecture.
        specs: layer specs per network (as `ModelConfig.network_specs()` returns);
            default from `config`. The loader passes the file's layers here.
    """

    def __init__(self, config: ModelConfig, specs: dict | None = None) -> None:
        super().__init__()
        self.config = config
        specs = specs if specs is not None else config.network_specs()
        self.encoder = MLP(specs["encoder"])
        self.dynamics = nn.ModuleList(MLP(s) for s in specs["dynamics"])
        self.reward_heads = nn.ModuleList(MLP(s) for s in specs["reward"])
        self.value_head = MLP(specs["value"]) if specs.get("value") else None
        ce = specs.get("context_encoder")
        self.context_embed = MLP(ce["embed"]) if ce else None
        self.context_head = MLP(ce["head"]) if ce else None
        self.context_history = int(ce["history"]) if ce else 0
        self._check_dims()
        S, A = config.obs_dim, config.action_dim
        self.register_buffer("obs_shift", torch.zeros(S))
        self.register_buffer("obs_scale", torch.ones(S))
        self.register_buffer("action_low", -torch.ones(A))
        self.register_buffer("action_high", torch.ones(A))
        self.register_buffer("reward_shift", _scalar_buffer(0.0))
        self.register_buffer("reward_scale", _scalar_buffer(1.0))
        self.register_buffer("value_shift", _scalar_buffer(0.0))
        self.register_buffer("value_scale", _scalar_buffer(1.0))

    def _check_dims(self) -> None:
        c = self.config
        S, A, Z, C, M = c.obs_dim, c.action_dim, c.latent_dim, c.context_dim, c.ensemble
        if (self.encoder.inp, self.encoder.out) != (S, Z):
            raise ValueError(f"encoder must map S={S} to Z={Z}, got {self.encoder.inp} -> {self.encoder.out}")
        if len(self.dynamics) != M or len(self.reward_heads) != M:
            raise ValueError(
                f"expected M={M} dynamics and reward heads, got {len(self.dynamics)}, {len(self.reward_heads)}"
            )
        for i, (d, r) in enumerate(zip(self.dynamics, self.reward_heads, strict=True)):
            if (d.inp, d.out) != (Z + A + C, Z):
                raise ValueError(f"dynamics {i} must map Z+A+C={Z + A + C} to Z={Z}, got {d.inp} -> {d.out}")
            if (r.inp, r.out) != (Z + A + C, 1):
                raise ValueError(f"reward {i} must map Z+A+C={Z + A + C} to 1, got {r.inp} -> {r.out}")
        if self.value_head is not None and (self.value_head.inp, self.value_head.out) != (Z + C, 1):
            raise ValueError(f"value must map Z+C={Z + C} to 1, got {self.value_head.inp} -> {self.value_head.out}")
        if (self.value_head is not None) != c.value_head:
            raise ValueError("config.value_head disagrees with the networks given")
        if self.context_embed is not None:
            if C == 0:
                raise ValueError("a context encoder needs context_dim C > 0")
            if self.context_embed.inp != 2 * S + A:
                raise ValueError(f"context embed must take 2S+A={2 * S + A} inputs, got {self.context_embed.inp}")
            if self.context_head.inp != self.context_embed.out or self.context_head.out != 2 * C:
                raise ValueError(
                    f"context head must map E={self.context_embed.out} to 2C={2 * C}, got "
                    f"{self.context_head.inp} -> {self.context_head.out}"
                )

    # -- normalization -------------------------------------------------------------------
    @torch.no_grad()
    def set_normalization(
        self,
        *,
        obs_shift: Sequence[float] | Tensor | None = None,
        obs_scale: Sequence[float] | Tensor | None = None,
        action_low: Sequence[float] | Tensor | None = None,
        action_high: Sequence[float] | Tensor | None = None,
        reward_shift: float | None = None,
        reward_scale: float | None = None,
        value_shift: float | None = None,
        value_scale: float | None = None,
    ) -> None:
        """Sets the normalization buffers given (others keep their values).

        Raises:
            ValueError: wrong length, non-finite value, scale <= 0 or low >= high.
        """
        vectors = {"obs_shift": obs_shift, "obs_scale": obs_scale, "action_low": action_low, "action_high": action_high}
        for name, v in vectors.items():
            if v is None:
                continue
            t = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
            buf = getattr(self, name)
            if t.shape != buf.shape:
                raise ValueError(f"{name}: expected {buf.numel()} values, got {t.numel()}")
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} must be finite")
            buf.copy_(t)
        scalars = {"reward_shift": reward_shift, "reward_scale": reward_scale}
        scalars.update({"value_shift": value_shift, "value_scale": value_scale})
        for name, v in scalars.items():
            if v is None:
                continue
            if not math.isfinite(float(v)):
                raise ValueError(f"{name} must be finite, got {v}")
            getattr(self, name).fill_(float(v))
        if not (self.obs_scale > 0).all() or float(self.reward_scale) <= 0 or float(self.value_scale) <= 0:
            raise ValueError("obs_scale, reward_scale and value_scale must be > 0")
        if not (self.action_high > self.action_low).all():
            raise ValueError("action_high must be > action_low in every dim")

    def normalize_obs(self, obs: Tensor) -> Tensor:
        """Raw observation [..., S] -> normalized."""
        return (obs - self.obs_shift) / self.obs_scale

    def normalize_action(self, a: Tensor) -> Tensor:
        """Action in its box [..., A] -> [-1, 1] (``2 (a - low) / (high - low) - 1``)."""
        return 2.0 * (a - self.action_low) / (self.action_high - self.action_low) - 1.0

    # -- networks (normalized units) -----------------------------------------------------
    def _cat(self, parts: Sequence[Tensor | None]) -> Tensor:
        parts = [p for p in parts if p is not None and p.shape[-1] > 0]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def _context(self, c: Tensor | None, like: Tensor) -> Tensor | None:
        C = self.config.context_dim
        if C == 0:
            return None
        if c is None:
            raise ValueError(f"this model needs a context c [..., C={C}]")
        if c.shape[-1] != C:
            raise ValueError(f"context: expected last dim C={C}, got shape {tuple(c.shape)}")
        return c.expand(*like.shape[:-1], C)

    def encode(self, obs_n: Tensor) -> Tensor:
        """Normalized observation [..., S] -> latent [..., Z]."""
        return self.encoder(obs_n)

    def next_all(self, z: Tensor, a_n: Tensor, c: Tensor | None = None) -> Tensor:
        """Every member's next latent: [M, ..., Z]."""
        x = self._cat([z, a_n, self._context(c, z)])
        return torch.stack([d(x) for d in self.dynamics])

    def next(self, z: Tensor, a_n: Tensor, c: Tensor | None = None) -> Tensor:
        """Next latent [..., Z], the mean over the M members."""
        return self.next_all(z, a_n, c).mean(0)

    def reward_all(self, z: Tensor, a_n: Tensor, c: Tensor | None = None) -> Tensor:
        """Every member's normalized reward: [M, ...]."""
        x = self._cat([z, a_n, self._context(c, z)])
        return torch.stack([r(x).squeeze(-1) for r in self.reward_heads])

    def reward(self, z: Tensor, a_n: Tensor, c: Tensor | None = None) -> Tensor:
        """Normalized reward [...] of taking a_n in z, the mean over the M members."""
        return self.reward_all(z, a_n, c).mean(0)

    def value(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Normalized terminal value [...]; zeros without a value head."""
        if self.value_head is None:
            return torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        return self.value_head(self._cat([z, self._context(c, z)])).squeeze(-1)

    # -- context encoder -----------------------------------------------------------------
    def context_posterior(self, obs_n: Tensor, a_n: Tensor, next_obs_n: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """q(c | K transitions) in normalized units: (mu, logvar), each [..., C].

        Args:
            obs_n, next_obs_n: normalized observations [..., K, S]; a_n: normalized
                actions [..., K, A]; mask: [..., K] (1 = a real transition, 0 = padding).
        """
        if self.context_embed is None:
            raise ValueError("this model has no context encoder (context_history = 0)")
        delta = next_obs_n - obs_n  # (s' - s) / obs_scale
        e = self.context_embed(torch.cat([obs_n, a_n, delta], dim=-1))  # [..., K, E]
        m = mask.to(e.dtype).unsqueeze(-1)
        pooled = (e * m).sum(-2) / m.sum(-2).clamp_min(1.0)  # zero when no transition is valid
        out = self.context_head(pooled)
        C = self.config.context_dim
        return out[..., :C], out[..., C:]

    def infer_context(self, obs: Tensor, action: Tensor, next_obs: Tensor, mask: Tensor) -> Tensor:
        """The context the planner uses, mu, from raw transitions [..., K, S/A/S] and mask [..., K]."""
        mu, _ = self.context_posterior(
            self.normalize_obs(obs), self.normalize_action(action), self.normalize_obs(next_obs), mask
        )
        return mu

    # -- planning ------------------------------------------------------------------------
    def rollout_returns(
        self, obs: Tensor, actions: Tensor, c: Tensor | None = None, disagreement: float = 0.0
    ) -> Tensor:
        """Planning returns in environment units (MODEL_FORMAT.md, "Planning return").

        ``R = sum_t discount^t r_t + discount^H V(z_H, c)
              - disagreement * sum_t discount^t mean_Z(std_m(dynamics_m(z_t, a_t, c)))``
        with ``r = r_n * reward_scale + reward_shift``, ``V = V_n * value_scale +
        value_shift`` and std the population std over the M members (0 when M = 1).

        Args:
            obs: raw observations [B, S].
            actions: raw actions [B, N, H, A] in the action box.
            c: context [B, C], or None when C = 0.
            disagreement: lambda >= 0 of the disagreement penalty.

        Returns:
            returns [B, N].
        """
        cfg = self.config
        if obs.ndim != 2 or obs.shape[1] != cfg.obs_dim:
            raise ValueError(f"obs: expected shape [B, S] with S={cfg.obs_dim}, got {tuple(obs.shape)}")
        if actions.ndim != 4 or actions.shape[0] != obs.shape[0] or actions.shape[3] != cfg.action_dim:
            raise ValueError(
                f"actions: expected shape [B, N, H, A] with B={obs.shape[0]}, A={cfg.action_dim}, "
                f"got {tuple(actions.shape)}"
            )
        B, N, H, A = actions.shape
        z = self.encode(self.normalize_obs(obs))  # [B, Z]
        z = z[:, None, :].expand(B, N, z.shape[-1]).reshape(B * N, -1)
        a_n = self.normalize_action(actions).reshape(B * N, H, A)
        cc = None
        if cfg.context_dim:
            if c is None or c.shape != (B, cfg.context_dim):
                got = None if c is None else tuple(c.shape)
                raise ValueError(f"c: expected shape [B, C] with B={B}, C={cfg.context_dim}, got {got}")
            cc = c[:, None, :].expand(B, N, cfg.context_dim).reshape(B * N, -1)
        gamma = float(cfg.discount)
        total = torch.zeros(B * N, dtype=obs.dtype, device=obs.device)
        penalty = torch.zeros_like(total) if disagreement else None
        weight = 1.0
        for t in range(H):
            x = self._cat([z, a_n[:, t], cc])
            r_n = torch.stack([h(x).squeeze(-1) for h in self.reward_heads]).mean(0)
            total = total + weight * (r_n * self.reward_scale + self.reward_shift)
            nxt = torch.stack([d(x) for d in self.dynamics])
            if penalty is not None:
                penalty = penalty + weight * nxt.std(0, unbiased=False).mean(-1)
            z = nxt.mean(0)
            weight *= gamma
        returns = total
        if self.value_head is not None:
            v = self.value_head(self._cat([z, cc])).squeeze(-1)
            returns = returns + weight * (v * self.value_scale + self.value_shift)
        if penalty is not None:
            returns = returns - disagreement * penalty
        return returns.reshape(B, N)
