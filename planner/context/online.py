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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core

__all__ = ["OracleContext", "OutcomeContext"]


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
        return self.encoder.infer(obs, act, nxt, mask.astype(np.uint8))


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
