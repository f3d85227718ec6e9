"""Outcome-centric contexts: torch encoder, joint training, export, native inference online."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
gym = pytest.importorskip("gymnasium")

import planner  # noqa: E402
from planner.models.export import load_model, read_metadata  # noqa: E402
from planner.models.train import TrainConfig, _context_losses, train  # noqa: E402
from planner.models.world_model import WorldModel, preset  # noqa: E402


def _tiny_oc_config(tmp_path, **kw) -> dict:
    cfg = {
        "task": "Pendulum-v1",
        "preset": "tiny",
        "overrides": {"context_dim": 2, "context_history": 4},
        "collect": {"episodes": 8, "max_steps": 20, "randomize": {"m": [0.5, 1.5]}, "episodes_per_draw": 2},
        "context": "outcome",
        "steps": 20,
        "batch_size": 16,
        "horizon": 3,
        "draws_per_batch": 4,
        "val_fraction": 0.25,
        "out": str(tmp_path / "oc.lpm.safetensors"),
        "progress": False,
    }
    cfg.update(kw)
    return cfg


def test_context_posterior_masks_padding_and_pools_to_zero_when_empty():
    torch.manual_seed(0)
    m = WorldModel(preset("tiny", 3, 1, context_dim=2, context_history=4))
    obs, act, nxt = torch.randn(1, 4, 3), torch.rand(1, 4, 1) * 2 - 1, torch.randn(1, 4, 3)
    mask = torch.tensor([[0, 0, 1, 1]])
    mu = m.infer_context(obs, act, nxt, mask)
    # Padding rows do not matter...
    obs2 = obs.clone()
    obs2[0, :2] = 99.0
    torch.testing.assert_close(m.infer_context(obs2, act, nxt, mask), mu)
    # ...and an empty window is the head at a zero pool.
    empty = m.infer_context(obs, act, nxt, torch.zeros(1, 4))
    expect = m.context_head(torch.zeros(1, m.context_embed.out))[..., :2]
    torch.testing.assert_close(empty, expect)


def test_infonce_prefers_contexts_that_cluster_by_dynamics_id():
    cfg = TrainConfig(context="outcome")
    m = WorldModel(preset("tiny", 3, 1, context_dim=2, context_history=4))

    def batch_with(mu_fn):
        b = {"h_obs": torch.zeros(8, 4, 3), "h_act": torch.zeros(8, 4, 1), "h_next": torch.zeros(8, 4, 3)}
        b["h_mask"] = torch.ones(8, 4)
        b["dyn"] = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        m.context_posterior = lambda *a: (mu_fn(), torch.zeros(8, 2))  # type: ignore[method-assign]
        return _context_losses(m, b, cfg)[1]["infonce"]

    angles = torch.tensor([0.0, 0.0, 1.6, 1.6, 3.1, 3.1, 4.7, 4.7])
    clustered = batch_with(lambda: torch.stack([angles.cos(), angles.sin()], -1))
    mixed = batch_with(lambda: torch.stack([angles.roll(1).cos(), angles.roll(1).sin()], -1))
    assert float(clustered) < float(mixed)


def test_outcome_training_exports_a_context_encoder_that_loads_everywhere(tmp_path):
    path = train(_tiny_oc_config(tmp_path))
    meta = read_metadata(path)
    assert meta["networks"]["context_encoder"]["history"] == 4
    assert meta["info"]["context"] == "outcome"
    losses = meta["info"]["train"]["losses"][-1]
    assert {"kl", "infonce"} <= set(losses) and np.isfinite(losses["infonce"])
    m = load_model(path)
    assert m.context_history == 4
    # Native inference equals torch's on the same window.
    native = planner.WorldModel.load(str(path))
    enc = planner._core.ContextEncoder(native)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, 4, 3)).astype(np.float32)
    act = rng.uniform(-2, 2, size=(3, 4, 1)).astype(np.float32)
    nxt = rng.normal(size=(3, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]], np.uint8)
    want = m.infer_context(*(torch.from_numpy(x) for x in (obs, act, nxt)), torch.from_numpy(mask)).detach().numpy()
    np.testing.assert_allclose(enc.infer(obs, act, nxt, mask), want, rtol=1e-4, atol=1e-4)


def test_prediction_only_ablation_does_not_train_the_context_terms(tmp_path):
    path = train(_tiny_oc_config(tmp_path, context_loss="prediction", out=str(tmp_path / "p.lpm.safetensors")))
    assert read_metadata(path)["info"]["train"]["losses"]


def test_outcome_context_needs_a_context_encoder():
    with pytest.raises(ValueError, match="context_history"):
        train(
            {
                "context": "outcome",
                "overrides": {"context_dim": 2},
                "preset": "tiny",
                "steps": 1,
                "progress": False,
                "collect": {"episodes": 2, "max_steps": 10},
            }
        )
    with pytest.raises(ValueError, match="context_dim"):
        preset("tiny", 3, 1, context_dim=0, context_history=4)


def test_controller_reinfers_the_context_every_step_from_its_history(tmp_path):
    from planner.context import OutcomeContext
    from planner.control import GymRobot, LoopRunner, MPCController

    path = train(_tiny_oc_config(tmp_path))
    src = OutcomeContext(path)
    seen = []

    def ctx(history):
        c = src(history)
        seen.append((history.count[0], c.copy()))
        return c

    p = planner.Planner.from_file(path, planner.MPPIConfig(samples=32, horizon=5, iterations=1), threads=1)
    robot = GymRobot(gym.make("Pendulum-v1", max_episode_steps=8), seed=0)
    robot.reset()
    LoopRunner(MPCController(p, context=ctx, history=src.history), robot, hz=20, realtime=False).run(8)
    assert [n for n, _ in seen] == list(range(8))  # zero-padded (masked) until K=4 transitions exist
    assert not np.allclose(seen[0][1], seen[4][1])  # it moved as transitions arrived
    with pytest.raises(ValueError, match="history"):
        MPCController(p, context=src, history=7).plan(np.zeros((1, 3), np.float32))


def test_context_geometry_reports_probe_and_sweeps(tmp_path):
    from planner.context.geometry import context_geometry

    path = train(_tiny_oc_config(tmp_path))
    r = context_geometry(str(path), grid={"m": [0.5, 1.0, 1.5, 2.0], "l": [0.8, 1.2]}, episodes=2, steps=8)
    assert set(r["probe_r2"]) == {"l", "m"} and all(np.isfinite(v) and v <= 1 for v in r["probe_r2"].values())
    for n, sw in r["sweeps"].items():
        assert len(sw["projection_mean"]) == len(sw["factors"]) and 0 <= sw["spearman_means"] <= 1, n


def test_cma_refinement_lowers_the_window_error_and_stays_in_the_trust_region(tmp_path):
    pytest.importorskip("cma")
    from planner.context import OutcomeContext, RefinedContext
    from planner.control import History

    path = train(_tiny_oc_config(tmp_path))
    ref = RefinedContext(path, every=1, min_transitions=2, radius=0.5, popsize=6, iterations=3)
    enc = OutcomeContext(path)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    hist = History(1, ref.history, 3, 1)
    rng = np.random.default_rng(0)
    for _ in range(6):
        a = rng.uniform(-2, 2, 1).astype(np.float32)
        nxt, *_ = env.step(a)
        hist.push(0, np.asarray(obs, np.float32), a, np.asarray(nxt, np.float32))
        obs = nxt
    c = ref(hist)
    c0 = enc(hist)
    assert ref.refinements == 1 and c.shape == (1, 2) and c.dtype == np.float32
    assert np.all(np.abs(c - c0) <= 0.5 + 1e-6)
    o, a_, n, m = hist.window()
    v = m[0]
    assert ref._errors(c[0], o[0, v], a_[0, v], n[0, v]) <= ref._errors(c0[0], o[0, v], a_[0, v], n[0, v])
    assert ref.last_generations == 3
    # A budget smaller than one generation stops after the first (the anytime rule).
    tight = RefinedContext(path, every=1, min_transitions=2, popsize=6, iterations=3, budget_ms=1e-3)
    tight(hist)
    assert tight.refinements == 1 and tight.last_generations == 1
    with pytest.raises(ValueError, match="popsize"):
        RefinedContext(path, popsize=1)
    with pytest.raises(ValueError, match="budget_ms"):
        RefinedContext(path, budget_ms=0)


def test_the_contexts_time_comes_out_of_the_plans_budget():
    import time

    from planner.config import config_from_dict
    from planner.control import MPCController
    from planner.evaluate import PENDULUM_OC_MODEL

    p = planner.Planner.from_file(str(PENDULUM_OC_MODEL), config_from_dict("mppi", {"samples": 16, "horizon": 4}))
    seen = []
    native = p.plan

    def plan(state, context=None, candidates=None, budget_ms=None):
        seen.append(budget_ms)
        return native(state, context, candidates, budget_ms=budget_ms)

    p.plan = plan

    def slow_context(history):
        time.sleep(0.03)
        return np.zeros((1, p.context_dim), np.float32)

    ctl = MPCController(p, context=slow_context, budget_ms=40.0)
    ctl.act(np.zeros(3, np.float32))
    assert ctl.context_ms >= 30 and seen[-1] == pytest.approx(40.0 - ctl.context_ms)
    ctl.act(np.zeros(3, np.float32), budget_ms=20.0)  # over budget: the plan still runs one iteration
    assert seen[-1] == pytest.approx(1e-3) and ctl.last.iterations >= 1
    free = MPCController(p, context=slow_context)
    free.act(np.zeros(3, np.float32))
    assert seen[-1] is None


def test_targets_are_checked_from_the_numbers():
    from planner.context.report import check_targets

    def row(cond, arm, ret, vs_nc=None, vs_pc=None, step=10.0, adapt=None):
        r = {"task": "T", "condition": cond, "arm": arm, "return_mean": ret, "step_p50_ms": step}
        if vs_nc:
            r["vs_NC_mean"], r["vs_NC_ci95"] = vs_nc
        if vs_pc:
            r["vs_PC_mean"], r["vs_PC_ci95"] = vs_pc
        if adapt is not None:
            r["adaptation_steps"] = adapt
        return r

    summary = [
        row("CaDM a", "NC", -300.0),
        row("CaDM a", "PC-oracle", -100.0),
        row("CaDM a", "OC", -110.0, vs_nc=(190.0, [150.0, 230.0]), step=10.5),
        row("CaDM b", "NC", -300.0),
        row("CaDM b", "PC-oracle", -100.0),
        row("CaDM b", "OC", -290.0, vs_nc=(10.0, [-5.0, 25.0]), step=12.0),
        row("delay 2", "OC", -50.0, vs_pc=(-3.0, [-6.0, -1.0])),
        row("ID -> OOD", "OC", -50.0, adapt=4.0),
    ]
    text = "\n".join(check_targets(summary, "T"))
    assert "1 of 2 bins" in text and "within 15% of PC-oracle: 1 of 2" in text
    assert "(missed)" in text and "(met)" in text
    assert "does not beat it" in text
    assert "OC 4.0" in text
    assert "(missed: > 1.1x)" in text  # 12.0 / 10.0 on bin b


def test_halfcheetah_targets_are_the_moderate_bins():
    from planner.context.report import check_targets

    summary = []
    for b, ok in (("[0.2,0.3]", False), ("[0.4,0.5]", True), ("[1.5,1.6]", True), ("[1.7,1.8]", False)):
        c = f"CaDM mass,damping {b}"
        summary += [
            {"task": "HalfCheetah-v5", "condition": c, "arm": "NC", "return_mean": 100.0},
            {"task": "HalfCheetah-v5", "condition": c, "arm": "PC-oracle", "return_mean": 400.0},
            {
                "task": "HalfCheetah-v5",
                "condition": c,
                "arm": "OC",
                "return_mean": 390.0 if ok else 90.0,
                "vs_NC_mean": 290.0 if ok else -10.0,
                "vs_NC_ci95": [200.0, 380.0] if ok else [-30.0, 10.0],
            },
        ]
    text = "\n".join(check_targets(summary, "HalfCheetah-v5"))
    assert "Test bins (moderate)" in text and "2 of 2 bins" in text and "within 15% of PC-oracle: 2 of 2" in text
    assert "[0.2,0.3]" not in text and "[1.7,1.8]" not in text


def test_step_cost_is_measured_interleaved_and_decides_the_step_target():
    from planner.context.report import check_targets
    from planner.context.timing import step_cost
    from planner.evaluate import PENDULUM_MODEL, PENDULUM_OC_MODEL

    knobs = dict(samples=32, horizon=5, iterations=1, sigma=1.0, temperature=1.0)
    r = step_cost({"NC": str(PENDULUM_MODEL), "OC": str(PENDULUM_OC_MODEL)}, "Pendulum-v1", "mppi", knobs, steps=6)
    assert r["steps"] == 6 and set(r["arms"]) == {"NC", "OC"}
    assert all(v["p50_ms"] > 0 and v["p99_ms"] >= v["p50_ms"] for v in r["arms"].values())
    assert r["ratio_p50"]["OC"] == pytest.approx(r["arms"]["OC"]["p50_ms"] / r["arms"]["NC"]["p50_ms"])
    with pytest.raises(ValueError, match="'NC' arm"):
        step_cost({"OC": str(PENDULUM_OC_MODEL)}, "Pendulum-v1", "mppi", knobs)
    rows = [
        {"task": "T", "condition": "c", "arm": "NC", "return_mean": 1.0, "step_p50_ms": 10.0},
        {"task": "T", "condition": "c", "arm": "OC", "return_mean": 1.0, "step_p50_ms": 20.0},
    ]
    cost = {"steps": 6, "arms": {"NC": {"p50_ms": 10.0}, "OC": {"p50_ms": 10.5}}, "ratio_p50": {"OC": 1.05}}
    text = "\n".join(check_targets(rows, "T", cost))
    assert "measured interleaved" in text and "1.05x (met" in text and "2.00x" in text
    assert "(missed" in "\n".join(check_targets(rows, "T"))


def test_regressed_context_trains_the_encoder_onto_log_factors_and_only_the_encoder(tmp_path):
    from planner.models.train import _regression_loss

    cfg = _tiny_oc_config(tmp_path, context="regressed", steps=120, out=str(tmp_path / "pcr.lpm.safetensors"))
    cfg["collect"]["randomize"] = {"m": [0.5, 1.5], "l": [0.5, 1.5]}
    path = train(cfg)
    meta = read_metadata(path)
    assert meta["info"]["context"] == "regressed" and meta["networks"]["context_encoder"]["history"] == 4
    losses = meta["info"]["train"]["losses"]
    assert losses[-1]["regression"] < losses[0]["regression"]
    pe = meta["info"]["prediction_error"]
    assert pe["context_regression_mse"] >= 0 and len(pe["context_regression_r2"]) == 2
    # The regression's gradient reaches the encoder only (the dynamics see the true factors).
    m = load_model(path)
    b = {
        "h_obs": torch.randn(6, 4, 3),
        "h_act": torch.rand(6, 4, 1),
        "h_next": torch.randn(6, 4, 3),
        "h_mask": torch.ones(6, 4),
        "ctx": torch.randn(6, 2),
    }
    m.zero_grad(set_to_none=True)
    _regression_loss(m, b).backward()
    assert all(p.grad is None for d in m.dynamics for p in d.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.context_head.parameters())
    # ShiftBench's PC-regressed arm plans with that encoder and refuses other models.
    from planner.bench.shiftbench import _context_source

    factory, K = _context_source("PC-regressed", planner.WorldModel.load(str(path)))
    assert K == 4 and factory(None).context_dim == 2
    oc = train(_tiny_oc_config(tmp_path, steps=2))
    with pytest.raises(ValueError, match="context 'regressed'"):
        _context_source("PC-regressed", planner.WorldModel.load(str(oc)))
