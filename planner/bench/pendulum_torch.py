"""Analytic Pendulum-v1 dynamics and reward in plain torch, batched over samples.

Matches gymnasium's ``Pendulum-v1`` step exactly (up to float32 rounding):

    u       = clip(u, -2, 2)
    reward  = -(angle_normalize(th)^2 + 0.1 * thdot^2 + 0.001 * u^2)   # state before the step
    thdot'  = clip(thdot + (3g/(2l) sin(th) + 3/(m l^2) u) dt, -8, 8)
    th'     = th + thdot' dt

with g=10, m=1, l=1, dt=0.05.
"""

from __future__ import annotations

import math

import torch

G = 10.0
M = 1.0
L = 1.0
DT = 0.05
MAX_SPEED = 8.0
MAX_TORQUE = 2.0

# Coefficients of the thdot update, folded with dt.
_SIN_COEF = 3.0 * G / (2.0 * L) * DT  # 0.75
_U_COEF = 3.0 / (M * L * L) * DT  # 0.15
_TWO_PI = 2.0 * math.pi


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """Wrap angles to [-pi, pi) like gymnasium (python ``%`` semantics)."""
    return torch.remainder(x + math.pi, _TWO_PI) - math.pi


def step(th: torch.Tensor, thdot: torch.Tensor, u: torch.Tensor):
    """One Pendulum-v1 step. Returns ``(new_th, new_thdot, reward)``.

    ``th``, ``thdot`` and ``u`` broadcast together; ``u`` is clipped to the torque bounds.
    """
    u = torch.clamp(u, -MAX_TORQUE, MAX_TORQUE)
    reward = -(angle_normalize(th).square() + 0.1 * thdot.square() + 0.001 * u.square())
    new_thdot = torch.clamp(thdot + _SIN_COEF * torch.sin(th) + _U_COEF * u, -MAX_SPEED, MAX_SPEED)
    new_th = th + new_thdot * DT
    return new_th, new_thdot, reward


def rollout_returns(
    th0: float,
    thdot0: float,
    actions: torch.Tensor,
    out: torch.Tensor | None = None,
    *,
    clip_actions: bool = True,
) -> torch.Tensor:
    """Undiscounted Pendulum-v1 return of each action sequence from one start state.

    Args:
        th0, thdot0: the start state.
        actions: ``[N, H]`` or ``[N, H, 1]`` torques.
        out: optional ``[N]`` buffer for the returns.
        clip_actions: set to ``False`` when ``actions`` are already inside the torque
            bounds (saves one op per step).

    Returns:
        ``[N]`` sum of rewards over the horizon.
    """
    if actions.dim() == 3:
        actions = actions[..., 0]
    n, horizon = actions.shape
    dtype, device = actions.dtype, actions.device
    th = torch.full((n,), float(th0), dtype=dtype, device=device)
    thdot = torch.full((n,), float(thdot0), dtype=dtype, device=device)
    ret = out if out is not None else torch.empty(n, dtype=dtype, device=device)
    if clip_actions:
        actions = torch.clamp(actions, -MAX_TORQUE, MAX_TORQUE)
    # The control cost does not depend on the state: one reduction for the whole horizon.
    torch.sum(actions.square(), dim=1, out=ret)
    ret.mul_(-0.001)
    sin_th = torch.empty_like(th)
    for t in range(horizon):
        a = angle_normalize(th)
        ret.addcmul_(a, a, value=-1.0)
        ret.addcmul_(thdot, thdot, value=-0.1)
        torch.sin(th, out=sin_th)
        thdot.add_(sin_th, alpha=_SIN_COEF).add_(actions[:, t], alpha=_U_COEF)
        thdot.clamp_(-MAX_SPEED, MAX_SPEED)
        th.add_(thdot, alpha=DT)
    return ret
