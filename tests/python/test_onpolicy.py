"""On-policy rounds: every arm collects with its own context, all continue on the pooled data."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")
pytest.importorskip("pyarrow")

from planner import WorldModel  # noqa: E402
from planner.models.data import collect, load_dataset, save_dataset  # noqa: E402
from planner.models.onpolicy import round_returns, run_rounds  # noqa: E402
from planner.models.train import train  # noqa: E402

GRID = {"values": [0.8, 1.2]}


def _arm_config(tmp_path, name: str, context: str, C: int) -> str:
    cfg = {
        "task": "Pendulum-v1",
        "preset": "tiny",
        "overrides": {
            "context_dim": C,
            "context_history": 4 if context == "outcome" else 0,
            "value_head": True,
            "discount": 0.95,
        },
        "dataset": str(tmp_path / "data"),
        "context": context,
        "stratify_dynamics": True,
        "draws_per_batch": 2,
        "steps": 20,
        "batch_size": 16,
        "horizon": 3,
        "val_fraction": 0.0,
        "threads": 1,
        "checkpoint_every": 20,
        "out": str(tmp_path / f"{name}.lpm.safetensors"),
        "progress": False,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_rounds_pool_every_arms_episodes_and_continue_each_arm(tmp_path):
    ds = collect("Pendulum-v1", 4, max_steps=12, randomize={"m": GRID, "l": GRID}, seed=0, progress=False)
    save_dataset(ds, tmp_path / "data")
    arms = {"NC": _arm_config(tmp_path, "nc", "zeros", 0), "OC": _arm_config(tmp_path, "oc", "outcome", 2)}
    for path in arms.values():
        train(json.loads(open(path).read()))
    cfg = {
        "task": "Pendulum-v1",
        "arms": arms,
        "rounds": 2,
        "episodes": 1,
        "max_steps": 12,
        "steps_per_round": 5,
        "optimizer": {"name": "mppi", "samples": 16, "horizon": 4, "iterations": 1},
        "randomize": {"m": GRID, "l": GRID},
        "plan_threads": 1,
        "configs_dir": str(tmp_path / "rounds"),
        "progress": False,
    }
    final = run_rounds(cfg)
    assert final == {"NC": str(tmp_path / "nc_r2.lpm.safetensors"), "OC": str(tmp_path / "oc_r2.lpm.safetensors")}
    r1, r2 = load_dataset(tmp_path / "data_r1"), load_dataset(tmp_path / "data_r2")
    assert (r1.num_episodes, r2.num_episodes) == (4 + 2, 4 + 4)  # one episode per arm per round
    np.testing.assert_array_equal(r2.observation[: r1.num_frames], r1.observation)
    for arm, name in (("NC", "nc"), ("OC", "oc")):
        info = json.loads(WorldModel.load(final[arm]).metadata)["info"]
        assert info["train"]["steps"] == 30  # 20 offline + 5 + 5, resumed from each round's checkpoint
        assert info["train"]["frames"] == r2.num_frames
        rec = json.loads((tmp_path / "rounds" / f"{name}_r2.json").read_text())
        assert rec["resume"].endswith(f"{name}_r1.step0000025.ckpt.safetensors")
    # Each round's collection returns, per arm, read back from its dataset.
    rows = round_returns(cfg)
    assert [r["round"] for r in rows] == [1, 2]
    last = [float(r2.reward[r2.episode_index == e].sum()) for e in (6, 7)]
    np.testing.assert_allclose([rows[1]["returns"]["NC"][0], rows[1]["returns"]["OC"][0]], last, atol=0.06)
    # A finished run is not repeated.
    before = (tmp_path / "nc_r2.lpm.safetensors").stat().st_mtime_ns
    run_rounds(cfg)
    assert (tmp_path / "nc_r2.lpm.safetensors").stat().st_mtime_ns == before


def test_round_config_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="arms"):
        run_rounds({"arms": {}})
    with pytest.raises(ValueError, match="arms: unknown"):
        run_rounds({"arms": {"PC": "x.json"}})
    with pytest.raises(ValueError, match="rounds"):
        run_rounds({"arms": {"NC": "x.json"}, "rounds": 0})
    path = _arm_config(tmp_path, "nc", "zeros", 0)
    d = json.loads(open(path).read())
    d["checkpoint_every"] = 0
    (tmp_path / "nock.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="checkpoint_every > 0"):
        run_rounds({"task": "Pendulum-v1", "arms": {"NC": str(tmp_path / "nock.json")}, "randomize": {"m": GRID}})
    with pytest.raises(FileNotFoundError, match="arm NC's model"):
        run_rounds(
            {"task": "Pendulum-v1", "arms": {"NC": path}, "randomize": {"m": GRID}, "configs_dir": str(tmp_path / "r")}
        )
