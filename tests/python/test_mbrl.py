"""The model-based loop: a few seconds on Pendulum-v1 yields a model file and more data."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("pyarrow")
pytest.importorskip("gymnasium")

import planner  # noqa: E402
from planner.models import load_dataset  # noqa: E402
from planner.models.mbrl import random_baseline, run_mbrl, zero_action_baseline  # noqa: E402


def test_mbrl_pendulum_two_rounds(tmp_path):
    out = tmp_path / "p.lpm.safetensors"
    cfg = {
        "train": {
            "task": "Pendulum-v1",
            "preset": "tiny",
            "batch_size": 32,
            "horizon": 3,
            "threads": 1,
            "seed": 0,
            "out": str(out),
        },
        "optimizer": {"name": "mppi", "samples": 32, "horizon": 5, "iterations": 1},
        "budget_minutes": 1.0,
        "initial_episodes": 2,
        "initial_steps": 20,
        "episodes_per_round": 1,
        "episode_steps": 20,
        "first_train_steps": 20,
        "train_steps_per_round": 10,
        "max_rounds": 2,
        "dataset": str(tmp_path / "data"),
        "log_jsonl": str(tmp_path / "log.jsonl"),
        "progress": False,
    }
    summary = run_mbrl(cfg)
    assert out.is_file()
    assert summary["num_rounds"] == 2
    assert summary["env_steps"] == 2 * 20 + 20  # random data, then one planned episode
    assert summary["rounds"][0]["env_steps"] > 40  # the dataset grew
    ds = load_dataset(tmp_path / "data")
    assert ds.num_frames == summary["env_steps"] and ds.num_episodes == 3
    p = planner.Planner.from_file(str(out), planner.MPPIConfig(samples=8, horizon=3), threads=1)
    assert p.plan(ds.observation[0]).action.shape == (1,)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3


def test_baselines_are_seeded():
    a = random_baseline("Pendulum-v1", episodes=2, seed=5, max_steps=10)
    b = random_baseline("Pendulum-v1", episodes=2, seed=5, max_steps=10)
    z = zero_action_baseline("Pendulum-v1", episodes=2, seed=5, max_steps=10)
    assert a["returns"] == b["returns"] and len(z["returns"]) == 2
    assert a["ci95"][0] <= a["mean"] <= a["ci95"][1]
