"""Validated configuration dataclasses for the native optimizers.

Each dataclass validates itself on construction and raises ``ValueError`` (bad value)
or ``TypeError`` (bad type) naming the field. Letters follow DESIGN.md: N samples,
H horizon, A action dims, K elites, I iterations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from . import _core

FloatOrSeq = float | Sequence[float] | None

__all__ = ["CEMConfig", "ICEMConfig", "MPPIConfig", "OptimizerConfig", "config_from_dict"]


def _check_int(name: str, value: object, lo: int, hi: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")


def _check_float(name: str, value: object, lo: float, hi: float = math.inf, hi_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok or math.isnan(value):
        raise ValueError(f"{name} must be in [{lo}, {hi}{')' if hi_open else ']'}, got {value}")


def _as_list(name: str, value: FloatOrSeq) -> list[float]:
    if value is None:
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [float(value)]
    else:
        try:
            values = [float(v) for v in value]  # type: ignore[union-attr]
        except TypeError:
            raise TypeError(f"{name} must be a float or a sequence of A floats, got {type(value).__name__}") from None
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {values}")
    return values


@dataclass(frozen=True)
class _Base:
    """Knobs shared by every optimizer.

    Attributes:
        samples: N, sequences per iteration (iCEM: in the first iteration).
        horizon: H, control steps per sequence.
        iterations: I, ask/score/tell rounds per plan.
        init_std: initial std per action dim [A] (or one value); default half the box.
        init_mean: initial mean [A]; default the box midpoint.
        min_std: std floor after each refit.
        max_std: std ceiling after each refit.
        momentum: new = momentum * old + (1 - momentum) * refit, in [0, 1).
    """

    samples: int = 256
    horizon: int = 16
    iterations: int = 4
    init_std: FloatOrSeq = None
    init_mean: FloatOrSeq = None
    min_std: float = 0.05
    max_std: float = 1e30
    momentum: float = 0.1

    name = "base"

    def __post_init__(self) -> None:
        _check_int("samples (N)", self.samples, 1)
        _check_int("horizon (H)", self.horizon, 1)
        _check_int("iterations (I)", self.iterations, 1)
        _check_float("min_std", self.min_std, 0.0)
        _check_float("max_std", self.max_std, self.min_std)
        _check_float("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        for v in _as_list("init_std", self.init_std):
            if v < 0:
                raise ValueError(f"init_std must be >= 0, got {self.init_std}")
        _as_list("init_mean", self.init_mean)

    def to_core(self, *, seed: int = 0, lower: FloatOrSeq = None, upper: FloatOrSeq = None) -> _core.OptimizerConfig:
        """The native config; lower/upper [A] (None: the scorer's box)."""
        _check_int("seed", seed, 0, 2**64 - 1)
        c = _core.OptimizerConfig()
        c.name = self.name
        for f in fields(self):
            if f.name == "sigma":
                continue  # MPPIConfig.to_core maps it onto init_std
            value = getattr(self, f.name)
            if f.name in ("init_std", "init_mean"):
                value = _as_list(f.name, value)
            elif f.name == "sampling":
                value = _core.Sampling.truncated if value == "truncated" else _core.Sampling.clip
            setattr(c, f.name, value)
        c.seed = seed
        c.lower = _as_list("lower", lower)
        c.upper = _as_list("upper", upper)
        return c


@dataclass(frozen=True)
class CEMConfig(_Base):
    """Cross-entropy method.

    Attributes:
        elites: K, best samples refitted per iteration, in [1, N].
        sampling: "clip" (draw, then clip to the box) or "truncated" (redraw outliers).
    """

    elites: int = 32
    sampling: str = "clip"

    name = "cem"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("elites (K)", self.elites, 1, self.samples)
        if self.sampling not in ("clip", "truncated"):
            raise ValueError(f"sampling must be 'clip' or 'truncated', got {self.sampling!r}")


@dataclass(frozen=True)
class ICEMConfig(CEMConfig):
    """iCEM: CEM with colored noise, population decay and carried elites.

    Attributes:
        noise_beta: colored-noise exponent (PSD ~ 1/f^beta; 0 = white).
        pop_decay: population of iteration i is max(N * pop_decay^-i, 2K).
        keep_elites: fraction of K elites carried to the next iteration.
        shift_elites: also carry them, shifted, into the next control step.
        add_mean: add the mean as a candidate in the last iteration.
    """

    noise_beta: float = 2.0
    pop_decay: float = 1.25
    keep_elites: float = 0.3
    shift_elites: bool = True
    add_mean: bool = True

    name = "icem"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_float("noise_beta", self.noise_beta, 0.0)
        _check_float("pop_decay", self.pop_decay, 1.0)
        _check_float("keep_elites", self.keep_elites, 0.0, 1.0)
        if 2 * self.elites > self.samples:
            raise ValueError(f"iCEM needs samples (N) >= 2 * elites (K); got N={self.samples}, K={self.elites}")


@dataclass(frozen=True)
class MPPIConfig(_Base):
    """MPPI: exponentially weighted mean of the samples.

    Attributes:
        sigma: exploration std per action dim [A] (alias of init_std).
        temperature: lambda in exp((R - max R) / lambda), > 0.
        top_k: if > 0, weight only the k best samples (TD-MPC2 style).
        adapt_std: refit std from the weighted samples.
    """

    sigma: FloatOrSeq = None
    temperature: float = 1.0
    top_k: int = 0
    adapt_std: bool = False
    momentum: float = 0.0

    name = "mppi"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma is not None and self.init_std is not None:
            raise ValueError("give sigma or init_std, not both (they are the same knob for MPPI)")
        for v in _as_list("sigma", self.sigma):
            if v < 0:
                raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        _check_float("temperature", self.temperature, 1e-30)
        _check_int("top_k", self.top_k, 0, self.samples)

    def to_core(self, **kwargs) -> _core.OptimizerConfig:  # type: ignore[override]
        c = super().to_core(**kwargs)
        if self.sigma is not None:
            c.init_std = _as_list("sigma", self.sigma)
        return c


OptimizerConfig = CEMConfig | ICEMConfig | MPPIConfig
_BY_NAME = {"cem": CEMConfig, "icem": ICEMConfig, "mppi": MPPIConfig}


def config_from_dict(name: str, values: dict | None = None) -> OptimizerConfig:
    """Builds the config of optimizer `name` ("cem", "icem", "mppi") from a dict."""
    if name not in _BY_NAME:
        raise ValueError(f"optimizer: unknown name {name!r}; expected one of {sorted(_BY_NAME)}")
    return _BY_NAME[name](**(values or {}))
