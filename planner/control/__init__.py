"""Closed-loop control: the Robot protocol, a gymnasium adapter, the MPC controller and
the fixed-rate loop runner (see docs/CONTROL.md)."""

from .controller import ContextFn, History, MPCController, as_observation
from .loop import LoopRunner, LoopStats
from .robot import GymRobot, Robot

__all__ = ["ContextFn", "GymRobot", "History", "LoopRunner", "LoopStats", "MPCController", "Robot", "as_observation"]
