"""The demo and `python -m planner eval` (with a dynamics shift) end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("matplotlib")

from planner import demo  # noqa: E402
from planner.__main__ import main  # noqa: E402


def test_demo_prints_the_table_and_writes_the_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(demo.DEFAULTS, "mppi", dict(samples=64, horizon=10, iterations=1, sigma=1.0, temperature=1.0))
    png, js = tmp_path / "demo.png", tmp_path / "demo.json"
    assert main(["demo", "--episodes", "1", "--plot", str(png), "--json", str(js), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for label, _ in demo.CONDITIONS:
        assert label in out
    assert "p99 ms" in out and png.stat().st_size > 10_000
    rows = json.loads(js.read_text())["rows"]
    assert [r["condition"] for r in rows] == [c for c, _ in demo.CONDITIONS for _ in demo.MODELS]
    assert [r["model"] for r in rows] == ["NC", "OC"] * len(demo.CONDITIONS)
    for r in rows:
        assert len(r["returns"]) == 1 and np.isfinite(r["mean_return"]) and r["p50_ms"] > 0
    assert rows[2]["shift"]["params"] == {"m": 1.3, "l": 1.3}


def test_eval_applies_the_shift_and_records_it(tmp_path):
    out = tmp_path / "eval.json"
    base = ["eval", "--samples", "32", "--horizon", "5", "--iterations", "1", "--episodes", "1", "--max-steps", "15"]
    assert main([*base, "--shift", "m=1.5,action_scale=0.5", "--json", str(out), "--no-progress"]) == 0
    r = json.loads(out.read_text())
    log = json.dumps(r["shift_logs"][0])
    assert "1.5" in log and "0.5" in log
    assert len(r["returns"]) == 1 and r["overrun_within_one_iteration"] is True
    nominal = tmp_path / "nominal.json"
    assert main([*base, "--json", str(nominal), "--no-progress"]) == 0
    assert json.loads(nominal.read_text())["returns"] != r["returns"]


def test_eval_rejects_a_bad_shift():
    with pytest.raises(ValueError, match="mass"):
        main(["eval", "--episodes", "1", "--max-steps", "2", "--shift", "mass=2", "--no-progress"])
