"""Dynamics-shift wrappers (planner.envs.shifts / suites): each kind of shift does what it says."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from planner.envs import shifts, suites  # noqa: E402
from planner.envs.dynamics import MUJOCO_FIELDS, apply_dynamics, restore_dynamics  # noqa: E402
from planner.envs.shifts import (  # noqa: E402
    ShiftSpec,
    ShiftWrapper,
    check_spec,
    make_env,
    oracle_context,
    parameter_effects,
    parse_shift,
    resolve_shift,
    true_parameters,
)

MUJOCO_TASKS = ("InvertedPendulum-v5", "Reacher-v5", "Pusher-v5", "HalfCheetah-v5", "Hopper-v5")
MODEL_ARRAYS = sorted({a for a, _ in MUJOCO_FIELDS.values()} | {"body_mass"})


@pytest.fixture
def mj():
    return pytest.importorskip("mujoco")


def _model_bytes(env) -> dict[str, bytes]:
    model = env.unwrapped.model
    return {a: getattr(model, a).tobytes() for a in MODEL_ARRAYS}


def _rollout(env, actions, seed=0, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    out, applied = [obs], []
    for a in actions:
        obs, _, _, _, info = env.step(a)
        out.append(obs)
        applied.append(info.get("applied_action"))
    return np.asarray(out), applied


def _actions(env, n, seed=0):
    space = env.action_space
    return np.random.default_rng(seed).uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)


# ----------------------------------------------------------------------------- modeled


def _pendulum_next_thdot(th, thdot, u, m=1.0, l=1.0, g=10.0, dt=0.05):
    return thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt


def test_pendulum_mass_x2_next_theta_dot_follows_the_equations():
    env = make_env("Pendulum-v1", {"params": {"m": 2.0}})
    env.reset(seed=0)
    assert env.unwrapped.m == 2.0
    th, thdot, u = 0.7, -0.3, 1.5
    env.unwrapped.state = np.array([th, thdot])
    obs, *_ = env.step(np.array([u], np.float32))
    expected = _pendulum_next_thdot(th, thdot, u, m=2.0)
    nominal = _pendulum_next_thdot(th, thdot, u)
    assert obs[2] == pytest.approx(expected, abs=1e-6)
    # twice the mass: the torque's contribution to the velocity change is halved
    gravity = _pendulum_next_thdot(th, thdot, 0.0)
    assert obs[2] - gravity == pytest.approx((nominal - gravity) / 2, abs=1e-6)


def test_pendulum_payload_is_a_point_mass_at_the_tip():
    M, th, thdot, u = 0.5, 0.4, 0.2, -1.0
    env = make_env("Pendulum-v1", {"payload": {"mass": M}})
    env.reset(seed=0)
    env.unwrapped.state = np.array([th, thdot])
    obs, *_ = env.step(np.array([u], np.float32))
    m, l, g, dt = 1.0, 1.0, 10.0, 0.05  # rod (I = m l^2 / 3) plus a point mass at the tip
    thddot = ((m / 2 + M) * g * l * np.sin(th) + u) / ((m / 3 + M) * l**2)
    assert obs[2] == pytest.approx(thdot + thddot * dt, abs=1e-5)
    assert env.shift_log["edits"][0]["payload"] == "tip"
    assert true_parameters(env) == {"m": 1.0, "l": 1.0, "g": 1.0}  # unmodeled: not a parameter


def test_mujoco_modeled_edits_are_global_factors(mj):
    nominal = make_env("HalfCheetah-v5")
    env = make_env("HalfCheetah-v5", {"params": {"mass": 2.0, "damping": 0.5, "friction": 1.5, "gear": 0.4}})
    env.reset(seed=0)
    a, b = nominal.unwrapped.model, env.unwrapped.model
    np.testing.assert_array_equal(b.body_mass, a.body_mass * 2.0)
    np.testing.assert_array_equal(b.dof_damping, a.dof_damping * 0.5)
    np.testing.assert_array_equal(b.geom_friction[:, 0], a.geom_friction[:, 0] * 1.5)
    np.testing.assert_array_equal(b.geom_friction[:, 1:], a.geom_friction[:, 1:])
    np.testing.assert_array_equal(b.actuator_gear[:, 0], a.actuator_gear[:, 0] * 0.4)
    mass = next(e for e in env.shift_log["edits"] if e["parameter"] == "mass")
    assert mass["field"] == "body_mass"
    np.testing.assert_array_equal(np.array(mass["after"]), np.array(mass["before"]) * 2.0)
    json.dumps(env.shift_log)
    # and the dynamics differ from nominal under the same seed and actions
    acts = _actions(env, 5)
    assert not np.array_equal(_rollout(env, acts)[0], _rollout(nominal, acts)[0])


# ----------------------------------------------------------------------------- unmodeled


def test_action_delay_two_applies_zeros_then_the_first_command():
    env = make_env("Pendulum-v1", {"action_delay": 2})
    acts = _actions(env, 4)
    obs, applied = _rollout(env, acts, seed=3)
    np.testing.assert_array_equal(applied[0], [0.0])
    np.testing.assert_array_equal(applied[1], [0.0])
    np.testing.assert_array_equal(applied[2], acts[0])
    np.testing.assert_array_equal(applied[3], acts[1])
    ref, _ = _rollout(
        gym.make("Pendulum-v1"), [np.zeros(1, np.float32), np.zeros(1, np.float32), acts[0], acts[1]], seed=3
    )
    np.testing.assert_array_equal(obs, ref)


def test_action_scale_equals_nominal_stepped_with_scaled_action(mj):
    env = make_env("InvertedPendulum-v5", {"action_scale": 0.6})
    acts = _actions(env, 6)
    obs, _ = _rollout(env, acts, seed=1)
    ref, _ = _rollout(
        gym.make("InvertedPendulum-v5"), [(0.6 * a.astype(np.float64)).astype(np.float32) for a in acts], seed=1
    )
    np.testing.assert_array_equal(obs, ref)


def test_action_bias_is_added_then_clipped_to_the_box():
    env = make_env("Pendulum-v1", {"action_scale": 0.5, "action_bias": 1.5})
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([2.0], np.float32))
    np.testing.assert_array_equal(info["applied_action"], [2.0])  # 0.5 * 2 + 1.5 = 2.5 -> clipped to 2
    _, _, _, _, info = env.step(np.array([-2.0], np.float32))
    np.testing.assert_array_equal(info["applied_action"], [0.5])


def test_cripple_zeroes_one_actuator_from_step_t(mj):
    env = make_env("HalfCheetah-v5", "cripple=2@3")
    acts = _actions(env, 6)
    obs, applied = _rollout(env, acts, seed=2)
    expected = [a.copy() for a in acts]
    for k in range(3, 6):
        expected[k][2] = 0.0
    for k in range(6):
        np.testing.assert_array_equal(applied[k], expected[k])
    ref, _ = _rollout(gym.make("HalfCheetah-v5"), expected, seed=2)
    np.testing.assert_array_equal(obs, ref)


def test_cripple_acts_at_application_time_under_delay():
    env = make_env("Pendulum-v1", {"action_delay": 1, "cripple": {"actuator": 0, "from_step": 2, "factor": 0.5}})
    acts = np.array([[1.0], [-1.0], [2.0]], np.float32)
    _, applied = _rollout(env, acts)
    np.testing.assert_array_equal(np.concatenate(applied), [0.0, 1.0, -0.5])


def test_payload_adds_exactly_that_mass_to_the_body(mj):
    nominal = make_env("HalfCheetah-v5").unwrapped.model.body_mass.copy()
    env = make_env("HalfCheetah-v5", "payload=5")
    env.reset(seed=0)
    torso = shifts.available_bodies(env).index("torso") + 1
    mass = env.unwrapped.model.body_mass
    assert mass[torso] == nominal[torso] + 5.0
    np.testing.assert_array_equal(np.delete(mass, torso), np.delete(nominal, torso))
    edit = env.shift_log["edits"][0]
    assert edit["payload"] == "torso" and edit["after"] - edit["before"] == pytest.approx(5.0)
    env.reset(seed=0, options={"shift": {"params": {"mass": 2.0}, "payload": {"body": "bthigh", "mass": 1.0}}})
    bthigh = shifts.available_bodies(env).index("bthigh") + 1
    assert mass[bthigh] == nominal[bthigh] * 2.0 + 1.0  # payload on top of the scaled mass
    assert mass[torso] == nominal[torso] * 2.0


# ----------------------------------------------------------------------------- time-varying


def test_switch_changes_dynamics_exactly_at_step_t_without_compounding(mj):
    spec = {"params": {"mass": 1.5}, "switch": {"step": 3, "to": {"params": {"damping": 2.0}}}}
    env = make_env("HalfCheetah-v5", spec)
    acts = _actions(env, 6)
    obs, _ = _rollout(env, acts, seed=4)
    assert env.shift_log["phase"] == "switched" and env.shift_log["switch"]["at_step"] == 3
    ref_env = gym.make("HalfCheetah-v5")
    model0 = {a: getattr(ref_env.unwrapped.model, a).copy() for a in MODEL_ARRAYS}
    np.testing.assert_array_equal(env.unwrapped.model.body_mass, model0["body_mass"])  # mass x1.5 undone
    np.testing.assert_array_equal(env.unwrapped.model.dof_damping, model0["dof_damping"] * 2.0)
    # reference: mass x1.5 for steps 0..2, then nominal mass with damping x2
    ref = [ref_env.reset(seed=4)[0]]
    saved = apply_dynamics(ref_env, {"mass": 1.5})
    for a in acts[:3]:
        ref.append(ref_env.step(a)[0])
    restore_dynamics(ref_env, saved)
    apply_dynamics(ref_env, {"damping": 2.0})
    for a in acts[3:]:
        ref.append(ref_env.step(a)[0])
    np.testing.assert_array_equal(obs, np.asarray(ref))
    # without the switch the 4th observation would differ
    no_switch, _ = _rollout(make_env("HalfCheetah-v5", {"params": {"mass": 1.5}}), acts, seed=4)
    np.testing.assert_array_equal(obs[:4], no_switch[:4])
    assert not np.array_equal(obs[4], no_switch[4])
    assert true_parameters(env)["damping"] == 2.0 and true_parameters(env)["mass"] == 1.0


def test_switch_changes_action_transforms_and_resizes_the_queue():
    spec = {"action_delay": 2, "switch": {"step": 2, "to": {"action_delay": 1, "action_scale": 0.5}}}
    env = make_env("Pendulum-v1", spec)
    acts = np.array([[1.0], [2.0], [-2.0], [1.0]], np.float32)
    _, applied = _rollout(env, acts)
    # steps 0, 1: zeros (delay 2); at the switch the queue keeps the newest pending command
    np.testing.assert_array_equal(np.concatenate(applied), [0.0, 0.0, 2.0, -1.0])


# ----------------------------------------------------------------------------- undo, determinism


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("task", MUJOCO_TASKS)
def test_reset_restores_the_model_bit_for_bit(mj, task):
    fresh = _model_bytes(gym.make(task))
    spec = {
        "params": {"mass": 2.0, "inertia": 0.7, "damping": [0.2, 0.3], "friction": 0.3, "gear": 1.8},
        "payload": {"mass": 1.0},
        "action_delay": 2,
        "cripple": {"actuator": 0, "from_step": 1},
        "switch": {"step": 2, "to": {"params": {"mass": 0.5}, "action_delay": 1}},
    }
    env = make_env(task, spec)
    env.reset(seed=0)
    for a in _actions(env, 3):
        env.step(a)
    assert _model_bytes(env) != fresh
    env.reset(seed=1, options={"shift": None})
    assert _model_bytes(env) == fresh
    assert env.step_count == 0 and len(env._queue) == 0 and env.active_spec.is_nominal
    env.reset(seed=0)
    env.nominal()
    assert _model_bytes(env) == fresh
    env.reset(seed=0)
    env.close()
    assert _model_bytes(env) == fresh


def test_pendulum_reset_restores_attributes_exactly():
    env = make_env("Pendulum-v1", {"params": {"m": [0.3, 3.0], "l": 1.7, "g": 0.9}, "payload": {"mass": 0.3}})
    env.reset(seed=0)
    assert (env.unwrapped.m, env.unwrapped.l, env.unwrapped.g) != (1.0, 1.0, 10.0)
    env.reset(seed=0, options={"shift": "nominal"})
    assert (env.unwrapped.m, env.unwrapped.l, env.unwrapped.g) == (1.0, 1.0, 10.0)


def test_nominal_wrapper_is_the_identity(mj):
    for task in ("Pendulum-v1", "HalfCheetah-v5"):
        env = make_env(task)
        acts = _actions(env, 5)
        obs, _ = _rollout(env, acts, seed=7)
        ref, _ = _rollout(gym.make(task), acts, seed=7)
        np.testing.assert_array_equal(obs, ref)


def test_same_seed_same_draw_and_trajectory_different_seed_different_draw():
    spec = {"params": {"m": [0.5, 2.0], "l": {"choice": [0.8, 1.2]}}, "action_delay": [0, 3]}
    a, b = make_env("Pendulum-v1", spec, seed=3), make_env("Pendulum-v1", spec, seed=3)
    acts = _actions(a, 5)
    ta, _ = _rollout(a, acts, seed=5)
    tb, _ = _rollout(b, acts, seed=5)
    np.testing.assert_array_equal(ta, tb)
    assert a.shift_log["spec"] == b.shift_log["spec"] and a.shift_log["draw_seed"] == [3, 0, 5]
    m5 = a.shift_log["spec"]["params"]["m"]
    a.reset(seed=6)
    assert a.shift_log["spec"]["params"]["m"] != m5
    c = make_env("Pendulum-v1", spec, seed=4)
    c.reset(seed=5)
    assert c.shift_log["spec"]["params"]["m"] != m5
    # without a reset seed: the episode index, deterministically
    d, e = make_env("Pendulum-v1", spec, seed=3), make_env("Pendulum-v1", spec, seed=3)
    draws: list[list[float]] = [[], []]
    for w, out in zip((d, e), draws, strict=True):
        for _ in range(3):
            w.reset()
            out.append(w.shift_log["spec"]["params"]["m"])
    assert draws[0] == draws[1] and len(set(draws[0])) == 3


def test_resolve_shift_is_pure_and_per_field():
    spec = ShiftSpec(params={"mass": [0.5, 2.0], "damping": [0.2, 0.3]}, action_delay=[1, 3])
    r1, r2 = resolve_shift(spec, 7), resolve_shift(spec.to_dict(), 7)
    assert r1 == r2 and r1.is_resolved and not spec.is_resolved
    assert 0.5 <= r1.params["mass"] <= 2.0 and isinstance(r1.action_delay, int) and 1 <= r1.action_delay <= 3
    assert resolve_shift(spec, 8).params != r1.params
    # adding a field does not change the draws of the others
    only_mass = resolve_shift({"params": {"mass": [0.5, 2.0]}}, 7)
    assert only_mass.params["mass"] == r1.params["mass"]
    choice = {resolve_shift({"params": {"m": {"choice": [0.8, 1.2]}}}, s).params["m"] for s in range(30)}
    assert choice == {0.8, 1.2}
    sw = resolve_shift({"switch": {"step": [10, 20], "to": {"params": {"mass": [2.0, 3.0]}}}}, 1)
    assert 10 <= sw.switch.step <= 20 and 2.0 <= sw.switch.to.params["mass"] <= 3.0


# ----------------------------------------------------------------------------- specs


def test_parse_shift_forms(tmp_path):
    for text in ("nominal", "none", "", " None "):
        assert parse_shift(text).is_nominal
    s = parse_shift("mass=2,damping=0.2..0.3,action_delay=2,action_scale=0.6,payload=5@torso,cripple=1@200")
    assert s.params == {"damping": shifts.Uniform(0.2, 0.3), "mass": 2.0}
    assert (s.action_delay, s.action_scale, s.payload.mass, s.payload.body) == (2, 0.6, 5.0, "torso")
    assert (s.cripple.actuator, s.cripple.from_step, s.cripple.factor) == (1, 200, 0.0)
    assert parse_shift("cripple=0@5,cripple_factor=0.5").cripple.factor == 0.5
    js = '{"name": "x", "params": {"m": 2}, "switch": {"step": 100, "to": {"params": {"m": 0.5}}}}'
    assert parse_shift(js).switch.to.params == {"m": 0.5}
    path = tmp_path / "heavy.json"
    path.write_text(json.dumps({"params": {"mass": 3}}))
    assert parse_shift(str(path)) == ShiftSpec(name="heavy", params={"mass": 3.0})
    for bad, match in (("mass", "key=value"), ("foo=1", "unknown key 'foo'"), ("mass=abc", "expected a number")):
        with pytest.raises(ValueError, match=match):
            parse_shift(bad)
    with pytest.raises(ValueError, match="cannot read"):
        parse_shift(str(tmp_path / "missing.json"))


def test_spec_round_trips_through_json():
    spec = ShiftSpec.from_dict(
        {
            "name": "all",
            "params": {"mass": [0.5, 1.5], "gear": {"choice": [0.8, 1.2]}},
            "action_delay": 1,
            "action_scale": 0.6,
            "action_bias": -0.1,
            "cripple": {"actuator": 1, "from_step": 20, "factor": 0.25},
            "payload": {"body": "torso", "mass": 2.0},
            "switch": {"step": 30, "to": {"params": {"damping": 3.0}}},
        }
    )
    assert ShiftSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert ShiftSpec.from_dict(json.loads(spec.to_json())) == spec
    assert ShiftSpec().to_dict(compact=True) == {}


BAD_SPECS = [
    ({"params": {"foo": 2}}, r"params: unknown parameter 'foo'"),
    ({"params": {"mass": -1}}, r"params\.mass: .*negative"),
    ({"params": {"mass": 0}}, r"params\.mass: .*zero"),
    ({"params": {"mass": math.nan}}, r"params\.mass: .*non-finite"),
    ({"params": {"mass": math.inf}}, r"params\.mass: .*non-finite"),
    ({"params": {"mass": [2.0, 1.0]}}, r"params\.mass: .*lo <= hi"),
    ({"params": {"mass": [1.0, 2.0, 3.0]}}, r"params\.mass: a range must be"),
    ({"params": {"mass": {"choice": []}}}, r"params\.mass\.choice"),
    ({"params": {"mass": True}}, r"params\.mass: expected"),
    ({"payload": {"mass": -5}}, r"payload\.mass: .*negative mass"),
    ({"payload": {"body": "torso"}}, r"payload: missing 'mass'"),
    ({"action_delay": -1}, r"action_delay: .*negative"),
    ({"action_delay": 1.5}, r"action_delay: expected an integer"),
    ({"action_scale": 0}, r"action_scale: .*zero"),
    ({"action_bias": "x"}, r"action_bias: expected a finite number"),
    ({"cripple": {"actuator": -1}}, r"cripple\.actuator"),
    ({"cripple": {"actuator": 0, "factor": -1}}, r"cripple\.factor"),
    ({"cripple": {"actuator": 0, "oops": 1}}, r"cripple: unknown key\(s\) \['oops'\]"),
    ({"switch": {"to": {}}}, r"switch: missing 'step'"),
    ({"switch": {"step": 3}}, r"switch: missing 'to'"),
    ({"switch": {"step": 3, "to": {"switch": {"step": 1, "to": {}}}}}, r"switch inside a switch"),
    ({"switch": {"step": 3, "to": {"params": {"mass": -1}}}}, r"switch\.to: params\.mass"),
    ({"bogus": 1}, r"spec: unknown key\(s\) \['bogus'\]"),
    ([1, 2], r"spec: expected a JSON object"),
]


@pytest.mark.parametrize(("spec", "match"), BAD_SPECS)
def test_bad_specs_raise_clear_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        ShiftSpec.from_dict(spec)


def test_task_level_errors(mj):
    with pytest.raises(ValueError, match=r"unknown parameter 'mass' for Pendulum-v1.*\['m', 'l', 'g'\]"):
        make_env("Pendulum-v1", "mass=2")
    with pytest.raises(ValueError, match=r"unknown parameter 'm' for HalfCheetah-v5"):
        make_env("HalfCheetah-v5", "m=2")
    with pytest.raises(ValueError, match=r"payload\.body: no body 'head' in HalfCheetah-v5; available bodies: .*torso"):
        make_env("HalfCheetah-v5", "payload=1@head")
    with pytest.raises(ValueError, match=r"cripple\.actuator: index 6 out of range .* 6 actuator"):
        make_env("HalfCheetah-v5", "cripple=6@0")
    with pytest.raises(ValueError, match=r"switch\.to\.cripple\.actuator"):
        make_env("Hopper-v5", {"switch": {"step": 1, "to": {"cripple": {"actuator": 3}}}})
    env = make_env("HalfCheetah-v5", "mass=2")
    env.reset(seed=0)
    before = _model_bytes(env)
    with pytest.raises(ValueError, match="unknown parameter 'g'"):
        env.reset(seed=0, options={"shift": {"params": {"g": 2}}})
    assert _model_bytes(env) == before  # a bad spec changes nothing
    with pytest.raises(ValueError, match="seed"):
        make_env("Pendulum-v1", seed=-1)


def test_metaworld_is_reported_unsupported():
    with pytest.raises(ImportError, match=r"mujoco==3\.3\.0"):
        make_env("metaworld/push-v3")
    with pytest.raises(ImportError, match="Meta-World"):
        suites.suite("metaworld/push-v3", "ID")


# ----------------------------------------------------------------------------- effects, oracle


def test_no_effect_is_recorded_and_warned_once(mj):
    shifts._WARNED.discard(("Reacher-v5", "friction"))
    env = make_env("Reacher-v5", "friction=0.3,mass=2")
    with pytest.warns(UserWarning, match="'friction' has no effect"):
        env.reset(seed=0)
    assert list(env.shift_log["no_effect"]) == ["friction"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=1)  # once
        cheetah = make_env("HalfCheetah-v5", "friction=0.3")
        cheetah.reset(seed=0)
    assert cheetah.shift_log["no_effect"] == {}


@pytest.mark.parametrize("task", ["Pendulum-v1", *MUJOCO_TASKS])
def test_effective_parameters_table_matches_measurement(mj, task):
    effects = parameter_effects(gym.make(task), steps=40)
    assert tuple(n for n, e in effects.items() if e["effect"]) == suites.EFFECTIVE_PARAMETERS[task]


def test_true_parameters_and_oracle_context(mj):
    env = make_env("HalfCheetah-v5", {"params": {"mass": 2.0}, "switch": {"step": 1, "to": {"params": {"gear": 0.5}}}})
    assert true_parameters(env)["mass"] == 1.0  # before the first reset: nominal
    env.reset(seed=0)
    ctx = oracle_context(env, ["mass", "damping"])
    assert ctx.dtype == np.float32
    np.testing.assert_allclose(ctx, np.log([2.0, 1.0]).astype(np.float32))
    assert oracle_context(env).shape == (5,)
    env.step(np.zeros(6))
    env.step(np.zeros(6))
    np.testing.assert_allclose(oracle_context(gym.wrappers.ClipAction(env), ["mass", "gear"]), np.log([1.0, 0.5]))
    with pytest.raises(ValueError, match="unknown parameter"):
        oracle_context(env, ["m"])
    with pytest.raises(ValueError, match="no ShiftWrapper"):
        true_parameters(gym.make("HalfCheetah-v5"))


# ----------------------------------------------------------------------------- suites


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("task", suites.TASKS)
def test_suites_are_valid_json_data_for_each_task(mj, task):
    env = ShiftWrapper(gym.make(task))
    assert env.spec.max_episode_steps == suites.HORIZON[task]
    assert env.action_space.shape == (suites.ACTION_DIM[task],)
    all_ = suites.all_suites(task)
    assert set(all_) >= set(suites.SUITE_NAMES[:5])
    for name, specs in all_.items():
        assert specs and len({s.name for s in specs}) == len(specs), name
        for s in specs:
            check_spec(s, env)
            assert ShiftSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
            env.reset(seed=0, options={"shift": s})  # no "no effect" warning from any suite
    train = suites.TRAIN_RANGES[task]
    for s in all_["ID"]:
        assert s.is_resolved and set(s.params) == set(train)
    for s in all_["OOD-single"]:
        ((p, f),) = s.params.items()
        rng = train.get(p)
        if isinstance(rng, list):
            assert not rng[0] <= f <= rng[1]
    for s in all_["time-varying"]:
        assert s.switch.step == suites.SWITCH_STEP[task] < suites.HORIZON[task]
        assert set(s.params) == set(train) and s.switch.to.params
    unmod = all_["unmodeled"]
    assert [s.action_delay for s in unmod[:3]] == [1, 2, 3] and unmod[3].action_scale == 0.6
    assert unmod[4].cripple.from_step == suites.CRIPPLE_STEP[task] and unmod[5].payload is not None


def test_time_varying_switch_steps_and_cadm_sets():
    assert suites.SWITCH_STEP["Pendulum-v1"] == 100 and suites.SWITCH_STEP["HalfCheetah-v5"] == 300
    (pend,) = suites.cadm_train("Pendulum-v1")
    assert pend.params["m"].values == tuple(round(0.75 + 0.05 * i, 2) for i in range(11))
    assert [s.params["m"] for s in suites.cadm_test("Pendulum-v1")] == [
        shifts.Uniform(0.2, 0.4),
        shifts.Uniform(0.5, 0.7),
        shifts.Uniform(1.3, 1.5),
        shifts.Uniform(1.6, 1.8),
    ]
    (cheetah,) = suites.cadm_train("HalfCheetah-v5")
    assert cheetah.params["mass"].values == (0.75, 0.85, 1.0, 1.15, 1.25) == cheetah.params["damping"].values
    bins = [(s.params["mass"], s.params["damping"]) for s in suites.cadm_test("HalfCheetah-v5")]
    assert bins == [(shifts.Uniform(*b), shifts.Uniform(*b)) for b in ([0.2, 0.3], [0.4, 0.5], [1.5, 1.6], [1.7, 1.8])]
    with pytest.raises(ValueError, match="CaDM"):
        suites.cadm_train("Hopper-v5")
    with pytest.raises(ValueError, match="unknown suite"):
        suites.suite("Hopper-v5", "OOD")
    with pytest.raises(ValueError, match="unknown task"):
        suites.suite("Ant-v5", "ID")
    assert suites.id_suite("Hopper-v5", 3, seed=1) == suites.id_suite("Hopper-v5", 3, seed=1)
    assert suites.id_suite("Hopper-v5", 3, seed=1) != suites.id_suite("Hopper-v5", 3, seed=2)
