"""A fixed-rate control loop around `MPCController`: deadlines, anytime planning, telemetry.

Every tick (period 1/hz) the runner reads the robots, plans with a time budget of
``budget_fraction`` of the period (minus what the tick has already spent), sends the
actions, and records telemetry. With ``realtime=False`` ticks run back to back (a
simulator that advances when an action is sent) but every plan gets the same budget,
so latency figures mean the same as on the robot.

With ``background=True`` a planning thread plans from the latest observation while
the previous action executes (the native planner releases the GIL). The control
thread never waits for a plan after the first: it executes step ``k - k_obs`` of the
newest plan, where ``k_obs`` is the tick whose observation that plan started from —
the plan is shifted by its own latency. The warm start is shifted the same way. Only
the first tick waits, for the first plan (reported as ``startup_ms``, not as a tick).

Telemetry: per-tick control latency (read -> send), plan time, iterations completed,
deadline misses (a tick whose work did not fit in the period), budget overruns (a
plan that ran past its budget) and whether every overrun stayed within one optimizer
iteration (the anytime guarantee).
"""

from __future__ import annotations

import json
import math
import numbers
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .controller import MPCController

__all__ = ["LoopRunner", "LoopStats"]

#: Slack allowed beyond one iteration for the end of a plan (copying the plan out and
#: the warm-start shift) when checking the anytime guarantee.
TAIL_MS = 0.2


@dataclass
class LoopStats:
    """Telemetry of one `LoopRunner.run`. Arrays are per tick (or per plan in background mode)."""

    hz: float
    budget_ms: float
    background: bool
    realtime: bool
    latency_ms: list[float] = field(default_factory=list)  # read -> send, per tick
    plan_ms: list[float] = field(default_factory=list)  # plan() wall time, per plan
    plan_budget_ms: list[float] = field(default_factory=list)  # the budget each plan got
    iterations: list[int] = field(default_factory=list)  # per plan
    max_iteration_ms: list[float] = field(default_factory=list)  # per plan
    plan_age: list[int] = field(default_factory=list)  # background: ticks between a plan's observation and use
    jitter_ms: list[float] = field(default_factory=list)  # realtime: tick start - scheduled start
    ticks: int = 0
    configured_iterations: int = 0
    startup_ms: float = 0.0  # background: the first tick, which waits for the first plan

    def record_plan(self, r: Any, budget_ms: float) -> None:
        """Adds one plan's figures (a `PlanResult` and the budget it had)."""
        self.plan_ms.append(r.elapsed_ms)
        self.plan_budget_ms.append(budget_ms)
        self.iterations.append(r.iterations)
        self.max_iteration_ms.append(r.max_iteration_ms)

    @property
    def period_ms(self) -> float:
        return 1e3 / self.hz

    def misses(self) -> int:
        """Ticks whose work (read, plan unless in background, send) took longer than the period."""
        return int(np.sum(np.asarray(self.latency_ms) > self.period_ms))

    def overruns(self) -> np.ndarray:
        """Per plan: ms past its budget (<= 0 when within)."""
        return np.asarray(self.plan_ms) - np.asarray(self.plan_budget_ms)

    def overrun_within_one_iteration(self) -> bool:
        """Every plan that overran did so by at most its slowest iteration (+ TAIL_MS)."""
        over = self.overruns()
        return bool(np.all(over <= np.asarray(self.max_iteration_ms) + TAIL_MS))

    def summary(self) -> dict:
        lat = np.asarray(self.latency_ms) if self.latency_ms else np.zeros(1)
        pm = np.asarray(self.plan_ms) if self.plan_ms else np.zeros(1)
        it = np.asarray(self.iterations) if self.iterations else np.zeros(1)
        over = self.overruns() if self.plan_ms else np.zeros(1)
        out = {
            "hz": self.hz,
            "period_ms": self.period_ms,
            "budget_ms": self.budget_ms if math.isfinite(self.budget_ms) else None,
            "background": self.background,
            "realtime": self.realtime,
            "ticks": self.ticks,
            "plans": len(self.plan_ms),
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99)),
            "latency_max_ms": float(lat.max()),
            "plan_p50_ms": float(np.percentile(pm, 50)),
            "plan_p99_ms": float(np.percentile(pm, 99)),
            "plan_max_ms": float(pm.max()),
            "deadline_misses": self.misses(),
            "budget_overruns": int(np.sum(over > 0)),
            "max_overrun_ms": float(max(0.0, over.max())),
            "overrun_within_one_iteration": self.overrun_within_one_iteration(),
            "iterations_mean": float(it.mean()),
            "iterations_min": int(it.min()),
            "configured_iterations": self.configured_iterations,
        }
        if self.background:
            out["startup_ms"] = self.startup_ms
        if self.plan_age:
            out["plan_age_mean_ticks"] = float(np.mean(self.plan_age))
            out["plan_age_max_ticks"] = int(np.max(self.plan_age))
        if self.jitter_ms:
            out["jitter_p99_ms"] = float(np.percentile(self.jitter_ms, 99))
        return out

    def to_json(self, per_tick: bool = False) -> str:
        d = self.summary()
        if per_tick:
            d.update(latency_ms=self.latency_ms, plan_ms=self.plan_ms, iterations=self.iterations)
        return json.dumps(d, indent=2)


class LoopRunner:
    """Runs `controller` on one robot or B robots at a fixed rate.

    Args:
        controller: an `MPCController` with batch B.
        robots: one robot (B = 1) or a sequence of B robots (see `planner.control.Robot`).
        hz: control rate.
        budget_fraction: share of the period given to planning (0 < f <= 1); None runs
            every configured iteration (deterministic plans, e.g. for benchmarks that
            compare models; deadline misses are still counted).
        realtime: sleep until each tick (a real robot); False runs ticks back to back.
        background: plan in a background thread while the last action executes
            (needs realtime=True: the plan's latency is measured against the clock).
    """

    def __init__(
        self,
        controller: MPCController,
        robots: Any,
        hz: float,
        *,
        budget_fraction: float | None = 0.8,
        realtime: bool = True,
        background: bool = False,
    ) -> None:
        if not isinstance(controller, MPCController):
            raise TypeError(f"controller: expected an MPCController, got {type(controller).__name__}")
        robots = list(robots) if isinstance(robots, Sequence) else [robots]
        if len(robots) != controller.batch:
            raise ValueError(f"robots: expected B={controller.batch} robots (the planner's batch), got {len(robots)}")
        for i, r in enumerate(robots):
            if not (callable(getattr(r, "read", None)) and callable(getattr(r, "send", None))):
                raise TypeError(f"robots[{i}]: expected an object with read() and send(action), got {type(r).__name__}")
        if isinstance(hz, bool) or not (isinstance(hz, numbers.Real) and np.isfinite(hz) and hz > 0):
            raise ValueError(f"hz: expected a finite rate > 0, got {hz}")
        if budget_fraction is not None and not (
            isinstance(budget_fraction, numbers.Real)
            and not isinstance(budget_fraction, bool)
            and 0 < budget_fraction <= 1
        ):
            raise ValueError(f"budget_fraction: expected 0 < f <= 1 or None (no budget), got {budget_fraction}")
        if background and not realtime:
            raise ValueError("background=True needs realtime=True: a background plan's latency is counted in ticks")
        if background and controller.replan_every != 1:
            raise ValueError("background=True plans continuously; use replan_every=1")
        self.controller = controller
        self.robots = robots
        self.hz = float(hz)
        self.period = 1.0 / self.hz
        self.budget_fraction = None if budget_fraction is None else float(budget_fraction)
        self.realtime = bool(realtime)
        self.background = bool(background)

    # -- helpers ------------------------------------------------------------------------
    def _read(self) -> np.ndarray:
        return np.stack([np.asarray(r.read()) for r in self.robots])

    def _send(self, action: np.ndarray) -> None:
        for b, r in enumerate(self.robots):
            if not getattr(r, "done", False):
                r.send(action[b])

    def _all_done(self) -> bool:
        return all(getattr(r, "done", False) for r in self.robots)

    def _new_stats(self) -> LoopStats:
        return LoopStats(
            self.hz,
            self._budget_ms(),
            self.background,
            self.realtime,
            configured_iterations=self.controller.planner.config.iterations,
        )

    def _next_tick(self, scheduled: float) -> float:
        """The next tick's start: one period on, or now when late (no burst to catch up)."""
        return max(scheduled + self.period, time.perf_counter())

    def _budget_ms(self) -> float:
        return math.inf if self.budget_fraction is None else self.budget_fraction * self.period * 1e3

    # -- running --------------------------------------------------------------------------
    def run(
        self,
        steps: int,
        *,
        stop_when_done: bool = True,
        on_step: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    ) -> LoopStats:
        """Runs `steps` ticks (fewer if every robot reports done and `stop_when_done`).

        `on_step(tick, obs [B, S], action [B, A])` is called after each send.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if self.background:
            return self._run_background(steps, stop_when_done, on_step)
        stats = self._new_stats()
        ctl = self.controller
        budget = self._budget_ms()
        clock = time.perf_counter
        next_tick = clock()
        for k in range(steps):
            if self.realtime:
                _sleep_until(next_tick)
                stats.jitter_ms.append((clock() - next_tick) * 1e3)
            t0 = clock()
            obs = ctl.observe(self._read())
            left = max(budget - (clock() - t0) * 1e3, 1e-3)
            action, r = ctl.act_observed(obs, left if math.isfinite(left) else None)
            if r is not None:
                stats.record_plan(r, left)
            self._send(action)
            stats.latency_ms.append((clock() - t0) * 1e3)
            stats.ticks += 1
            if on_step is not None:
                on_step(k, obs, action)
            if stop_when_done and self._all_done():
                break
            next_tick = self._next_tick(next_tick) if self.realtime else next_tick
        return stats

    def _run_background(self, steps: int, stop_when_done: bool, on_step) -> LoopStats:
        stats = self._new_stats()
        ctl = self.controller
        budget = self._budget_ms()
        clock = time.perf_counter
        cond = threading.Condition()
        state: dict[str, Any] = {"job": None, "plan": None, "plan_tick": -1, "stop": False, "error": None}

        def planner_thread() -> None:
            last_tick = None
            while True:
                with cond:
                    while state["job"] is None and not state["stop"]:
                        cond.wait()
                    if state["stop"]:
                        return
                    obs, ctx, k = state["job"]
                    state["job"] = None
                try:
                    if last_tick is not None and k - last_tick > 1:
                        ctl.planner.shift(k - last_tick - 1)  # plan() shifted by 1 already
                    r = ctl.planner.plan(obs, ctx, budget_ms=budget if math.isfinite(budget) else None)
                except Exception as e:  # surfaced in the control thread
                    with cond:
                        state["error"] = e
                        cond.notify_all()
                    return
                last_tick = k
                with cond:
                    state["plan"], state["plan_tick"] = r.plan.reshape(ctl.batch, ctl.horizon, -1).copy(), k
                    ctl.last, ctl.context = r, ctx  # what a synchronous act() would have left
                    ctl._plan[:] = state["plan"]
                    stats.record_plan(r, budget)
                    cond.notify_all()

        worker = threading.Thread(target=planner_thread, name="planner", daemon=True)
        worker.start()
        try:
            next_tick = clock()
            for k in range(steps):
                _sleep_until(next_tick)
                stats.jitter_ms.append((clock() - next_tick) * 1e3)
                t0 = clock()
                obs = ctl.observe(self._read())
                ctx = ctl.infer_context()
                with cond:
                    state["job"] = (obs.copy(), None if ctx is None else ctx.copy(), k)
                    cond.notify_all()
                    while state["plan"] is None and state["error"] is None:  # only the first tick waits
                        cond.wait()
                    if state["error"] is not None:
                        raise state["error"]
                    plan, kp = state["plan"], state["plan_tick"]
                age = k - kp
                action = plan[:, min(age, ctl.horizon - 1)].copy()
                ctl.commit(action)
                self._send(action)
                if k == 0:
                    stats.startup_ms = (clock() - t0) * 1e3  # the first tick waits for the first plan
                else:
                    stats.latency_ms.append((clock() - t0) * 1e3)
                stats.plan_age.append(age)
                stats.ticks += 1
                if on_step is not None:
                    on_step(k, obs, action)
                if stop_when_done and self._all_done():
                    break
                next_tick = self._next_tick(next_tick)
        finally:
            with cond:
                state["stop"] = True
                cond.notify_all()
            worker.join()
        if state["error"] is not None:  # raised after the control thread's last look
            raise state["error"]
        return stats


def _sleep_until(t: float) -> None:
    """Sleeps until perf_counter() >= t; the last half millisecond is spun for precision."""
    while True:
        left = t - time.perf_counter()
        if left <= 0:
            return
        if left > 5e-4:
            time.sleep(left - 5e-4)
