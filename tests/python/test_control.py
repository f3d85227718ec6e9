"""Closed-loop control: the History ring buffer, MPCController (validation, batching,
transitions, replanning, contexts), LoopRunner (synchronous, anytime budgets,
background planning, errors) and the socket robot (serve_robot + SocketRobot).

Everything runs on tiny planners (64 samples, horizon 10, one thread) and, except one
short background test, with realtime=False, so the file takes a few seconds. Timing is
never asserted as a speed target; only structure and the anytime rule are."""

import contextlib
import socket
import struct
import threading
import time

import numpy as np
import pytest
from model_files import random_model, save

import planner
from planner.control import GymRobot, History, LoopRunner, MPCController
from planner.control.loop import TAIL_MS
from planner.control.socket import ProtocolError, RemoteError, SocketRobot, serve_robot
from planner.evaluate import ASSETS

gym = pytest.importorskip("gymnasium")

PENDULUM_MODEL = ASSETS / "pendulum_small.lpm.safetensors"
H = 10


def analytic(batch=1, iterations=3):
    """The analytic pendulum scorer: state [theta, thdot], action [-2, 2]."""
    cfg = planner.MPPIConfig(samples=64, horizon=H, iterations=iterations)
    return planner.Planner("pendulum", cfg, batch=batch, threads=1, seed=0)


def model_planner(iterations=2, path=PENDULUM_MODEL, **kw):
    """A native latent planner from a model file (the shipped pendulum model by default)."""
    cfg = planner.MPPIConfig(samples=64, horizon=H, iterations=iterations)
    return planner.Planner.from_file(path, cfg, threads=1, seed=0, **kw)


def pendulum_robot(seed=0, max_steps=None):
    kw = {} if max_steps is None else {"max_episode_steps": max_steps}
    return GymRobot(gym.make("Pendulum-v1", **kw), seed=seed)


def record_plans(p):
    """Wraps `p.plan` on the instance; returns the list of (state, context, result) of every call."""
    calls = []
    inner = p.plan

    def plan(state, context=None, candidates=None, budget_ms=None):
        r = inner(state, context, candidates, budget_ms)
        calls.append((np.array(state, copy=True), None if context is None else np.array(context, copy=True), r))
        return r

    p.plan = plan
    return calls


def no_planner_thread_alive():
    return not any(t.name == "planner" and t.is_alive() for t in threading.enumerate())


class FakeRobot:
    """Observation k (after k sends) is a smooth function of k; NaN from send `nan_after` on."""

    def __init__(self, dim=3, nan_after=None):
        self.dim, self.nan_after = dim, nan_after
        self.sent: list[np.ndarray] = []

    def read(self):
        k = len(self.sent)
        if self.nan_after is not None and k >= self.nan_after:
            return np.full(self.dim, np.nan)
        return np.cos(0.3 * k + np.arange(self.dim))

    def send(self, action):
        self.sent.append(np.array(action, copy=True))


@pytest.fixture(scope="module")
def context_model(tmp_path_factory):
    """A random model file with a context (S=3, A=1, C=2): nothing to train, the format is enough."""
    tensors, meta = random_model(S=3, A=1, Z=8, C=2, hidden=16)
    path = tmp_path_factory.mktemp("control") / "context.lpm.safetensors"
    save(path, tensors, meta)
    return path


# -- History ------------------------------------------------------------------------------


def test_history_window_is_oldest_first_zero_padded_and_masked():
    h = History(batch=2, length=4, obs_dim=1, action_dim=1)
    for i in range(3):
        h.push(0, [i], [10 + i], [i + 1])
    o, a, n, mask = h.window()
    assert o.shape == n.shape == (2, 4, 1) and a.shape == (2, 4, 1) and mask.shape == (2, 4)
    np.testing.assert_array_equal(o[0, :, 0], [0, 0, 1, 2])
    np.testing.assert_array_equal(a[0, :, 0], [0, 10, 11, 12])
    np.testing.assert_array_equal(n[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(mask[0], [False, True, True, True])
    assert not mask[1].any() and not o[1].any()  # robot 1 has nothing yet


def test_history_wraps_around_after_more_than_k_pushes():
    h = History(batch=1, length=4, obs_dim=2, action_dim=1)
    for i in range(7):
        h.push(0, [i, -i], [10 + i], [i + 1, -i - 1])
    o, a, n, mask = h.window()
    np.testing.assert_array_equal(o[0, :, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(o[0, :, 1], [-3, -4, -5, -6])
    np.testing.assert_array_equal(a[0, :, 0], [13, 14, 15, 16])
    np.testing.assert_array_equal(n[0, :, 0], [4, 5, 6, 7])
    assert mask.all()


def test_history_reset_clears_only_the_given_robot():
    h = History(batch=2, length=3, obs_dim=1, action_dim=1)
    for i in range(2):
        h.push(0, [i], [i], [i + 1])
        h.push(1, [5 + i], [5 + i], [6 + i])
    h.reset(1)
    o, _, _, mask = h.window()
    np.testing.assert_array_equal(o[0, :, 0], [0, 0, 1])
    np.testing.assert_array_equal(mask[0], [False, True, True])
    assert not mask[1].any() and not o[1].any()
    h.push(1, [9], [9], [10])  # robot 1 starts over at its first slot
    o, _, _, mask = h.window()
    np.testing.assert_array_equal(o[1, :, 0], [0, 0, 9])
    h.reset()
    assert not h.window()[3].any()
    with pytest.raises(ValueError, match="K must be >= 1"):
        History(1, 0, 1, 1)


# -- MPCController -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obs, exc, pattern",
    [
        (np.zeros(3), ValueError, r"observation: expected shape .*\(2,\)"),
        (np.zeros((2, 2)), ValueError, r"observation: expected shape .*\(1, 2\)"),
        (np.array(["a", "b"]), TypeError, r"observation: expected a numeric array .*\(1, 2\)"),
        (None, TypeError, "observation"),
        (np.array([0.1, np.nan]), ValueError, "observation: must be finite"),
        (np.array([np.inf, 0.0]), ValueError, "observation: must be finite"),
    ],
)
def test_controller_rejects_bad_observations(obs, exc, pattern):
    ctl = MPCController(analytic())
    with pytest.raises(exc, match=pattern):
        ctl.act(obs)
    assert ctl.last is None and ctl.history.count.sum() == 0  # nothing planned, nothing recorded


def test_controller_batched_returns_b_by_a():
    ctl = MPCController(analytic(batch=2))
    obs = np.array([[0.5, 0.0], [-2.5, 1.0]])  # float64 in: converted once, by the controller
    a = ctl.act(obs)
    assert a.shape == (2, 1) and a.dtype == np.float32
    assert (a >= -2).all() and (a <= 2).all()
    assert ctl.last.plan.shape == (2, H, 1)
    with pytest.raises(ValueError, match=r"observation: expected shape \[B, S\] = \(2, 2\)"):
        ctl.act(obs[0])  # [S] is accepted only when B = 1
    single = MPCController(analytic())
    assert single.act(obs[0]).shape == (1,) and single.act(obs[:1]).shape == (1, 1)


def test_controller_records_the_transitions_it_sent():
    ctl = MPCController(analytic(), history=5)
    rng = np.random.default_rng(0)
    obs = [rng.uniform(-1, 1, 2) for _ in range(4)]  # float64, as from a simulator
    acts = [ctl.act(o) for o in obs]
    o, a, n, mask = ctl.history.window()
    np.testing.assert_array_equal(mask[0], [False, False, True, True, True])
    np.testing.assert_array_equal(o[0, 2:], np.float32(obs[:3]))
    np.testing.assert_array_equal(a[0, 2:], np.stack(acts[:3]))
    np.testing.assert_array_equal(n[0, 2:], np.float32(obs[1:]))
    ctl.reset()
    assert not ctl.history.window()[3].any()
    ctl.act(obs[0])  # the first step after a reset records no transition
    assert ctl.history.count[0] == 0


def test_controller_replans_every_n_and_executes_the_held_plan_between():
    p = analytic()
    calls = record_plans(p)
    shifts = []
    inner_shift = p.shift
    p.shift = lambda steps=1: (shifts.append(steps), inner_shift(steps))
    ctl = MPCController(p, replan_every=3)
    states = [np.array([0.4 * k - 1.0, 0.1 * k], np.float32) for k in range(7)]
    acts = [ctl.act(s) for s in states]
    assert len(calls) == 3  # ticks 0, 3 and 6
    for i, tick in enumerate((0, 3, 6)):
        np.testing.assert_array_equal(calls[i][0], states[tick][None])
    for k, a in enumerate(acts):
        np.testing.assert_array_equal(a, calls[k // 3][2].plan[0, k % 3])
    assert shifts == [1, 1, 1, 1]  # ticks 1, 2, 4, 5 keep the warm start aligned
    assert ctl.last is calls[-1][2]
    with pytest.raises(ValueError, match="replan_every"):
        MPCController(analytic(), replan_every=0)
    with pytest.raises(TypeError, match="planner.Planner"):
        MPCController(object())


def test_controller_context_handling(context_model):
    obs = np.cos(np.arange(6.0)).reshape(2, 3)
    with pytest.raises(ValueError, match="C=0"):
        MPCController(model_planner(), context=np.zeros(2, np.float32))
    # default: zeros [B, C]
    p = model_planner(path=context_model, batch=2)
    calls = record_plans(p)
    ctl = MPCController(p)
    assert ctl.context_dim == 2
    ctl.act(obs)
    np.testing.assert_array_equal(calls[-1][1], np.zeros((2, 2), np.float32))
    # a fixed [C] is broadcast to every robot
    p = model_planner(path=context_model, batch=2)
    calls = record_plans(p)
    MPCController(p, context=[0.5, -1.0]).act(obs)
    np.testing.assert_array_equal(calls[-1][1], [[0.5, -1.0], [0.5, -1.0]])
    with pytest.raises(ValueError, match=r"context: expected shape \[C\] = \(2,\) or \[B, C\] = \(2, 2\)"):
        MPCController(p, context=np.zeros(3))
    # a callable sees the history and is called once per plan
    seen = []

    def from_history(h):
        seen.append(int(h.window()[3].sum()))
        return np.full((2, 2), len(seen), np.float32)

    p = model_planner(path=context_model, batch=2)
    calls = record_plans(p)
    ctl = MPCController(p, context=from_history)
    for _ in range(3):
        ctl.act(obs)
    assert seen == [0, 2, 4]  # transitions of both robots recorded before each plan
    np.testing.assert_array_equal(calls[-1][1], np.full((2, 2), 3, np.float32))
    for bad in (np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float64), np.zeros(2, np.float32)):
        ctl = MPCController(model_planner(path=context_model, batch=2), context=lambda h, c=bad: c)
        with pytest.raises(ValueError, match=r"context source returned .*expected float32 \[B, C\] = \(2, 2\)"):
            ctl.act(obs)


# -- LoopRunner ----------------------------------------------------------------------------


def test_loop_runs_n_ticks_with_full_telemetry():
    robot = pendulum_robot()
    ctl = MPCController(model_planner())
    seen = []
    runner = LoopRunner(ctl, robot, hz=20, realtime=False)
    stats = runner.run(25, on_step=lambda k, o, a: seen.append((k, o.shape, a.shape)))
    assert stats.ticks == 25 and robot.steps == 25
    for name in ("latency_ms", "plan_ms", "plan_budget_ms", "iterations", "max_iteration_ms"):
        assert len(getattr(stats, name)) == 25, name
    assert stats.jitter_ms == [] and stats.plan_age == []  # neither realtime nor background
    assert seen == [(k, (1, 3), (1, 1)) for k in range(25)]
    assert all(1 <= i <= 2 for i in stats.iterations) and stats.configured_iterations == 2
    assert stats.budget_ms == pytest.approx(40.0)
    s = stats.summary()
    assert s["ticks"] == 25 and s["plans"] == 25 and not s["background"] and not s["realtime"]
    assert s["overrun_within_one_iteration"] is True
    assert '"ticks": 25' in stats.to_json(per_tick=True)


def test_loop_stops_when_the_robot_is_done():
    robot = pendulum_robot(max_steps=12)  # Pendulum-v1 truncates (at 200 by default)
    stats = LoopRunner(MPCController(model_planner()), robot, hz=20, realtime=False).run(50)
    assert stats.ticks == 12 and robot.done and robot.steps == 12
    robot = pendulum_robot(max_steps=12)
    stats = LoopRunner(MPCController(model_planner()), robot, hz=20, realtime=False).run(15, stop_when_done=False)
    assert stats.ticks == 15 and robot.steps == 12  # nothing is sent to a robot that is done


def test_loop_anytime_budget_stops_plans_early_and_overruns_by_at_most_one_iteration():
    """50 Hz with 10% of the period (2 ms) for a plan that is configured for 200 iterations."""
    ctl = MPCController(model_planner(iterations=200))
    results = []
    runner = LoopRunner(ctl, pendulum_robot(), hz=50, budget_fraction=0.1, realtime=False)
    stats = runner.run(30, on_step=lambda k, o, a: results.append(ctl.last))
    assert stats.ticks == 30 and len(results) == 30 and stats.configured_iterations == 200
    assert stats.budget_ms == pytest.approx(2.0)
    np.testing.assert_array_equal(stats.iterations, [r.iterations for r in results])
    assert all(1 <= r.iterations <= 200 for r in results)
    assert any(r.iterations < 200 for r in results)
    for r in results:  # budget_stopped says exactly when the budget cut the plan short
        assert r.budget_stopped == (r.iterations < 200)
    over = stats.overruns()
    assert (np.asarray(stats.plan_budget_ms) <= 2.0).all()
    assert (over <= np.asarray(stats.max_iteration_ms) + TAIL_MS).all(), (over, stats.max_iteration_ms)
    assert stats.overrun_within_one_iteration()
    assert stats.summary()["iterations_min"] < 200


def test_loop_background_executes_the_published_plan_shifted_by_its_age():
    """Realtime, 100 Hz, 20 ticks: the only test that runs against the clock."""
    p = model_planner()
    calls = record_plans(p)  # called from the planning thread
    ctl = MPCController(p)
    ticks = []
    runner = LoopRunner(ctl, pendulum_robot(), hz=100, realtime=True, background=True)
    stats = runner.run(20, on_step=lambda k, o, a: ticks.append((o.copy(), a.copy())))
    assert no_planner_thread_alive()
    assert stats.ticks == 20 and len(ticks) == 20 and stats.background
    assert len(stats.plan_age) == 20 and len(stats.jitter_ms) == 20
    assert len(stats.latency_ms) == 19 and stats.startup_ms > 0  # tick 0 waits for the first plan
    assert stats.plan_age[0] == 0 and all(age >= 0 for age in stats.plan_age)
    assert 1 <= len(calls) == len(stats.plan_ms) == len(stats.iterations) <= 20
    published = {state.tobytes(): r.plan for state, _, r in calls}
    for k, (_, action) in enumerate(ticks):
        age = stats.plan_age[k]
        plan = published[ticks[k - age][0].tobytes()]  # the plan made from tick k - age's observation
        np.testing.assert_array_equal(action, plan[:, min(age, H - 1)])
    s = stats.summary()
    assert s["background"] and s["plan_age_max_ticks"] >= 0 and "startup_ms" in s


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(hz=0), ValueError, "hz"),
        (dict(hz=-5), ValueError, "hz"),
        (dict(hz=float("nan")), ValueError, "hz"),
        (dict(budget_fraction=0.0), ValueError, "budget_fraction"),
        (dict(budget_fraction=1.5), ValueError, "budget_fraction"),
        (dict(background=True, realtime=False), ValueError, "background=True needs realtime=True"),
        (dict(robots=[FakeRobot(), FakeRobot()]), ValueError, "expected B=1 robots"),
        (dict(robots=object()), TypeError, r"robots\[0\]: expected an object with read\(\) and send"),
        (dict(controller=object()), TypeError, "MPCController"),
    ],
)
def test_loop_rejects_bad_settings(kwargs, exc, pattern):
    args = dict(controller=MPCController(model_planner()), robots=FakeRobot(), hz=20)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        LoopRunner(args.pop("controller"), args.pop("robots"), args.pop("hz"), **args)


def test_loop_rejects_bad_steps_and_background_replanning():
    with pytest.raises(ValueError, match="replan_every=1"):
        LoopRunner(MPCController(model_planner(), replan_every=2), FakeRobot(), 20, background=True)
    with pytest.raises(ValueError, match="steps"):
        LoopRunner(MPCController(model_planner()), FakeRobot(), 20, realtime=False).run(0)


def test_loop_background_surfaces_a_nan_observation_and_joins_the_thread():
    robot = FakeRobot(nan_after=4)
    runner = LoopRunner(MPCController(model_planner()), robot, hz=200, background=True)
    with pytest.raises(ValueError, match="observation: must be finite"):
        runner.run(50)
    assert len(robot.sent) == 4 and no_planner_thread_alive()


def test_loop_background_surfaces_a_planner_thread_error_and_joins_the_thread():
    p = model_planner()
    inner = p.plan
    calls = []

    def failing(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("planner exploded")
        return inner(*args, **kwargs)

    p.plan = failing
    robot = FakeRobot()
    with pytest.raises(RuntimeError, match="planner exploded"):
        LoopRunner(MPCController(p), robot, hz=200, background=True).run(100)
    assert calls == ["planner"] * 3  # it was the planning thread that raised
    assert 2 <= len(robot.sent) < 100 and no_planner_thread_alive()


def test_loop_background_raises_a_planner_error_that_comes_after_the_last_tick():
    # The plan of the last tick fails while the control thread is already finishing:
    # run() must still raise it (it used to return normally).
    p = model_planner()
    inner = p.plan
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("late planner failure")
        return inner(*args, **kwargs)

    p.plan = failing
    with pytest.raises(RuntimeError, match="late planner failure"):
        LoopRunner(MPCController(p), FakeRobot(), hz=200, background=True).run(
            2, on_step=lambda k, o, a: time.sleep(0.05)
        )
    assert no_planner_thread_alive()


def test_loop_accepts_numpy_rates_and_refuses_booleans():
    LoopRunner(MPCController(analytic()), FakeRobot(dim=2), hz=np.int64(20), realtime=False)
    with pytest.raises(ValueError, match="hz"):
        LoopRunner(MPCController(analytic()), FakeRobot(dim=2), hz=True, realtime=False)


def test_loop_background_surfaces_a_context_error_and_joins_the_thread(context_model):
    def context(h):
        if h.count[0] >= 3:
            raise KeyError("context estimator lost track")
        return np.zeros((1, 2), np.float32)

    robot = FakeRobot()
    ctl = MPCController(model_planner(path=context_model), context=context)
    with pytest.raises(KeyError, match="lost track"):
        LoopRunner(ctl, robot, hz=200, background=True).run(100)
    assert len(robot.sent) == 3 and no_planner_thread_alive()


# -- The socket robot ----------------------------------------------------------------------


def replay_return(seed, actions, max_steps=None):
    """Sum of rewards (and the observations) of `actions` replayed on a fresh env."""
    kw = {} if max_steps is None else {"max_episode_steps": max_steps}
    env = gym.make("Pendulum-v1", **kw)
    obs, _ = env.reset(seed=seed)
    total, seen = 0.0, [obs]
    for a in actions:
        obs, r, *_ = env.step(a)
        total += float(r)
        seen.append(obs)
    env.close()
    return total, seen


def test_socket_robot_closed_loop_matches_a_replay_bit_exactly():
    robot = pendulum_robot(seed=3)
    server, port = serve_robot(robot)
    ticks = []
    try:
        with SocketRobot("127.0.0.1", port, timeout=5.0, obs_dim=3, action_dim=1) as remote:
            ctl = MPCController(model_planner())
            stats = LoopRunner(ctl, remote, hz=20, realtime=False).run(
                30, on_step=lambda k, o, a: ticks.append((o.copy(), a[0].copy()))
            )
            assert stats.ticks == 30 and not remote.done
            assert remote.stamp() == pytest.approx(29 * robot.dt)  # the served robot's clock
            assert remote.obs_dim == 3
    finally:
        server.close()
    assert not server.running and server.errors == [] and server.clients == 1
    assert robot.steps == 30
    total, seen = replay_return(3, [a for _, a in ticks])
    assert robot.episode_return == total  # bit-exact: float32 actions went through unchanged
    for k, (o, _) in enumerate(ticks):
        np.testing.assert_array_equal(o[0], np.float32(seen[k]))
    with pytest.raises(ConnectionError, match="cannot connect"):
        SocketRobot("127.0.0.1", port, timeout=0.5)


def test_socket_robot_reports_done_and_the_loop_stops():
    robot = pendulum_robot(max_steps=5)
    with serve_robot(robot)[0] as server, SocketRobot("127.0.0.1", server.port, timeout=5.0) as remote:
        stats = LoopRunner(MPCController(model_planner()), remote, hz=20, realtime=False).run(20)
        assert stats.ticks == 5 and remote.done
        with pytest.raises(RemoteError, match="episode is over"):  # the robot's own error, passed on
            remote.send([0.0])
        assert remote.read().shape == (3,)  # the connection is still usable
    assert not server.running


def test_robot_server_shuts_down_cleanly_under_a_connected_client():
    robot = FakeRobot()
    server, port = serve_robot(robot)
    remote = SocketRobot("127.0.0.1", port, timeout=5.0)
    assert np.isnan(remote.stamp())  # nothing read yet
    remote.read()
    assert remote.stamp() > 0  # FakeRobot has no stamp(): the server's monotonic clock
    server.close()  # the client is idle between requests: it is dropped, the thread joined
    assert not server.running and server.errors == []
    with pytest.raises(ConnectionError, match="read"):
        remote.read()
    remote.close()
    server.close()  # idempotent


def test_socket_robot_wrong_sizes_are_clear_errors():
    class Shifty(FakeRobot):
        def read(self):
            return np.zeros(4 if len(self.sent) == 1 else 3)

    robot = Shifty()
    with serve_robot(robot, action_dim=1)[0] as server:
        with SocketRobot("127.0.0.1", server.port, timeout=5.0) as remote:
            assert remote.read().dtype == np.float32
            remote.send([1.0])
            with pytest.raises(ProtocolError, match=r"expected an observation of S=3 float32 \(the size of the first"):
                remote.read()
            with pytest.raises(RemoteError, match="expected an action of A=1 float32 values, got 2"):
                remote.send([1.0, 2.0])  # refused by the server (this client does not know A)
            remote.send(np.float64([0.5]))  # both errors left the connection in step
            assert remote.read().shape == (3,)
        with SocketRobot("127.0.0.1", server.port, timeout=5.0, obs_dim=2, action_dim=1) as remote:
            with pytest.raises(ProtocolError, match=r"expected an observation of S=2 float32, the server sent S=3"):
                remote.read()
            with pytest.raises(ValueError, match=r"expected an action of A=1 values, got shape \(2,\)"):
                remote.send([1.0, 2.0])
            with pytest.raises(ValueError, match="must be finite"):
                remote.send([np.nan])
            with pytest.raises(TypeError, match="numeric action"):
                remote.send(["a"])
    assert len(robot.sent) == 2 and any("A=1" in e for e in server.errors)


@contextlib.contextmanager
def raw_server(reply: bytes):
    """A bare TCP server: answers the first request with `reply` verbatim, then holds the
    connection open until the test is done (the client sees a timeout after the reply)."""
    listener = socket.create_server(("127.0.0.1", 0))
    release = threading.Event()

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(64)
            conn.sendall(reply)
            release.wait(10)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield listener.getsockname()[1]
    finally:
        release.set()
        th.join(10)
        listener.close()


@pytest.mark.parametrize(
    "reply, exc, pattern",
    [
        (b"", TimeoutError, r"read: timed out after 0.2 s waiting for the reply status byte"),
        (b"K" + struct.pack("<I", 3) + b"\0" * 6, TimeoutError, r"the observation \(S=3 float32\) \(6 of 12"),
        (b"X", ProtocolError, r"expected the reply status byte b'K' or b'E', got b'X'"),
        (b"K" + struct.pack("<I", 2**31), ProtocolError, r"observation size S=2147483648 exceeds the limit"),
        (b"E" + struct.pack("<I", 5) + b"oops!", RemoteError, r"the robot server reported: oops!"),
    ],
    ids=["silent", "truncated", "bad-status", "oversized", "remote-error"],
)
def test_socket_robot_bad_frames_name_what_was_expected(reply, exc, pattern):
    with raw_server(reply) as port, SocketRobot("127.0.0.1", port, timeout=0.2) as remote:
        with pytest.raises(exc, match=pattern):
            remote.read()
        if exc is not RemoteError:  # the stream is out of step: every later call says so
            with pytest.raises(ConnectionError, match="out of step"):
                remote.read()


def test_socket_robot_short_read_when_the_server_hangs_up():
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"K" + struct.pack("<I", 3) + b"\0" * 6)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        remote = SocketRobot("127.0.0.1", listener.getsockname()[1], timeout=5.0)
        with pytest.raises(ConnectionError, match=r"closed the connection after 6 of 12 bytes of the observation"):
            remote.read()
        remote.close()
        remote.close()  # idempotent
        with pytest.raises(ConnectionError, match="closed"):
            remote.read()
    finally:
        th.join(10)
        listener.close()


def test_robot_server_drops_malformed_clients_and_keeps_serving():
    robot = FakeRobot()
    with serve_robot(robot)[0] as server:
        for request in (b"Z", b"S" + struct.pack("<I", 2**20)):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as raw:
                raw.sendall(request)
                reply = b""
                while chunk := raw.recv(4096):  # the server answers 'E' and hangs up
                    reply += chunk
            assert reply[:1] == b"E"
            (n,) = struct.unpack("<I", reply[1:5])
            assert len(reply) == 5 + n
        assert "unknown request byte b'Z'" in server.errors[0] and "exceeds the limit" in server.errors[1]
        with SocketRobot("127.0.0.1", server.port, timeout=5.0) as remote:  # the next client is served
            np.testing.assert_array_equal(remote.read(), np.float32(robot.read()))
    assert not server.running and server.clients == 3
    with pytest.raises(TypeError, match="read"):
        serve_robot(object())


def test_loop_without_budget_runs_every_iteration_and_is_deterministic():
    def run():
        robot = pendulum_robot(seed=4, max_steps=15)
        robot.reset()
        stats = LoopRunner(
            MPCController(model_planner(iterations=3)), robot, hz=1000, budget_fraction=None, realtime=False
        ).run(15)
        return robot.episode_return, stats

    ret, stats = run()
    assert stats.iterations == [3] * 15 and stats.summary()["budget_ms"] is None
    assert stats.summary()["budget_overruns"] == 0
    assert run()[0] == ret
