"""ShiftBench pieces: statistics, the simulator copy used for ranking, the cells, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from planner.bench import shiftbench  # noqa: E402
from planner.evaluate import PENDULUM_MODEL, bootstrap_ci, paired_bootstrap_ci  # noqa: E402


def test_spearman_matches_the_rank_definition():
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert shiftbench._spearman(x, x) == pytest.approx(1.0)
    assert shiftbench._spearman(x, -x) == pytest.approx(-1.0)
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # ranks of x: 2 0 1 4 3 against 0 1 2 3 4: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with sum(d^2) = 4+1+1+1+1
    assert shiftbench._spearman(x, y) == pytest.approx(1 - 6 * 8 / (5 * 24))
    assert np.isnan(shiftbench._spearman(np.ones(4), y[:4]))


def test_paired_interval_is_the_interval_of_the_differences():
    rng = np.random.default_rng(0)
    a = rng.normal(10, 1, 30)
    b = a - 2 + rng.normal(0, 0.1, 30)
    lo, hi = paired_bootstrap_ci(a, b)
    assert lo < 2 < hi and hi - lo < 0.2  # pairing removes the between-episode spread
    lo_u, hi_u = bootstrap_ci(a)
    assert hi_u - lo_u > hi - lo
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap_ci(a, b[:-1])


def test_adaptation_steps_counts_from_the_switch():
    trace = [1.0] * 50 + [10.0] * 12 + [1.0] * 40
    ref = [1.0] * len(trace)
    steps = shiftbench._adaptation_steps(trace, 50, ref)
    assert steps is not None and 10 <= steps <= 16  # 12 bad steps, smoothed over 5
    assert shiftbench._adaptation_steps([1.0] * 50 + [10.0] * 50, 50, [1.0] * 100) is None
    # Without a reference: the arm's own last quarter.
    assert shiftbench._adaptation_steps(trace, 50, None) == steps


@pytest.mark.parametrize("task", ["Pendulum-v1", "HalfCheetah-v5"])
def test_clone_env_continues_exactly(task):
    if task != "Pendulum-v1":
        pytest.importorskip("mujoco")
    from planner.envs import make_env

    env = make_env(task, {"params": {"m": 1.4}} if task == "Pendulum-v1" else {"params": {"mass": 1.5}}, seed=3)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(env.action_space.sample())
    clone = shiftbench._clone_env(env)
    for _ in range(5):
        a = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        o1, r1, *_ = env.step(a)
        o2, r2, *_ = clone.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    env.close()
    clone.close()


def test_one_cell_measures_everything():
    job = shiftbench.Job(
        task="Pendulum-v1",
        condition="heavy",
        shift={"name": "heavy", "params": {"m": 1.2}},
        arm="NC",
        model=str(PENDULUM_MODEL),
        optimizer="mppi",
        knobs=dict(samples=64, horizon=10, iterations=1, sigma=1.0, temperature=1.0),
        seed=0,
        episodes=1,
        max_steps=40,
        rank_every=20,
    )
    cell = shiftbench.run_job(job)
    assert len(cell["returns"]) == 1 and np.isfinite(cell["returns"][0])
    assert len(cell["plan_ms"]) == 40
    assert set(cell["k_step_mse"]) == {"1", "5", "10", "30"}
    assert all(v is not None and v >= 0 for v in cell["k_step_mse"].values())
    # Errors grow with k for a learned model on its own trajectories.
    assert cell["k_step_mse"]["30"] > cell["k_step_mse"]["1"]
    assert len(cell["rank_rho"]) == 2 and all(-1 <= r <= 1 for r in cell["rank_rho"])
    assert cell["shift_log"] is not None
    assert len(cell["one_step_trace"][0]) == 39
    rerr = cell["reward_error_trace"][0]
    assert len(rerr) == 39 and all(e >= 0 for e in rerr) and np.mean(rerr) < 2.0  # Pendulum rewards are -16..0
    # Without a time budget a cell is deterministic: the same job gives the same episode.
    again = shiftbench.run_job(job)
    assert again["returns"] == cell["returns"] and again["k_step_mse"] == cell["k_step_mse"]


def test_arms_that_need_other_models_are_refused(tmp_path):
    from model_files import random_model, save

    import planner

    tensors, meta = random_model(S=3, A=1, Z=8, C=2, hidden=16)
    save(tmp_path / "c2.lpm.safetensors", tensors, meta)
    with_context = planner.WorldModel.load(str(tmp_path / "c2.lpm.safetensors"))
    without = planner.WorldModel.load(str(PENDULUM_MODEL))
    with pytest.raises(ValueError, match="C=0"):
        shiftbench._context_source("NC", with_context)
    with pytest.raises(ValueError, match="no context encoder"):
        shiftbench._context_source("OC", with_context)
    with pytest.raises(ValueError, match="oracle"):
        shiftbench._context_source("PC-oracle", without)
    with pytest.raises(ValueError, match="no context encoder"):
        shiftbench._context_source("OC+CMA", without)
    with pytest.raises(ValueError, match="not available"):
        shiftbench._context_source("OC-2", without)
    with pytest.raises(ValueError, match="tier"):
        shiftbench.run_shiftbench("huge")


def test_smoke_tier_cli_writes_json(tmp_path):
    from planner.__main__ import main

    out = tmp_path / "smoke.json"
    md = tmp_path / "smoke.md"
    args = [
        "shiftbench",
        "--tier",
        "smoke",
        "--json",
        str(out),
        "--markdown",
        str(md),
        "--executor",
        "inline",
        "--no-progress",
        "--arms",
        "NC,OC",
    ]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["tier"] == "smoke" and report["executor"] == "inline"
    conds = [r["condition"] for r in report["summary"]]
    assert conds[0] == "nominal" and len(conds) == 6  # (nominal + 2 CaDM bins) x arms NC, OC
    assert [r["arm"] for r in report["summary"]] == ["NC", "OC"] * 3
    for row in report["summary"]:
        assert row["episodes"] == 1
        assert row["return_ci95"][0] <= row["return_mean"] <= row["return_ci95"][1]
    assert "| Pendulum-v1 | nominal | NC |" in md.read_text()
    assert all("vs_NC_ci95" in r for r in report["summary"] if r["arm"] == "OC")  # paired with NC


def test_every_tier_is_well_formed():
    # Optimizer configurations and every shift spec of every tier are valid for their task.
    pytest.importorskip("mujoco")
    from planner.config import config_from_dict
    from planner.envs import check_spec, make_env

    for tier in shiftbench.TIERS:
        for ts in shiftbench._tier_tasks(tier, None):
            config_from_dict(ts.optimizer, ts.knobs)
            env = make_env(ts.task)
            try:
                for _label, spec in ts.conditions:
                    check_spec(spec, env)
            finally:
                env.close()


def _cell(arm, seed, ret, task="T", condition="c"):
    """A finished ShiftBench cell with one episode of return `ret`."""
    return {
        "task": task,
        "condition": condition,
        "arm": arm,
        "seed": seed,
        "returns": [ret],
        "plan_ms": [1.0],
        "step_ms": [1.0],
        "deadline_misses": 0,
        "k_step_mse": {"1": 0.1},
        "rank_rho": [],
        "one_step_trace": [[]],
        "switch_step": None,
    }


def test_merge_unites_cells_and_pairs_every_arm():
    cell = _cell

    a = {"cells": [cell("NC", 0, 1.0), cell("NC", 1, 2.0), cell("OC", 0, 3.0), cell("OC", 1, 4.0)], "seconds": 1.0}
    b = {
        "cells": [cell("NC", 0, 1.0), cell("NC", 1, 2.0), cell("OC+CMA", 0, 5.0), cell("OC+CMA", 1, 7.0)],
        "seconds": 2.0,
    }
    m = shiftbench.merge_reports([a, b])
    assert len(m["cells"]) == 6 and m["seconds"] == 3.0
    rows = {r["arm"]: r for r in m["summary"]}
    assert list(rows) == ["NC", "OC", "OC+CMA"]
    assert rows["OC+CMA"]["vs_NC_mean"] == pytest.approx(4.5)


def test_contexts_report_merges_arms_run_separately(tmp_path, monkeypatch):
    import json

    from planner.context import report as report_mod
    from planner.context.report import run_contexts_report
    from planner.models import onpolicy

    # The arms' on-policy rounds, as `round_returns` reads them from the rounds' datasets.
    rounds = [{"round": 1, "returns": {"NC": [-300.0, -100.0], "OC": [50.0, 150.0]}}]
    (tmp_path / "rounds.json").write_text("{}")
    monkeypatch.setattr(report_mod, "ONPOLICY_CONFIGS", {"HalfCheetah-v5": str(tmp_path / "rounds.json")})
    monkeypatch.setattr(onpolicy, "round_returns", lambda path: rounds)

    def cell(arm, seed, ret):
        return _cell(arm, seed, ret, "HalfCheetah-v5", "CaDM mass,damping [0.4,0.5]")

    first = {
        "tier": "standard",
        "cells": [cell("NC", s, 100.0 + s) for s in range(3)],
        "seconds": 1.0,
        "skipped": [],
        "machine": "test",
        "executor": "inline",
        "workers": 1,
        "threads_per_cell": 1,
    }
    second = {"tier": "standard", "cells": [cell("PC-oracle", s, 400.0 + s) for s in range(3)], "seconds": 2.0}
    paths = []
    for i, r in enumerate((first, second)):
        paths.append(tmp_path / f"part{i}.json")
        paths[-1].write_text(json.dumps(r))
    out = run_contexts_report(str(tmp_path / "merged"), task="HalfCheetah-v5", merge=[str(p) for p in paths])
    rows = {r["arm"]: r for r in out["report"]["summary"]}
    assert rows["PC-oracle"]["vs_NC_mean"] == pytest.approx(300.0)
    text = (tmp_path / "merged.md").read_text()
    assert "Outcome-centric contexts on HalfCheetah-v5" in text and "moderate bins" in text
    assert json.loads((tmp_path / "merged.json").read_text())["merged_from"] == 2
    assert "## On-policy rounds" in text and "| 1 | -200 | 100 |" in text


def test_slim_report_drops_per_step_arrays_and_cannot_be_merged():
    cells = [_cell("NC", 0, 1.0), _cell("OC", 0, 2.0)]
    full = {"cells": cells, "seconds": 1.0, "summary": shiftbench.summarize(cells)}
    slim = shiftbench.slim_report(full)
    assert slim["slim"] and slim["summary"] == full["summary"]
    assert all(not set(shiftbench.TRACE_KEYS) & set(c) for c in slim["cells"])
    assert [c["returns"] for c in slim["cells"]] == [[1.0], [2.0]]
    assert "plan_ms" in full["cells"][0]  # the input is left as it was
    with pytest.raises(ValueError, match="slim report"):
        shiftbench.merge_reports([full, slim])


def test_summary_pairs_the_estimating_arms_with_pc_oracle_and_only_them():
    cells = [
        _cell(arm, s, ret + s)
        for arm, ret in (("NC", 0.0), ("PC-oracle", 10.0), ("PC-regressed", 7.0), ("OC", 12.0))
        for s in range(3)
    ]
    rows = {r["arm"]: r for r in shiftbench.summarize(cells)}
    assert list(rows) == ["NC", "PC-oracle", "PC-regressed", "OC"]  # ARMS order
    assert rows["PC-regressed"]["vs_PC_mean"] == pytest.approx(-3.0)
    assert rows["OC"]["vs_PC_mean"] == pytest.approx(2.0)
    assert "vs_PC_mean" not in rows["NC"] and "vs_PC_mean" not in rows["PC-oracle"]
    assert rows["PC-regressed"]["vs_NC_mean"] == pytest.approx(7.0)


def test_a_missing_pendulum_pc_regressed_model_is_skipped_with_its_command(monkeypatch, tmp_path):
    monkeypatch.setattr(shiftbench, "PENDULUM_PCR_MODEL", tmp_path / "absent.lpm.safetensors")
    report = shiftbench.run_shiftbench("smoke", arms=("PC-regressed",), executor="inline", progress=False)
    assert report["cells"] == []
    (entry,) = [s for s in report["skipped"] if s["task"] == "Pendulum-v1"]
    assert entry["arms"] == ["PC-regressed"] and "configs/pendulum_pcr.json" in entry["reason"]
