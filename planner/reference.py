"""Pure-NumPy CEM / iCEM / MPPI: the executable specification and the test oracle.

Mirrors the native core step for step: the same Philox-4x32-10 counters, the same
Box-Muller arithmetic in float32 (so samples agree bit for bit), the same population
layout (injected candidates, carried elites, the mean), the same elite ordering and
the same update rules. It is slow on purpose: clarity over speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .config import ICEMConfig, MPPIConfig, OptimizerConfig, _as_list

__all__ = ["philox4x32_10", "normal", "colored_noise_matrix", "ReferenceOptimizer", "plan", "pendulum_returns"]

f32 = np.float32
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0: int, k1: int) -> tuple[np.ndarray, ...]:
    """Philox-4x32-10 blocks for counters (c0..c3) (arrays broadcast) and key (k0, k1)."""
    c = [np.asarray(x, dtype=np.uint64) & _MASK for x in np.broadcast_arrays(c0, c1, c2, c3)]
    k0, k1 = int(k0) & 0xFFFFFFFF, int(k1) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        n0 = (p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0)
        n2 = (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1)
        c = [n0, p1 & _MASK, n2, p0 & _MASK]
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return tuple(x.astype(np.uint32) for x in c)


def _sin_poly(q: np.ndarray) -> np.ndarray:
    q2 = q * q
    p = f32(-1.0 / 39916800.0)
    for coef in (1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0):
        p = p * q2 + f32(coef)
    return q + (q * q2) * p


def _cos_poly(q: np.ndarray) -> np.ndarray:
    q2 = q * q
    p = f32(1.0 / 479001600.0)
    for coef in (-1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0, -0.5):
        p = p * q2 + f32(coef)
    return f32(1.0) + q2 * p


def _log(x: np.ndarray) -> np.ndarray:
    bits = x.view(np.uint32)
    e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - 127
    m = ((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32)
    big = m > f32(1.41421356237309504880)
    m = np.where(big, m * f32(0.5), m)
    e = np.where(big, e + 1, e)
    s = (m - f32(1.0)) / (m + f32(1.0))
    s2 = s * s
    p = f32(2.0 / 9.0)
    for coef in (2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0, 2.0):
        p = p * s2 + f32(coef)
    fe = e.astype(np.float32)
    return fe * f32(0.693145751953125) + (fe * f32(1.42860682030941723212e-6) + s * p)


def _box_muller(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    two_m24 = f32(1.0 / 16777216.0)
    u = ((a >> np.uint32(8)).astype(np.float32) + f32(0.5)) * two_m24
    v = ((b >> np.uint32(8)).astype(np.float32) + f32(0.5)) * two_m24 - f32(0.5)
    q = v * f32(math.pi)
    s, c = _sin_poly(q), _cos_poly(q)
    r = np.sqrt(f32(-2.0) * _log(u))
    return r * (c * c - s * s), r * ((f32(2.0) * s) * c)


def normal(seed: int, c1: int, c2: int, c3: int, first: int, count: int) -> np.ndarray:
    """Standard normals [count]: elements [first, first + count) of stream (seed, c1, c2, c3).

    Elements come in tiles of 256 from 64 consecutive Philox blocks: element e is lane
    (e % 256) // 64 of the block with counter ((e // 256) * 64 + e % 64, c1, c2, c3).
    """
    if count <= 0:
        return np.zeros(0, np.float32)
    e = np.arange(first, first + count, dtype=np.uint64)
    o = e % np.uint64(256)
    blocks = (e // np.uint64(256)) * np.uint64(64) + o % np.uint64(64)
    lane = (o // np.uint64(64)).astype(np.int64)
    x = philox4x32_10(blocks, c1, c2, c3, seed & 0xFFFFFFFF, seed >> 32)
    z0, z1 = _box_muller(x[0], x[1])
    z2, z3 = _box_muller(x[2], x[3])
    return np.choose(lane, [z0, z1, z2, z3]).astype(np.float32)


def colored_noise_matrix(horizon: int, beta: float) -> np.ndarray:
    """iCEM coloring matrix [H, H]: real Fourier basis scaled by max(f, 1/H)^(-beta/2)
    (times sqrt(1/2) on the DC and Nyquist columns), rows normalized to unit norm, so
    white inputs give unit-variance outputs and beta = 0 gives white noise."""
    H = horizon
    m = np.zeros((H, H))
    t = np.arange(H)
    col = 0
    for k in range(H // 2 + 1):
        has_sin = k > 0 and 2 * k != H
        scale = max(k / H, 1.0 / H) ** (-0.5 * float(np.float32(beta)))
        scale = scale if has_sin else scale * math.sqrt(0.5)
        m[:, col] = scale * np.cos(2 * math.pi * k * t / H)
        if has_sin:
            m[:, col + 1] = scale * np.sin(2 * math.pi * k * t / H)
            col += 2
        else:
            col += 1
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


class ReferenceOptimizer:
    """NumPy mirror of the native ask/tell optimizers (planner.Optimizer)."""

    def __init__(
        self,
        config: OptimizerConfig,
        batch: int,
        action_dim: int,
        *,
        lower: Sequence[float] | float | None = None,
        upper: Sequence[float] | float | None = None,
        seed: int = 0,
    ) -> None:
        self.cfg, self.B, self.A, self.seed = config, batch, action_dim, seed
        self.N, self.H = config.samples, config.horizon
        A = action_dim

        def per_dim(v, default):
            v = _as_list("value", v)
            return np.full(A, default, np.float32) if not v else np.broadcast_to(np.float32(v), (A,)).copy()

        self.lower = per_dim(lower, -np.inf)
        self.upper = per_dim(upper, np.inf)
        finite = np.isfinite(self.lower) & np.isfinite(self.upper)
        mid = np.where(finite, f32(0.5) * (self.lower + self.upper), f32(0)).astype(np.float32)
        half = np.where(finite, f32(0.5) * (self.upper - self.lower), f32(1)).astype(np.float32)
        std = config.sigma if isinstance(config, MPPIConfig) and config.sigma is not None else config.init_std
        self.init_mean = per_dim(config.init_mean, 0.0) if config.init_mean is not None else mid
        self.init_std = per_dim(std, 0.0) if std is not None else half
        if isinstance(config, ICEMConfig):
            self.color = colored_noise_matrix(self.H, config.noise_beta)
        self.candidates = np.zeros((batch, 0, self.H, A), np.float32)
        self.reset()

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        self.mean = np.broadcast_to(self.init_mean, (self.B, self.H, self.A)).astype(np.float32)
        self.std = np.broadcast_to(self.init_std, (self.B, self.H, self.A)).astype(np.float32)
        self.step = 0
        self.candidates = self.candidates[:, :0]
        self.elites = [np.zeros((0, self.H, self.A), np.float32) for _ in range(self.B)]
        self.begin()

    def begin(self) -> None:
        self.iteration = 0
        self.best_return = np.full(self.B, -np.inf, np.float32)
        self.best = self.mean.copy()  # iCEM: what to execute until something scores finite
        self.best_val = np.full(self.B, -np.inf, np.float32)

    def shift(self, steps: int = 1) -> None:
        if steps == 0:
            return
        k = min(steps, self.H)
        self.mean = np.concatenate([self.mean[:, k:], np.broadcast_to(self.init_mean, (self.B, k, self.A))], 1)
        self.mean = self.mean.astype(np.float32)
        self.std = np.broadcast_to(self.init_std, (self.B, self.H, self.A)).astype(np.float32)
        self.step += 1
        self.candidates = self.candidates[:, :0]
        for b in range(self.B):
            e = self.elites[b]
            if len(e):
                self.elites[b] = np.concatenate(
                    [e[:, k:], np.broadcast_to(self.mean[b, self.H - k :], (len(e), k, self.A))], 1
                )
        self.begin()

    def set_candidates(self, candidates: np.ndarray) -> None:
        self.candidates = np.clip(candidates.astype(np.float32), self.lower, self.upper)

    # -- ask/tell ---------------------------------------------------------------------
    def population_size(self, i: int) -> int:
        c = self.cfg
        if isinstance(c, ICEMConfig):
            n = math.floor(self.N * float(np.float32(c.pop_decay)) ** (-i))
            return min(self.N, max(int(n), 2 * c.elites))
        return self.N

    def _kept(self) -> int:
        return math.floor(float(np.float32(self.cfg.keep_elites)) * self.cfg.elites)

    def ask(self) -> np.ndarray:
        c, B, H, A = self.cfg, self.B, self.H, self.A
        n = self.population_size(self.iteration)
        pop = np.zeros((B, n, H, A), np.float32)
        fixed = 0
        for b in range(B):
            rows = [self.candidates[b, : min(self.candidates.shape[1], n)]]
            if isinstance(c, ICEMConfig):
                if self.iteration > 0 or c.shift_elites:
                    rows.append(self.elites[b][: min(self._kept(), n - len(rows[0]))])
                if c.add_mean and self.iteration == c.iterations - 1 and sum(map(len, rows)) < n:
                    rows.append(np.clip(self.mean[b], self.lower, self.upper)[None])
            fixed_rows = np.concatenate(rows, 0) if rows else np.zeros((0, H, A), np.float32)
            fixed = len(fixed_rows)
            pop[b, :fixed] = fixed_rows
            stream = (self.seed, b, self.iteration & 0xFFFFFF, self.step & 0xFFFFFFFF)
            eps = normal(*stream, fixed * H * A, (n - fixed) * H * A).reshape(n - fixed, H, A)
            if isinstance(c, ICEMConfig):
                eps = np.einsum("ts,nsa->nta", self.color, eps).astype(np.float32)
            vals = self.mean[b] + self.std[b] * eps
            if getattr(c, "sampling", "clip") == "truncated":
                for redraw in range(1, 9):
                    bad = (vals < self.lower) | (vals > self.upper)
                    if not bad.any():
                        break
                    for idx in zip(*np.nonzero(bad), strict=False):
                        e = (fixed + idx[0]) * H * A + idx[1] * A + idx[2]
                        z = normal(self.seed, b, (self.iteration & 0xFFFFFF) | (redraw << 24), self.step, e, 1)[0]
                        vals[idx] = self.mean[b][idx[1:]] + self.std[b][idx[1:]] * z
            pop[b, fixed:] = np.clip(vals, self.lower, self.upper)
        self.population = pop
        return pop.copy()

    def tell(self, returns: np.ndarray) -> None:
        c = self.cfg
        pop = self.population
        for b in range(self.B):
            R = returns[b].astype(np.float32)
            finite = np.nonzero(np.isfinite(R))[0]
            if len(finite) == 0:
                continue
            self.best_return[b] = max(self.best_return[b], R[finite].max())
            order = finite[np.lexsort((finite, -R[finite]))]  # best first, ties: lower row
            if isinstance(c, MPPIConfig):
                rows = order[: min(c.top_k, len(order))] if c.top_k > 0 else finite
                w = np.exp((R[rows].astype(np.float64) - R[rows].max()) / c.temperature)
                w = w / w.sum()
                m = np.einsum("n,nta->ta", w, pop[b, rows])
                if c.adapt_std:
                    s = np.sqrt(np.einsum("n,nta->ta", w, (pop[b, rows] - m) ** 2))
                    self._blend(b, m, s)
                else:
                    self.mean[b] = c.momentum * self.mean[b] + (1 - c.momentum) * m
            else:
                k = min(c.elites, len(order))
                el = pop[b, order[:k]].astype(np.float64)
                self._blend(b, el.mean(0), el.std(0))
                if isinstance(c, ICEMConfig):
                    self.elites[b] = pop[b, order[:k]].copy()
                    if R[order[0]] > self.best_val[b]:
                        self.best_val[b] = R[order[0]]
                        self.best[b] = pop[b, order[0]]
        self.iteration += 1

    def _blend(self, b: int, m: np.ndarray, s: np.ndarray) -> None:
        mo = self.cfg.momentum
        self.mean[b] = (mo * self.mean[b] + (1 - mo) * m).astype(np.float32)
        self.std[b] = np.clip(mo * self.std[b] + (1 - mo) * s, self.cfg.min_std, self.cfg.max_std).astype(np.float32)

    def solution(self) -> np.ndarray:
        """The sequence to execute [B, H, A]: the best sample for iCEM, else the mean."""
        return (self.best if isinstance(self.cfg, ICEMConfig) else self.mean).copy()


def plan(
    optimizer: ReferenceOptimizer,
    score: Callable[[np.ndarray], np.ndarray],
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Runs one plan (I ask/score/tell iterations); returns the plan [B, H, A]."""
    optimizer.begin()
    if candidates is not None:
        optimizer.set_candidates(candidates)
    for _ in range(optimizer.cfg.iterations):
        optimizer.tell(score(optimizer.ask()))
    return np.clip(optimizer.solution(), optimizer.lower, optimizer.upper)


def pendulum_returns(state: np.ndarray, actions: np.ndarray, g=10.0, m=1.0, l=1.0, dt=0.05) -> np.ndarray:
    """Pendulum-v1 returns of sequences [N, H, 1] from state (theta, theta_dot), in
    float64 with gymnasium's equations."""
    th = np.full(actions.shape[0], float(state[0]))
    thd = np.full(actions.shape[0], float(state[1]))
    ret = np.zeros(actions.shape[0])
    for t in range(actions.shape[1]):
        u = np.clip(actions[:, t, 0].astype(np.float64), -2.0, 2.0)
        w = ((th + np.pi) % (2 * np.pi)) - np.pi
        ret -= w**2 + 0.1 * thd**2 + 0.001 * u**2
        thd = np.clip(thd + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt, -8.0, 8.0)
        th = th + thd * dt
    return ret
