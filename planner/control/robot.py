"""The robot interface the controller and the loop runner talk to, and a gymnasium adapter.

A robot is anything with `read()` and `send(action)`:

- ``read() -> array [S]``: the latest observation. The controller converts it to a
  float32 C-contiguous array once (the planner itself never converts); a wrong shape
  or a non-finite value is an error.
- ``send(action [A] float32) -> None``: the command to apply from now on (a real
  robot latches it; a simulator steps with it).
- optional ``stamp() -> float``: the time, in seconds on the robot's monotonic clock,
  at which the observation returned by the last `read()` was taken (for the caller's
  logs and latency accounting; the loop runner does not call it).
- optional ``done: bool``: the episode is over (the runner stops sending to it).

`GymRobot` adapts a gymnasium environment; docs/CONTROL.md wires a robot behind a
socket and a replayed ROS 2 bag the same way.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["GymRobot", "Robot"]


@runtime_checkable
class Robot(Protocol):
    """What the loop runner needs from a robot: read an observation, send an action."""

    def read(self) -> Any:
        """The latest observation [S]."""

    def send(self, action: np.ndarray) -> None:
        """Apply `action` [A] from now on."""


class GymRobot:
    """A gymnasium environment as a `Robot`: `send` steps the simulation.

    Args:
        env: a gymnasium environment (any wrappers, e.g. `planner.envs.ShiftWrapper`).
        seed: seed of the first `reset()`.

    Attributes:
        episode_return: sum of rewards since the last reset.
        done: the episode terminated or was truncated.
        steps: steps since the last reset.
        last_reward, last_info: from the last step.
    """

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.env = env
        self._seed = seed
        self._obs: np.ndarray | None = None
        dt = getattr(env.unwrapped, "dt", None)
        self.dt = float(dt) if dt is not None else 0.05
        self.episode_return = 0.0
        self.done = False
        self.steps = 0
        self.last_reward = 0.0
        self.last_info: dict = {}

    @property
    def observation_dim(self) -> int:
        return int(np.prod(self.env.observation_space.shape))

    @property
    def action_dim(self) -> int:
        return int(np.prod(self.env.action_space.shape))

    def reset(self, seed: int | None = None, options: dict | None = None) -> np.ndarray:
        """Starts an episode (seeded with `seed`, else the constructor's seed once)."""
        if seed is None:
            seed, self._seed = self._seed, None
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = np.asarray(obs)
        self.last_info = info
        self.episode_return = 0.0
        self.done = False
        self.steps = 0
        return self._obs

    def read(self) -> np.ndarray:
        if self._obs is None:
            self.reset()
        return self._obs

    def stamp(self) -> float:
        """Simulated time of the current observation (steps x dt)."""
        return self.steps * self.dt

    def send(self, action: np.ndarray) -> None:
        if self.done:
            raise RuntimeError("GymRobot.send: the episode is over (terminated or truncated); call reset() first")
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(action))
        self._obs = np.asarray(obs)
        self.last_reward = float(reward)
        self.last_info = info
        self.episode_return += float(reward)
        self.steps += 1
        self.done = bool(terminated or truncated)

    def close(self) -> None:
        self.env.close()
