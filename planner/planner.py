"""The Planner facade: the native loop for native scorers, ask/tell for Python ones."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import _core
from .config import CEMConfig, FloatOrSeq, ICEMConfig, MPPIConfig, OptimizerConfig

__all__ = ["ContextEncoder", "Planner", "PlanResult", "Scorer", "PythonScorer", "WorldModel", "LatentScorer"]

Scorer = _core.Scorer
WorldModel = _core.WorldModel
LatentScorer = _core.LatentScorer
ContextEncoder = _core.ContextEncoder
#: A batched Python scorer: (state [B, S] float32, actions [B, N, H, A] float32) ->
#: returns [B, N] float32 (numpy array or CPU torch tensor). Larger is better.
PythonScorer = Callable[[np.ndarray, np.ndarray], Any]


class PlanResult(NamedTuple):
    """One plan. Shapes are [A], [H, A] and scalars for an unbatched state [S], and
    [B, A], [B, H, A] and [B] arrays for a batched state [B, S].

    Attributes:
        action: first action of the plan, inside the action box.
        plan: the whole action sequence.
        best_return: best finite return seen while planning (-inf if none).
        nonfinite: samples that scored NaN or inf.
        fallback: True where no sample scored finite; action and plan are then the
            warm-started previous plan, clipped to the box.
        iterations: optimizer iterations completed (fewer than configured when a
            time budget stopped the plan).
        budget_stopped: True when the time budget ended the plan early.
        elapsed_ms: wall time of the plan.
        max_iteration_ms: the slowest iteration of the plan (a budgeted plan
            overruns its budget by at most about this much).
    """

    action: np.ndarray
    plan: np.ndarray
    best_return: float | np.ndarray
    nonfinite: int | np.ndarray
    fallback: bool | np.ndarray
    iterations: int = 0
    budget_stopped: bool = False
    elapsed_ms: float = 0.0
    max_iteration_ms: float = 0.0


def _budget(budget_ms: float | None) -> float:
    if budget_ms is None:
        return 0.0
    if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float)):
        raise TypeError(f"budget_ms: expected a number of milliseconds or None, got {type(budget_ms).__name__}")
    b = float(budget_ms)
    if not (math.isfinite(b) and b > 0):
        raise ValueError(f"budget_ms: expected a finite number > 0 (or None for no budget), got {budget_ms}")
    return b


def as_array(x: Any, name: str) -> np.ndarray:
    """Zero-copy view of a numpy array or a CPU tensor (DLPack / array interface).

    Only the container changes; dtype, layout and device are checked by the callee,
    which raises rather than convert.
    """
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (RuntimeError, BufferError, TypeError) as e:
            raise TypeError(f"{name}: cannot view {type(x).__name__} as a CPU array without a copy ({e})") from None
    if hasattr(x, "__array_interface__"):
        return np.asarray(x)
    raise TypeError(f"{name}: expected a float32 numpy array or CPU tensor, got {type(x).__name__}")


class Planner:
    """Batched sampling-based MPC planner.

    Args:
        scorer: a native scorer name ("pendulum", "cartpole", "point_mass",
            "diff_drive"), a `planner.Scorer`, or a batched Python callable
            (state [B, S], actions [B, N, H, A]) -> returns [B, N].
        config: `CEMConfig`, `ICEMConfig` or `MPPIConfig`.
        lower, upper: action box [A] (default: the native scorer's box; required
            for a Python scorer unless unbounded is intended).
        batch: B, problems (robots) solved per call.
        seed: RNG seed; the same seed gives the same plan on any thread count.
        threads: threads including the caller (0 = all cores).
        params: parameters of a named native scorer (e.g. {"m": 1.2}).
        warm_start: shift the plan by one step after each plan() call.
        action_dim: A, required for a Python scorer.
    """

    def __init__(
        self,
        scorer: str | _core.Scorer | PythonScorer,
        config: OptimizerConfig,
        *,
        lower: FloatOrSeq = None,
        upper: FloatOrSeq = None,
        batch: int = 1,
        seed: int = 0,
        threads: int = 0,
        params: dict | None = None,
        warm_start: bool = True,
        action_dim: int | None = None,
    ) -> None:
        if not isinstance(config, (CEMConfig, ICEMConfig, MPPIConfig)):
            raise TypeError(f"config must be CEMConfig, ICEMConfig or MPPIConfig, got {type(config).__name__}")
        self.config = config
        self.warm_start = bool(warm_start)
        core_cfg = config.to_core(seed=seed, lower=lower, upper=upper)
        if isinstance(scorer, str):
            scorer = _core.Scorer(scorer, params or {})
        elif params:
            raise ValueError("params apply only to a named native scorer")
        self._py_scorer: PythonScorer | None = None
        if isinstance(scorer, _core.Scorer):
            self.scorer = scorer
            self._native = _core.Planner(core_cfg, scorer, batch, threads, 1 if warm_start else 0)
            self._opt = None
        elif callable(scorer):
            if action_dim is None:
                raise ValueError("action_dim (A) is required for a Python scorer")
            self.scorer = None
            self._py_scorer = scorer
            self._native = None
            self._opt = _core.Optimizer(core_cfg, batch, action_dim)
        else:
            raise TypeError(f"scorer must be a name, a planner.Scorer or a callable, got {type(scorer).__name__}")
        self.batch = batch

    # -- properties -------------------------------------------------------------------
    @property
    def action_dim(self) -> int:
        """A."""
        return self._native.action_dim if self._native else self._opt.action_dim

    @property
    def state_dim(self) -> int | None:
        """S, the state (observation) size the native scorer takes; None for a Python scorer."""
        return self._native.state_dim if self._native else None

    @property
    def horizon(self) -> int:
        """H."""
        return self._native.horizon if self._native else self._opt.horizon

    @property
    def lower(self) -> np.ndarray:
        """Action box lower bound [A]."""
        return (self._native or self._opt).lower

    @property
    def upper(self) -> np.ndarray:
        """Action box upper bound [A]."""
        return (self._native or self._opt).upper

    @property
    def threads(self) -> int:
        """Threads the native loop uses (1 for a Python scorer)."""
        return self._native.threads if self._native else 1

    # -- planning ---------------------------------------------------------------------
    def plan(
        self, state: Any, context: Any = None, candidates: Any = None, budget_ms: float | None = None
    ) -> PlanResult:
        """Plans from `state` ([S] when B = 1, or [B, S]); float32, finite.

        Args:
            state: current state (for a latent model: the raw observation), float32
                C-contiguous.
            context: [C] (or [B, C]) dynamics context, required when the model takes
                one (context_dim > 0), else None.
            candidates: optional action sequences injected into every population of
                this plan ([P, H, A] with an unbatched state, else [B, P, H, A]).
            budget_ms: time budget (anytime planning): after the first iteration, the
                next starts only if it is expected to end within the budget; the
                result is the plan after the last completed iteration. None: run
                every configured iteration.
        """
        if type(state) is not np.ndarray:
            state = as_array(state, "state")
        if context is not None and type(context) is not np.ndarray:
            context = as_array(context, "context")
        if candidates is not None and type(candidates) is not np.ndarray:
            candidates = as_array(candidates, "candidates")
        budget = _budget(budget_ms)
        if self._native is not None:
            return PlanResult._make(self._native.plan(state, context, candidates, budget))
        return self._plan_python(state, context, candidates, budget)

    @classmethod
    def from_file(
        cls,
        path: str,
        config: OptimizerConfig,
        *,
        disagreement: float = 0.0,
        terminal_value: bool = True,
        **kwargs: Any,
    ) -> Planner:
        """A native planner scored by the latent world model in a model file.

        Args:
            path: a model file (docs/MODEL_FORMAT.md), e.g. written by
                `planner.models.export_model`.
            config: optimizer config.
            disagreement: weight of the ensemble-disagreement penalty (M >= 2).
            terminal_value: add the model's terminal value when it has one.
            **kwargs: as for `Planner` (batch, seed, threads, lower, upper, ...).
        """
        model = _core.WorldModel.load(str(path))
        scorer = _core.LatentScorer(model, disagreement=disagreement, terminal_value=terminal_value)
        p = cls(scorer, config, **kwargs)
        p.model = model
        return p

    @property
    def context_dim(self) -> int:
        """C, the context the scorer takes (0: none)."""
        return self._native.context_dim if self._native else 0

    def _plan_python(
        self, state: np.ndarray, context: np.ndarray | None, candidates: np.ndarray | None, budget_ms: float = 0.0
    ) -> PlanResult:
        t_start = time.perf_counter()
        opt = self._opt
        flat = state.ndim == 1
        if state.dtype != np.float32:
            raise TypeError(f"state: expected dtype float32 [B, S], got {state.dtype}")
        if flat and self.batch != 1:
            raise ValueError(f"state: expected shape [B, S] with B={self.batch}, got {state.shape}")
        if not np.all(np.isfinite(state)):
            raise ValueError("state [B, S] must be finite")
        batched = state[None] if flat else state
        if batched.ndim != 2 or batched.shape[0] != self.batch:
            raise ValueError(f"state: expected shape [B, S] with B={self.batch}, got {state.shape}")
        opt.begin()
        if candidates is not None:
            opt.set_candidates(candidates[None] if flat else candidates)
        args = () if context is None else (context[None] if flat else context,)
        done, slowest, stopped = 0, 0.0, False
        for it in range(self.config.iterations):
            if it > 0 and budget_ms > 0 and (time.perf_counter() - t_start) * 1e3 + slowest > budget_ms:
                stopped = True
                break
            t_iter = time.perf_counter()
            actions = opt.ask()
            returns = as_array(self._py_scorer(batched, actions, *args), "scorer returns")
            opt.tell(returns)
            slowest = max(slowest, (time.perf_counter() - t_iter) * 1e3)
            done += 1
        plan = np.clip(opt.solution(), opt.lower, opt.upper)
        best = opt.best_return()
        nonfinite = opt.nonfinite()
        fallback = ~np.isfinite(best)
        if self.warm_start:
            opt.shift(1)
        ms = (time.perf_counter() - t_start) * 1e3
        if flat:
            return PlanResult(
                plan[0, 0].copy(),
                plan[0],
                float(best[0]),
                int(nonfinite[0]),
                bool(fallback[0]),
                done,
                stopped,
                ms,
                slowest,
            )
        return PlanResult(plan[:, 0].copy(), plan, best, nonfinite, fallback, done, stopped, ms, slowest)

    def shift(self, steps: int = 1) -> None:
        """Warm start by hand: drop the first `steps` steps of the current plan."""
        (self._native or self._opt).shift(steps)

    def reset(self, b: int | None = None) -> None:
        """Back to the initial distribution (call at episode start); `b`: only robot b."""
        (self._native or self._opt).reset(b)

    def mean(self) -> np.ndarray:
        """Current sampling mean [B, H, A] (the warm start of the next plan)."""
        return (self._native or self._opt).mean()
