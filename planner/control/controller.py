"""Model-predictive control over one or B robots: observe, infer a context, plan, act.

`MPCController` wraps a `planner.Planner` (usually `Planner.from_file`, whose native
latent scorer encodes observations itself). Per control step it records the last
transition (s, a, s') of each robot in a fixed-size `History` (the contexts read it),
asks a context source for [B, C], plans for all B robots in one batched native call
(warm-started from the previous plan), and returns the first action. With
``replan_every = n`` it plans every n-th step and executes the held plan in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..planner import Planner, PlanResult

__all__ = ["ContextFn", "History", "MPCController", "as_observation"]

#: A context source: (history) -> context [B, C] float32. Called once per planned step.
ContextFn = Callable[["History"], np.ndarray]


def as_observation(obs: Any, batch: int, dim: int, name: str = "observation") -> np.ndarray:
    """A robot's observation as float32 C-contiguous [B, S].

    This is the one place where a robot's data (often float64 from a simulator or a
    driver) becomes the planner's float32; shapes are checked, not guessed.
    """
    a = np.asarray(obs)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric array [B, S] = ({batch}, {dim}), got dtype {a.dtype}")
    if a.shape == (dim,) and batch == 1:
        a = a[None]
    if a.shape != (batch, dim):
        want = f"[S] = ({dim},) or [B, S] = ({batch}, {dim})" if batch == 1 else f"[B, S] = ({batch}, {dim})"
        raise ValueError(f"{name}: expected shape {want}, got {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{name}: must be finite; got {a[tuple(bad)]} at (b={bad[0]}, s={bad[1]})")
    return a


class History:
    """The last K transitions (s, a, s') of each of B robots, in ring buffers.

    `window()` returns them oldest first and zero-padded where a robot has fewer than K
    (the start of an episode), with a mask of the valid ones.
    """

    def __init__(self, batch: int, length: int, obs_dim: int, action_dim: int) -> None:
        if length < 1:
            raise ValueError(f"history length K must be >= 1, got {length}")
        self.batch, self.length = batch, length
        self.obs = np.zeros((batch, length, obs_dim), np.float32)
        self.action = np.zeros((batch, length, action_dim), np.float32)
        self.next_obs = np.zeros((batch, length, obs_dim), np.float32)
        self.count = np.zeros(batch, np.int64)  # transitions recorded since the robot's reset
        self._w_obs, self._w_act = np.zeros_like(self.obs), np.zeros_like(self.action)
        self._w_next, self._w_mask = np.zeros_like(self.next_obs), np.zeros((batch, length), bool)
        self._arange = np.arange(length)

    def push(self, b: int, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        i = self.count[b] % self.length
        self.obs[b, i] = obs
        self.action[b, i] = action
        self.next_obs[b, i] = next_obs
        self.count[b] += 1

    def reset(self, b: int | None = None) -> None:
        sel = slice(None) if b is None else b
        self.count[sel] = 0
        self.obs[sel] = 0
        self.action[sel] = 0
        self.next_obs[sel] = 0

    def window(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(obs, action, next_obs [B, K, ...], mask [B, K]), oldest first, zero-padded in front.

        The arrays are buffers of this History, rewritten by the next call (contexts read
        them every control step; nothing is allocated).
        """
        K = self.length
        o, a, n, mask = self._w_obs, self._w_act, self._w_next, self._w_mask
        for b in range(self.batch):
            c = int(min(self.count[b], K))
            pad = K - c
            o[b, :pad] = 0.0
            a[b, :pad] = 0.0
            n[b, :pad] = 0.0
            mask[b, :pad] = False
            mask[b, pad:] = True
            if c == 0:
                continue
            # Ring slots oldest first: the newest is at (count - 1) % K.
            start = int(self.count[b] - c) % K
            idx = (start + self._arange[:c]) % K
            np.take(self.obs[b], idx, axis=0, out=o[b, pad:])
            np.take(self.action[b], idx, axis=0, out=a[b, pad:])
            np.take(self.next_obs[b], idx, axis=0, out=n[b, pad:])
        return o, a, n, mask


class MPCController:
    """Plans for B robots at once and keeps what the contexts need.

    Args:
        planner: a `planner.Planner` with batch B (e.g. `Planner.from_file(...)`).
        history: K, transitions kept per robot.
        replan_every: plan every n-th step and execute the held plan in between (the
            warm start is shifted along, so the next plan continues from it).
        context: for a model that takes a context (C > 0): a fixed array [C] or [B, C],
            or a callable (History) -> [B, C] re-evaluated at every planned step.
            Default: zeros. Must be None for a model without context.
        budget_ms: default time budget per plan (anytime planning), None = none. The
            context's inference time comes out of it.
        state_dim: S, needed only with a Python scorer (a native one knows it).

    Attributes:
        last: the last `PlanResult`.
        history: the `History`.
        context_ms: the last context inference's milliseconds.
    """

    def __init__(
        self,
        planner: Planner,
        *,
        history: int = 32,
        replan_every: int = 1,
        context: np.ndarray | ContextFn | None = None,
        budget_ms: float | None = None,
        state_dim: int | None = None,
    ) -> None:
        if not isinstance(planner, Planner):
            raise TypeError(f"planner: expected a planner.Planner, got {type(planner).__name__}")
        if replan_every < 1:
            raise ValueError(f"replan_every must be >= 1, got {replan_every}")
        self.planner = planner
        self.batch = planner.batch
        self.action_dim = planner.action_dim
        self.obs_dim = planner.state_dim if planner.state_dim is not None else state_dim
        if self.obs_dim is None:
            raise ValueError("state_dim (S) is required with a Python scorer")
        self.context_dim = planner.context_dim
        self.horizon = planner.horizon
        self.replan_every = int(replan_every)
        self.budget_ms = budget_ms
        self.history = History(self.batch, history, self.obs_dim, self.action_dim)
        self._context_fn: ContextFn | None = None
        self._fixed: np.ndarray | None = None
        C, B = self.context_dim, self.batch
        if C == 0:
            if context is not None:
                raise ValueError("context: this model takes no context (C=0); pass context=None")
        elif context is None:
            self._fixed = np.zeros((B, C), np.float32)
        elif callable(context):
            self._context_fn = context
        else:
            c = np.asarray(context, np.float32)
            if c.shape == (C,):
                c = np.broadcast_to(c, (B, C))
            if c.shape != (B, C):
                raise ValueError(f"context: expected shape [C] = ({C},) or [B, C] = ({B}, {C}), got {c.shape}")
            self._fixed = np.ascontiguousarray(c)
        self._prev_obs = np.zeros((B, self.obs_dim), np.float32)
        self._prev_act = np.zeros((B, self.action_dim), np.float32)
        self._have_prev = np.zeros(B, bool)
        self._plan = np.zeros((B, self.horizon, self.action_dim), np.float32)
        self._since_plan = self.replan_every  # forces a plan on the first step
        self.last: PlanResult | None = None
        self.context: np.ndarray | None = None
        self.context_ms = 0.0  # the last context inference's time

    @property
    def state_dim(self) -> int:
        return self.obs_dim

    def reset(self, b: int | None = None) -> None:
        """Episode start for robot b (None: all): clears its history and warm start."""
        self.history.reset(b)
        self.planner.reset(b)
        if b is None:
            self._have_prev[:] = False
            self._since_plan = self.replan_every
        else:
            self._have_prev[b] = False
            self._since_plan = self.replan_every  # robot b must not execute its last episode's held plan

    def observe(self, obs: Any) -> np.ndarray:
        """Records the transition that ended in `obs` ([S] or [B, S]); returns obs as float32 [B, S]."""
        o = as_observation(obs, self.batch, self.obs_dim)
        for b in np.flatnonzero(self._have_prev):
            self.history.push(b, self._prev_obs[b], self._prev_act[b], o[b])
        self._prev_obs[:] = o
        return o

    def infer_context(self) -> np.ndarray | None:
        """The context [B, C] for the next plan (None for a model without one)."""
        if self.context_dim == 0:
            return None
        if self._context_fn is None:
            return self._fixed
        c = np.asarray(self._context_fn(self.history))
        if c.shape != (self.batch, self.context_dim) or c.dtype != np.float32:
            raise ValueError(
                f"context source returned {c.dtype} {c.shape}; expected float32 [B, C] = ({self.batch}, "
                f"{self.context_dim})"
            )
        return c

    def plan(self, obs: np.ndarray, budget_ms: float | None = None) -> PlanResult:
        """Plans from float32 [B, S] `obs` (see `observe`) with the current context.

        With a budget, the context's inference time (`context_ms`) comes out of it: the
        plan gets the rest (at least one iteration always runs)."""
        t0 = time.perf_counter()
        self.context = self.infer_context()
        self.context_ms = (time.perf_counter() - t0) * 1e3
        budget = self.budget_ms if budget_ms is None else budget_ms
        if budget is not None:
            budget = max(float(budget) - self.context_ms, 1e-3)
        r = self.planner.plan(obs, self.context, budget_ms=budget)
        self.last = r
        self._plan[:] = r.plan
        self._since_plan = 0
        return r

    def act(self, obs: Any, budget_ms: float | None = None) -> np.ndarray:
        """One control step: observe, plan (or hold), remember the action. Returns [A] or [B, A]."""
        action, _ = self.act_observed(self.observe(obs), budget_ms)
        return action[0] if np.ndim(obs) == 1 else action

    def act_observed(self, obs: np.ndarray, budget_ms: float | None = None) -> tuple[np.ndarray, PlanResult | None]:
        """`act` after `observe`: plans from float32 [B, S] `obs` when a plan is due, else
        executes the held plan. Returns (action [B, A], the PlanResult or None when held)."""
        r = None
        if self._since_plan >= self.replan_every:
            r = self.plan(obs, budget_ms)
        else:
            self.planner.shift(1)  # keep the warm start aligned with the executed steps
        k = min(self._since_plan, self.horizon - 1)
        action = self._plan[:, k].copy()
        self._since_plan += 1
        self.commit(action)
        return action, r

    def commit(self, action: np.ndarray) -> None:
        """Records the action [B, A] actually sent (for the next transition)."""
        self._prev_act[:] = action
        self._have_prev[:] = True
