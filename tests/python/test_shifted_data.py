"""Datasets over a set of dynamics, planned natively, and the arms trained on one of them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gym = pytest.importorskip("gymnasium")
pytest.importorskip("pyarrow")

from planner.config import config_from_dict  # noqa: E402
from planner.evaluate import PENDULUM_MODEL, PENDULUM_OC_MODEL, PENDULUM_PC_MODEL  # noqa: E402
from planner.models.data import collect, load_dataset  # noqa: E402
from planner.models.shifted_data import (  # noqa: E402
    ArmPolicy,
    build_shifted_dataset,
    label_nominal,
    relabel_dynamics,
)
from planner.models.train import TrainConfig, _Tensors, episode_context, train  # noqa: E402
from planner.models.world_model import WorldModel, preset  # noqa: E402
from planner.planner import Planner  # noqa: E402

GRID = {"values": [0.8, 1.2]}
MPPI = config_from_dict("mppi", {"samples": 32, "horizon": 5, "iterations": 1})


def _config(tmp_path, **kw) -> dict:
    nominal = collect("Pendulum-v1", 2, max_steps=12, seed=3, progress=False)
    from planner.models.data import save_dataset

    save_dataset(nominal, tmp_path / "nominal")
    cfg = {
        "task": "Pendulum-v1",
        "behavior_model": str(PENDULUM_MODEL),
        "optimizer": {"name": "mppi", "samples": 32, "horizon": 5, "iterations": 1},
        "randomize": {"m": GRID, "l": GRID},
        "episodes": 6,
        "max_steps": 12,
        "noise_std": [0.0, 0.3],
        "include": [str(tmp_path / "nominal")],
        "plan_threads": 1,
        "seed": 1,
        "out": str(tmp_path / "shifted"),
        "progress": False,
    }
    cfg.update(kw)
    return cfg


def test_shifted_dataset_labels_nominal_data_and_shares_ids_across_equal_factors(tmp_path):
    ds = build_shifted_dataset(_config(tmp_path))
    again = load_dataset(tmp_path / "shifted")
    assert ds.num_episodes == again.num_episodes == 8
    assert again.parameter_names == ("m", "l")
    np.testing.assert_array_equal(again.parameters[:2], np.ones((2, 2)))  # the included nominal episodes
    assert set(np.unique(again.parameters[2:])) <= {0.8, 1.2}
    # One ID per distinct factor tuple: equal factors share an ID, different ones do not.
    for i in range(again.num_episodes):
        for j in range(again.num_episodes):
            same = bool(np.all(again.parameters[i] == again.parameters[j]))
            assert (again.dynamics_id[i] == again.dynamics_id[j]) == same
    assert again.info["builder"] == "planner.models.shifted_data"


def test_shifted_dataset_errors_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="behavior_model"):
        build_shifted_dataset(_config(tmp_path, behavior_model=str(tmp_path / "missing.lpm.safetensors")))
    with pytest.raises(ValueError, match="randomize"):
        build_shifted_dataset(_config(tmp_path, randomize={}))
    with pytest.raises(ValueError, match="noise_std"):
        build_shifted_dataset(_config(tmp_path, noise_std=[-0.1]))
    shifted = collect("Pendulum-v1", 1, max_steps=5, randomize={"m": [0.9, 1.1]}, progress=False)
    with pytest.raises(ValueError, match="already records factors"):
        label_nominal(shifted, ("m", "l"))


def test_on_policy_round_collects_with_each_arms_context_and_extends_the_dataset(tmp_path):
    base = build_shifted_dataset(_config(tmp_path))
    arms = {"PC-oracle": str(PENDULUM_PC_MODEL), "OC": str(PENDULUM_OC_MODEL)}
    cfg = _config(tmp_path, behavior_model=None, arms=arms, include=[], extend=[str(tmp_path / "shifted")])
    ds = build_shifted_dataset(cfg | {"episodes": 2, "out": str(tmp_path / "round1")})
    assert ds.num_episodes == base.num_episodes + 2 * len(arms)
    np.testing.assert_array_equal(ds.parameters[: base.num_episodes], base.parameters)
    assert ds.info["config"]["arms"] == arms
    same = np.all(ds.parameters[:, None] == ds.parameters[None], axis=-1)
    assert np.array_equal(ds.dynamics_id[:, None] == ds.dynamics_id[None], same)


def _arm_episode(context: str, model) -> tuple[ArmPolicy, object]:
    planner = Planner.from_file(str(model), MPPI, seed=0, threads=1)
    policy = ArmPolicy(planner, context, model)
    ds = collect(
        "Pendulum-v1",
        1,
        policy=policy,
        noise_std=0.3,
        randomize={"m": [1.3, 1.3], "l": [0.7, 0.7]},
        max_steps=20,
        seed=5,
        progress=False,
    )
    return policy, ds


def test_arm_policy_pc_oracle_plans_with_the_episodes_true_log_factors():
    policy, ds = _arm_episode("PC-oracle", PENDULUM_PC_MODEL)
    np.testing.assert_allclose(policy.last_context, np.log([1.3, 0.7]), rtol=1e-6)
    assert len(policy.plan_ms) == ds.num_frames == 20


def test_arm_policy_oc_reads_the_executed_noisy_actions():
    policy, ds = _arm_episode("OC", PENDULUM_OC_MODEL)
    K = policy._history.length
    obs, act, nxt, mask = policy._history.window()
    assert mask.all() and K <= 20
    np.testing.assert_array_equal(act[0], ds.action[-K:])  # what the env executed, noise included
    np.testing.assert_array_equal(nxt[0], ds.next_observation[-K:])
    # The context is the encoder's, re-inferred from the history (not the zero context).
    assert policy.last_context.shape == (policy.planner.context_dim,) and np.any(policy.last_context != 0)


def test_arm_policy_and_on_policy_round_errors_name_the_argument(tmp_path):
    planner = Planner.from_file(str(PENDULUM_MODEL), MPPI, seed=0, threads=1)
    with pytest.raises(ValueError, match="context"):
        ArmPolicy(planner, "oracle")
    with pytest.raises(ValueError, match="pass the model"):
        ArmPolicy(Planner.from_file(str(PENDULUM_OC_MODEL), MPPI, threads=1), "OC")
    with pytest.raises(ValueError, match="behavior_model, arms"):
        build_shifted_dataset(_config(tmp_path, arms={"OC": str(PENDULUM_OC_MODEL)}))
    with pytest.raises(ValueError, match="arms: unknown"):
        build_shifted_dataset(_config(tmp_path, behavior_model=None, arms={"PC": str(PENDULUM_PC_MODEL)}))
    with pytest.raises(FileNotFoundError, match="arms.OC"):
        build_shifted_dataset(_config(tmp_path, behavior_model=None, arms={"OC": str(tmp_path / "none")}))
    other = collect("Pendulum-v1", 1, max_steps=5, randomize={"m": GRID}, progress=False)
    from planner.models.data import save_dataset

    save_dataset(other, tmp_path / "m_only")
    with pytest.raises(ValueError, match="extend"):
        build_shifted_dataset(_config(tmp_path, extend=[str(tmp_path / "m_only")]))


def test_relabel_dynamics_is_by_value():
    ds = collect("Pendulum-v1", 4, max_steps=5, randomize={"m": GRID}, progress=False, seed=2)
    ds.parameters = np.array([[0.8], [1.2], [0.8], [1.2]])
    np.testing.assert_array_equal(relabel_dynamics(ds).dynamics_id, [0, 1, 0, 1])


def test_stratified_batches_weigh_every_dynamics_id_alike():
    ds = collect("Pendulum-v1", 10, max_steps=20, seed=0, progress=False)
    ds.dynamics_id = np.array([0] * 9 + [1])  # ID 1 holds a tenth of the data
    m = WorldModel(preset("tiny", 3, 1))
    data = _Tensors(m, ds, episode_context(ds, 0), horizon=3)
    data.stratify(ds, draws_per_batch=2)
    gen = torch.Generator().manual_seed(0)
    dyn = torch.from_numpy(ds.dynamics_id[ds.episode_index])
    starts = torch.cat([data.batch(64, gen)["obs0"] for _ in range(20)])
    # Map each sampled obs0 back to its row to read its ID.
    rows = [int(torch.nonzero((data.obs == o).all(1))[0]) for o in starts]
    share = float((dyn[rows] == 1).float().mean())
    assert 0.4 < share < 0.6, share


def test_missing_dataset_with_a_command_is_an_error_not_a_random_collection(tmp_path):
    cfg = TrainConfig.from_dict(
        {
            "task": "Pendulum-v1",
            "preset": "tiny",
            "dataset": str(tmp_path / "absent"),
            "dataset_command": "python -m planner.models.shifted_data --config X",
            "steps": 1,
            "progress": False,
            "out": str(tmp_path / "m.lpm.safetensors"),
        }
    )
    with pytest.raises(FileNotFoundError, match="shifted_data --config X"):
        train(cfg)
    assert not (tmp_path / "absent").exists()
