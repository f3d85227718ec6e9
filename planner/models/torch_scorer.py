"""A batched Python scorer that plans with a torch `WorldModel` (the ask/tell path).

Example::

    scorer = TorchScorer(load_model("pendulum_small.lpm.safetensors"))
    p = planner.Planner(scorer, planner.MPPIConfig(...), lower=[-2], upper=[2], action_dim=1)
    action = p.plan(obs.astype(np.float32)).action     # obs: the raw observation [S]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .world_model import WorldModel

__all__ = ["TorchScorer"]


class TorchScorer:
    """``(state [B, S], actions [B, N, H, A]) -> returns [B, N]``, all float32 numpy.

    The state is the raw observation; actions are raw, inside the model's action box.
    Inputs are wrapped with ``torch.from_numpy`` (no copy) and the rollout runs under
    ``torch.inference_mode()`` on the CPU.

    Args:
        model: the world model (put in eval mode here).
        context: [C] (shared by every problem) or [B, C]; None when C = 0. Change it
            between plans with `set_context`.
        disagreement: lambda >= 0 of the ensemble-disagreement penalty.
    """

    def __init__(self, model: WorldModel, context: Any = None, disagreement: float = 0.0) -> None:
        if disagreement < 0:
            raise ValueError(f"disagreement must be >= 0, got {disagreement}")
        self.model = model.eval()
        self.disagreement = float(disagreement)
        self._context: torch.Tensor | None = None
        self.set_context(context)

    @property
    def obs_dim(self) -> int:
        return self.model.config.obs_dim

    @property
    def action_dim(self) -> int:
        return self.model.config.action_dim

    def set_context(self, context: Any) -> None:
        """Sets the context c: [C] or [B, C] float, or None when C = 0."""
        C = self.model.config.context_dim
        if context is None:
            self._context = None
            return
        c = torch.as_tensor(np.asarray(context, np.float32))
        if C == 0 or c.ndim not in (1, 2) or c.shape[-1] != C:
            raise ValueError(f"context: expected shape [C] or [B, C] with C={C}, got {tuple(c.shape)}")
        if not torch.isfinite(c).all():
            raise ValueError("context must be finite")
        self._context = c

    def __call__(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        S, A, C = self.obs_dim, self.action_dim, self.model.config.context_dim
        for name, x, nd in (("state", state, 2), ("actions", actions, 4)):
            if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.c_contiguous:
                raise TypeError(f"{name}: expected a float32 C-contiguous numpy array")
            if x.ndim != nd:
                raise ValueError(f"{name}: expected {nd} dims, got shape {x.shape}")
        B = state.shape[0]
        if state.shape[1] != S:
            raise ValueError(f"state: expected shape [B, S] with S={S}, got {state.shape}")
        if actions.shape[0] != B or actions.shape[3] != A:
            raise ValueError(f"actions: expected shape [B, N, H, A] with B={B}, A={A}, got {actions.shape}")
        c = self._context
        if C:
            if c is None:
                raise ValueError(f"this model needs a context [C={C}]: pass context= or call set_context()")
            c = c.expand(B, C) if c.ndim == 1 else c
            if c.shape[0] != B:
                raise ValueError(f"context: expected [B, C] with B={B}, got {tuple(c.shape)}")
        with torch.inference_mode():
            r = self.model.rollout_returns(torch.from_numpy(state), torch.from_numpy(actions), c, self.disagreement)
        return r.numpy()
