"""Context sources for `MPCController(context=...)`: callables (History) -> [B, C] float32.

- `OutcomeContext`: the model file's context encoder q(c | last K transitions), run
  natively (no torch) on the controller's history every control step; at episode start
  the history is zero-padded and masked, as in training.
- `OracleContext`: the true, normalized physical parameters of the environment (log
  scale factors relative to nominal, in the order the model was trained with): the
  PC-oracle arm of ShiftBench.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core

__all__ = ["OracleContext", "OutcomeContext", "RefinedContext"]


class OutcomeContext:
    """Infers the context from the robot's recent transitions with the model's encoder.

    Args:
        model: a `planner.WorldModel` or a model file path; it must carry a context
            encoder (docs/MODEL_FORMAT.md, "Context encoder").

    Attributes:
        history: K, the transitions the encoder reads (give the controller the same K).
        context_dim: C.
    """

    def __init__(self, model: Any) -> None:
        if isinstance(model, (str, Path)):
            model = _core.WorldModel.load(str(model))
        if not isinstance(model, _core.WorldModel):
            raise TypeError(f"model: expected a planner.WorldModel or a model file path, got {type(model).__name__}")
        if not model.has_context_encoder:
            raise ValueError("model: this model file has no context encoder (train with context 'outcome')")
        self.encoder = _core.ContextEncoder(model)
        self.history = int(self.encoder.history)
        self.context_dim = int(self.encoder.context_dim)

    def __call__(self, history: Any) -> np.ndarray:
        if history.length != self.history:
            raise ValueError(
                f"history: the encoder reads K={self.history} transitions, the controller keeps {history.length}; "
                f"create MPCController(..., history={self.history})"
            )
        obs, act, nxt, mask = history.window()
        return self.encoder.infer(obs, act, nxt, mask)


class OracleContext:
    """The environment's true log scale factors: the PC-oracle context.

    Args:
        env: the (shift-wrapped) environment being controlled.
        names: parameter names in the model's context order (default: the
            `parameter_names` a model file records, see `from_model`).
    """

    def __init__(self, env: Any, names: Sequence[str]) -> None:
        from ..envs import oracle_context

        self._env, self.names, self._fn = env, tuple(names), oracle_context
        self.context_dim = len(self.names)

    @classmethod
    def from_model(cls, env: Any, model: Any) -> OracleContext:
        """Names from the model file's training record (`info.parameter_names`)."""
        if isinstance(model, (str, Path)):
            model = _core.WorldModel.load(str(model))
        info = json.loads(model.metadata).get("info", {}) if model.metadata else {}
        names = info.get("parameter_names")
        if not names or info.get("context") != "oracle":
            raise ValueError("model: not trained with an oracle context (info.context 'oracle', parameter_names)")
        if len(names) != model.context_dim:
            raise ValueError(f"model: C={model.context_dim} but it was trained on {len(names)} parameters {names}")
        return cls(env, names)

    def __call__(self, history: Any) -> np.ndarray:
        c = np.asarray(self._fn(self._env, self.names), np.float32)
        return np.ascontiguousarray(np.broadcast_to(c, (history.batch, self.context_dim)))


class RefinedContext:
    """OC+CMA: the encoder's context, refined online by CMA-ES on recent one-step
    prediction error (no reward), inside a trust region around the encoder's output.

    Each call infers c0 with the encoder. Refinement runs when the last transition's
    one-step error under the context in use exceeds `surprise` times its running mean
    (outcome verification), or every `every` steps (0: never on a schedule), once at
    least `min_transitions` transitions are in the window. CMA-ES (the `cma` package)
    starts at c0 with step `sigma`, searches the box c0 +- `radius`, for `iterations`
    generations of `popsize`, minimizing the mean over the window of
    ``|| z(s, a, c)_1 - encode(s') ||^2`` (the model's own latent one-step error,
    computed natively). The refined offset from c0 is kept until the next refinement
    (so the context keeps tracking the encoder between refinements).

    Args:
        model: a model file or `planner.WorldModel` with a context encoder.
        budget_ms: time budget of one refinement (None: every generation runs). After
            the first generation, the next starts only if it is expected to end within
            the budget (the planner's anytime rule); the best context so far is kept.
            `MPCController` also takes the context's time out of the plan's budget.
    Attributes:
        refinements: how many refinements ran; last_error: the last transition's error;
        last_generations: generations the last refinement ran.
    """

    def __init__(
        self,
        model: Any,
        *,
        every: int = 0,
        surprise: float = 2.0,
        min_transitions: int = 4,
        sigma: float = 0.3,
        radius: float = 1.0,
        popsize: int = 8,
        iterations: int = 4,
        seed: int = 0,
        budget_ms: float | None = None,
    ) -> None:
        try:
            import cma  # noqa: F401
        except ImportError as e:
            raise ImportError("OC+CMA needs the cma package: pip install 'latent-planner[contexts]'") from e
        if isinstance(model, (str, Path)):
            model = _core.WorldModel.load(str(model))
        self.outcome = OutcomeContext(model)
        self.scorer = _core.LatentScorer(model, terminal_value=False)
        self.history, self.context_dim = self.outcome.history, self.outcome.context_dim
        for name, v, lo in (
            ("every", every, 0),
            ("min_transitions", min_transitions, 1),
            ("popsize", popsize, 2),
            ("iterations", iterations, 1),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        for name, v in (("surprise", surprise), ("sigma", sigma), ("radius", radius)):
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if budget_ms is not None and not (
            isinstance(budget_ms, (int, float))
            and not isinstance(budget_ms, bool)
            and np.isfinite(budget_ms)
            and budget_ms > 0
        ):
            raise ValueError(f"budget_ms must be a finite number > 0 or None, got {budget_ms!r}")
        self.budget_ms = None if budget_ms is None else float(budget_ms)
        self.last_generations = 0
        self.every, self.surprise, self.min_transitions = every, float(surprise), min_transitions
        self.sigma, self.radius, self.popsize, self.iterations, self.seed = sigma, radius, popsize, iterations, seed
        self._offset: np.ndarray | None = None
        self._last_c: np.ndarray | None = None
        self._mean_err: np.ndarray | None = None
        self._calls = 0
        self.refinements = 0
        self.last_error: np.ndarray | None = None

    def _errors(self, c: np.ndarray, obs: np.ndarray, act: np.ndarray, nxt: np.ndarray) -> float:
        target = self.scorer.encode(nxt)
        total = 0.0
        cc = np.ascontiguousarray(c, np.float32)
        for k in range(len(obs)):
            z, _ = self.scorer.predict(obs[k], act[k][None, None], cc)
            total += float(np.mean((z[0, 1] - target[k]) ** 2))
        return total / len(obs)

    def __call__(self, history: Any) -> np.ndarray:
        import cma

        c0 = self.outcome(history)  # [B, C]
        B, C = c0.shape
        if self._offset is None or self._offset.shape != c0.shape:
            self._offset = np.zeros_like(c0)
            self._mean_err = np.zeros(B)
            self._last_c = None
            self.last_error = np.zeros(B)
        obs, act, nxt, mask = history.window()
        self._calls += 1
        for b in range(B):
            valid = np.flatnonzero(mask[b])
            if len(valid) == 0:
                self._offset[b] = 0.0  # a new episode: start from the encoder again
                self._mean_err[b] = 0.0
                continue
            last = valid[-1:]
            c_used = c0[b] if self._last_c is None else self._last_c[b]
            err = self._errors(c_used, obs[b, last], act[b, last], nxt[b, last])
            self.last_error[b] = err
            surprised = self._mean_err[b] > 0 and err > self.surprise * self._mean_err[b]
            self._mean_err[b] = err if self._mean_err[b] == 0 else 0.9 * self._mean_err[b] + 0.1 * err
            scheduled = self.every > 0 and self._calls % self.every == 0
            if (surprised or scheduled) and len(valid) >= self.min_transitions:
                o, a, n = obs[b, valid], act[b, valid], nxt[b, valid]
                es = cma.CMAEvolutionStrategy(
                    c0[b].astype(np.float64),
                    self.sigma,
                    {
                        "bounds": [list(c0[b] - self.radius), list(c0[b] + self.radius)],
                        "popsize": self.popsize,
                        "maxiter": self.iterations,
                        "seed": self.seed + self.refinements + 1,
                        "verbose": -9,
                    },
                )
                t0 = time.perf_counter()
                best, best_f = c0[b].astype(np.float64), self._errors(c0[b], o, a, n)
                slowest, generations = 0.0, 0
                while not es.stop():
                    elapsed = (time.perf_counter() - t0) * 1e3
                    if generations and self.budget_ms is not None and elapsed + slowest > self.budget_ms:
                        break
                    tg = time.perf_counter()
                    xs = es.ask()
                    fs = [self._errors(np.asarray(x), o, a, n) for x in xs]
                    es.tell(xs, fs)
                    slowest = max(slowest, (time.perf_counter() - tg) * 1e3)
                    generations += 1
                    i = int(np.argmin(fs))
                    if fs[i] < best_f:
                        best, best_f = np.asarray(xs[i]), fs[i]
                self.last_generations = generations
                self._offset[b] = (best - c0[b]).astype(np.float32)
                self.refinements += 1
        c = np.ascontiguousarray(c0 + self._offset, np.float32)
        self._last_c = c
        return c
