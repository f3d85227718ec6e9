"""World models: presets, SimNorm, the model file, datasets, dynamics edits, training."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from planner.models import (  # noqa: E402
    PRESETS,
    WorldModel,
    export_model,
    load_model,
    preset,
    read_metadata,
)
from planner.models.world_model import simnorm  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def tiny_model(seed: int = 0, **overrides) -> WorldModel:
    torch.manual_seed(seed)
    m = WorldModel(preset("tiny", 3, 1, **overrides))
    m.set_normalization(obs_scale=[1, 1, 8], action_low=[-2], action_high=[2], reward_scale=2.0, reward_shift=-1.0)
    return m.eval()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_shapes(name):
    S, A, B, N, H = 17, 6, 2, 5, 3
    cfg = preset(name, S, A)
    m = WorldModel(cfg).eval()
    Z, C, M = cfg.latent_dim, cfg.context_dim, cfg.ensemble
    c = torch.zeros(B, C) if C else None
    with torch.no_grad():
        z = m.encode(torch.randn(B, S))
        a = torch.zeros(B, A)
        assert z.shape == (B, Z)
        assert m.next_all(z, a, c).shape == (M, B, Z)
        assert m.next(z, a, c).shape == (B, Z)
        assert m.reward(z, a, c).shape == (B,)
        assert m.value(z, c).shape == (B,)
        r = m.rollout_returns(torch.randn(B, S), torch.zeros(B, N, H, A), c)
    assert r.shape == (B, N) and torch.isfinite(r).all()


def test_preset_sizes_and_validation():
    small = preset("latent-small", 17, 6)
    assert (small.latent_dim, small.hidden_dim, small.hidden_layers, small.context_dim) == (32, 128, 2, 8)
    assert small.layer_norm and small.activation == "mish" and not small.simnorm_dim
    big = preset("latent-tdmpc2-1m", 17, 6)
    assert (big.latent_dim, big.hidden_dim, big.simnorm_dim, big.value_head) == (128, 384, 8, True)
    assert preset("tdmpc2-5m", 17, 6).latent_dim == 512
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge", 3, 1)
    with pytest.raises(ValueError, match="activation"):
        preset("tiny", 3, 1, activation="gelu")
    with pytest.raises(ValueError, match="simnorm_dim"):
        preset("tiny", 3, 1, simnorm_dim=3)
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        preset("tiny", 3, 1, widht=3)


def test_simnorm_groups_sum_to_one():
    x = torch.randn(4, 32) * 5
    y = simnorm(x, 8).reshape(4, 4, 8)
    torch.testing.assert_close(y.sum(-1), torch.ones(4, 4))
    cfg = preset("tdmpc2-1m", 5, 2, latent_dim=16, hidden_dim=32)
    m = WorldModel(cfg).eval()
    with torch.no_grad():
        z = m.encode(torch.randn(3, 5))
        zn = m.next(z, torch.zeros(3, 2))
    for t in (z, zn):
        torch.testing.assert_close(t.reshape(3, 2, 8).sum(-1), torch.ones(3, 2))


def reference_returns(m: WorldModel, obs, actions, c=None, lam=0.0):
    """MODEL_FORMAT.md "Planning return", written out step by step in float64."""
    m = m.double()
    obs, actions = obs.double(), actions.double()
    B, N, H, A = actions.shape
    out = torch.zeros(B, N, dtype=torch.float64)
    g = m.config.discount
    for b in range(B):
        for n in range(N):
            z = m.encoder((obs[b] - m.obs_shift) / m.obs_scale)
            R = 0.0
            for t in range(H):
                a_n = 2 * (actions[b, n, t] - m.action_low) / (m.action_high - m.action_low) - 1
                x = torch.cat([z, a_n] + ([c[b].double()] if c is not None else []))
                r = torch.stack([h(x)[0] for h in m.reward_heads]).mean()
                R += g**t * (r * m.reward_scale + m.reward_shift)
                zs = torch.stack([d(x) for d in m.dynamics])
                R -= lam * g**t * zs.std(0, unbiased=False).mean()
                z = zs.mean(0)
            if m.value_head is not None:
                v = m.value_head(torch.cat([z] + ([c[b].double()] if c is not None else [])))[0]
                R += g**H * (v * m.value_scale + m.value_shift)
            out[b, n] = R
    m.float()
    return out


@pytest.mark.parametrize("overrides", [{}, {"value_head": True, "context_dim": 2, "simnorm_dim": 4}])
def test_rollout_returns_follow_the_format(overrides):
    m = tiny_model(**overrides)
    m.set_normalization(value_scale=3.0, value_shift=0.5, obs_shift=[0.1, -0.2, 0.3])
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(2, 3, generator=g)
    actions = torch.rand(2, 4, 5, 1, generator=g) * 4 - 2
    c = torch.randn(2, 2, generator=g) if m.config.context_dim else None
    with torch.no_grad():
        got = m.rollout_returns(obs, actions, c, disagreement=0.3)
        want = reference_returns(m, obs, actions, c, lam=0.3)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


def test_export_load_round_trip(tmp_path):
    m = tiny_model(value_head=True, context_dim=2)
    path = export_model(m, tmp_path / "m.lpm.safetensors", {"task": "Pendulum-v1", "preset": "tiny"})
    m2 = load_model(path)
    assert m2.config == m.config
    obs = torch.randn(3, 3)
    actions = torch.rand(3, 6, 4, 1) * 4 - 2
    c = torch.randn(3, 2)
    with torch.no_grad():
        assert torch.equal(m.rollout_returns(obs, actions, c, 0.1), m2.rollout_returns(obs, actions, c, 0.1))
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert m2.info["task"] == "Pendulum-v1"


def test_metadata_matches_the_format(tmp_path):
    m = tiny_model()
    path = export_model(m, tmp_path / "m.lpm.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        assert set(f.metadata()) == {"latent_planner"}
        names = set(f.keys())
        assert all(f.get_tensor(k).dtype == np.float32 for k in names)
    meta = read_metadata(path)
    assert set(meta) == {
        "format", "format_version", "obs_dim", "action_dim", "latent_dim", "context_dim", "ensemble",
        "discount", "action_low", "action_high", "obs_shift", "obs_scale", "reward_shift", "reward_scale",
        "value_shift", "value_scale", "networks", "info",
    }  # fmt: skip
    assert meta["format"] == "latent-planner/world-model" and meta["format_version"] == 1
    assert (meta["obs_dim"], meta["action_dim"], meta["latent_dim"], meta["ensemble"]) == (3, 1, 8, 2)
    assert meta["action_low"] == [-2.0] and meta["obs_scale"] == [1.0, 1.0, 8.0]
    nets = meta["networks"]
    assert nets["encoder"]["inputs"] == ["obs"] and nets["value"] is None
    assert len(nets["dynamics"]) == len(nets["reward"]) == 2
    assert nets["dynamics"][0]["inputs"] == ["z", "a", "c"]
    layer = nets["dynamics"][1]["layers"][0]
    assert layer["weight"] == "dynamics.1.layers.0.weight" and layer["bias"] == "dynamics.1.layers.0.bias"
    assert {"in", "out", "norm", "norm_weight", "norm_bias", "eps", "act"} <= set(layer)
    assert layer["norm"] == "layernorm" and layer["act"] == "mish"
    assert nets["reward"][0]["layers"][-1]["out"] == 1 and nets["reward"][0]["layers"][-1]["norm"] == "none"
    referenced = set()
    for net in [nets["encoder"], *nets["dynamics"], *nets["reward"]]:
        for lay in net["layers"]:
            referenced |= {lay[k] for k in ("weight", "bias", "norm_weight", "norm_bias") if k in lay}
    assert referenced == names


def _rewrite(path: Path, out: Path, edit) -> Path:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    meta = read_metadata(path)
    edit(meta, tensors)
    save_file(tensors, str(out), {"latent_planner": json.dumps(meta)})
    return out


def test_bad_files_raise_value_error(tmp_path):
    path = export_model(tiny_model(), tmp_path / "m.lpm.safetensors")
    data = path.read_bytes()
    cases = {}
    cases["truncated"] = data[: len(data) - 40]
    cases["short"] = data[:5]
    cases["header past the end"] = struct.pack("<Q", len(data)) + data[8:]
    (n,) = struct.unpack("<Q", data[:8])
    cases["header not JSON"] = data[:8] + b"{" * n + data[8 + n :]
    for blob in cases.values():
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(blob)
        with pytest.raises(ValueError):
            load_model(bad)

    def version(meta, tensors):
        meta["format_version"] = 2

    def act(meta, tensors):
        meta["networks"]["encoder"]["layers"][0]["act"] = "swish"

    def shape(meta, tensors):
        tensors["encoder.layers.0.weight"] = np.zeros((16, 4), np.float32)

    def missing(meta, tensors):
        del tensors["reward.0.layers.0.bias"]

    def chain(meta, tensors):
        meta["latent_dim"] = 9

    def nonfinite(meta, tensors):
        tensors["dynamics.0.layers.0.weight"][0, 0] = np.nan

    for edit, msg in [
        (version, "format_version"),
        (act, "unknown activation"),
        (shape, "shape"),
        (missing, "missing tensor"),
        (chain, "must map"),
        (nonfinite, "non-finite"),
    ]:
        with pytest.raises(ValueError, match=msg):
            load_model(_rewrite(path, tmp_path / f"{edit.__name__}.safetensors", edit))


def test_export_refuses_non_finite(tmp_path):
    m = tiny_model()
    with torch.no_grad():
        m.encoder.layers[0].linear.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        export_model(m, tmp_path / "m.lpm.safetensors")


def test_torch_scorer_drives_the_planner():
    import planner
    from planner.models.torch_scorer import TorchScorer

    m = tiny_model()
    scorer = TorchScorer(m)
    state = np.array([[1.0, 0.0, 0.5]], np.float32)
    actions = np.random.default_rng(0).uniform(-2, 2, (1, 7, 4, 1)).astype(np.float32)
    r = scorer(state, actions)
    assert r.shape == (1, 7) and r.dtype == np.float32
    with torch.no_grad():
        want = m.rollout_returns(torch.from_numpy(state), torch.from_numpy(actions)).numpy()
    np.testing.assert_array_equal(r, want)
    with pytest.raises(TypeError):
        scorer(state.astype(np.float64), actions)
    with pytest.raises(ValueError, match="S=3"):
        scorer(np.zeros((1, 4), np.float32), actions)
    p = planner.Planner(scorer, planner.MPPIConfig(samples=16, horizon=4, iterations=2, sigma=1.0), lower=[-2],
                        upper=[2], action_dim=1)  # fmt: skip
    res = p.plan(state[0])
    assert res.action.shape == (1,) and -2 <= res.action[0] <= 2


def test_torch_scorer_context():
    from planner.models.torch_scorer import TorchScorer

    m = tiny_model(context_dim=2)
    state = np.zeros((2, 3), np.float32)
    actions = np.zeros((2, 3, 2, 1), np.float32)
    with pytest.raises(ValueError, match="context"):
        TorchScorer(m)(state, actions)
    s = TorchScorer(m, context=[0.5, -0.5])
    assert s(state, actions).shape == (2, 3)
    s.set_context(np.zeros((2, 2), np.float32))
    assert s(state, actions).shape == (2, 3)
    with pytest.raises(ValueError, match="C=2"):
        s.set_context([1.0, 2.0, 3.0])


# -- dynamics edits -----------------------------------------------------------------------
def test_pendulum_randomization_changes_and_restores():
    gym = pytest.importorskip("gymnasium")
    from planner.envs import apply_dynamics, restore_dynamics, scaled_dynamics

    env = gym.make("Pendulum-v1")
    base = env.unwrapped
    nominal = (base.m, base.l, base.g)

    def roll():
        env.reset(seed=3)
        return np.stack([env.step(np.array([1.0], np.float32))[0] for _ in range(10)])

    ref = roll()
    saved = apply_dynamics(env, {"m": 1.5, "l": 0.8})
    assert (base.m, base.l) == pytest.approx((1.5 * nominal[0], 0.8 * nominal[1]))
    assert not np.allclose(roll(), ref)
    restore_dynamics(env, saved)
    assert (base.m, base.l, base.g) == nominal
    np.testing.assert_array_equal(roll(), ref)
    with scaled_dynamics(env, {"g": 0.5}):
        assert base.g == pytest.approx(0.5 * nominal[2])
    assert base.g == nominal[2]
    for bad, msg in [({"mass": 2.0}, "unknown dynamics parameter"), ({"m": 0.0}, "> 0"), ({"l": -1}, "> 0")]:
        with pytest.raises(ValueError, match=msg):
            apply_dynamics(env, bad)
    assert (base.m, base.l, base.g) == nominal


def test_mujoco_randomization_changes_and_restores():
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("mujoco")
    from planner.envs import apply_dynamics, restore_dynamics

    try:
        env = gym.make("HalfCheetah-v5")
    except Exception as e:  # pragma: no cover - missing optional rendering deps etc.
        pytest.skip(f"HalfCheetah-v5 unavailable: {e}")
    model = env.unwrapped.model
    before = {k: getattr(model, k).copy() for k in ("body_mass", "dof_damping", "geom_friction", "actuator_gear")}
    saved = apply_dynamics(env, {"mass": 2.0, "damping": 0.5, "friction": 1.5, "gear": 0.8})
    np.testing.assert_allclose(model.body_mass, 2.0 * before["body_mass"])
    np.testing.assert_allclose(model.dof_damping, 0.5 * before["dof_damping"])
    np.testing.assert_allclose(model.geom_friction[:, 0], 1.5 * before["geom_friction"][:, 0])
    np.testing.assert_array_equal(model.geom_friction[:, 1:], before["geom_friction"][:, 1:])
    np.testing.assert_allclose(model.actuator_gear[:, 0], 0.8 * before["actuator_gear"][:, 0])
    restore_dynamics(env, saved)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(model, k), v)
    with pytest.raises(ValueError, match="unknown dynamics parameter"):
        apply_dynamics(env, {"m": 2.0})
    env.close()


# -- datasets -----------------------------------------------------------------------------
def test_dataset_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("gymnasium")
    from planner.models.data import collect, load_dataset, save_dataset

    ds = collect(
        "Pendulum-v1",
        6,
        max_steps=20,
        randomize={"m": [0.75, 1.25], "l": {"values": [0.8, 1.2]}},
        episodes_per_draw=2,
        seed=1,
        progress=False,
    )
    assert ds.num_frames == 120 and ds.num_episodes == 6
    assert ds.dynamics_id.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.parameter_names == ("m", "l")
    assert np.all(ds.parameters[0] == ds.parameters[1]) and not np.all(ds.parameters[0] == ds.parameters[2])
    assert set(ds.parameters[:, 1]) <= {0.8, 1.2}
    assert ds.truncated.sum() == 6 and not ds.terminated.any()
    same = ds.frame_index[1:] != 0
    np.testing.assert_array_equal(ds.observation[1:][same], ds.next_observation[:-1][same])
    root = save_dataset(ds, tmp_path / "ds")
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_frames"] == 120 and info["features"]["observation"]["shape"] == [3]
    assert (root / "meta" / "episodes.parquet").is_file()
    assert (root / "data" / "chunk-000" / "file-000.parquet").is_file()
    back = load_dataset(root)
    for name in ("observation", "action", "reward", "next_observation", "terminated", "truncated", "episode_index",
                 "frame_index", "episode_length", "dynamics_id", "parameters"):  # fmt: skip
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name), err_msg=name)
    assert back.parameter_names == ds.parameter_names and back.task == "Pendulum-v1"
    np.testing.assert_array_equal(back.action_low, [-2.0])
    again = collect("Pendulum-v1", 6, max_steps=20, randomize={"m": [0.75, 1.25], "l": {"values": [0.8, 1.2]}},
                    episodes_per_draw=2, seed=1, progress=False)  # fmt: skip
    np.testing.assert_array_equal(again.observation, ds.observation)
    with pytest.raises(ValueError, match="unknown parameters"):
        collect("Pendulum-v1", 1, randomize={"mass": [1, 2]}, progress=False)
    with pytest.raises(ValueError, match="not a dataset"):
        load_dataset(tmp_path / "nothing")


# -- training -----------------------------------------------------------------------------
def test_tiny_training_run(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("gymnasium")
    from planner.models.train import TrainConfig, train

    d = json.loads((CONFIGS / "tiny_test.json").read_text())
    d.update(out=str(tmp_path / "tiny.lpm.safetensors"), dataset=str(tmp_path / "data"), steps=200)
    cfg = TrainConfig.from_dict(d)
    path = train(cfg)
    m = load_model(path)
    losses = m.info["train"]["losses"]
    assert losses[-1]["total"] < 0.5 * losses[0]["total"]
    assert losses[-1]["reward"] < losses[0]["reward"] and losses[-1]["consistency"] < losses[0]["consistency"]
    assert set(m.info["prediction_error"]) == {"1", "5"}
    assert m.value_head is not None and float(m.value_scale) > float(m.reward_scale)
    # Deterministic given the seed (the dataset is now loaded from disk).
    m2 = load_model(train(TrainConfig.from_dict(d | {"out": str(tmp_path / "again.lpm.safetensors")})))
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    # The round trip ends in native planning from the trained file, without torch.
    import planner
    from planner.models.torch_scorer import TorchScorer

    p = planner.Planner.from_file(path, planner.MPPIConfig(samples=64, horizon=8, iterations=2, sigma=1.0))
    obs = np.array([1.0, 0.0, 0.0], np.float32)
    r = p.plan(obs)
    assert np.isfinite(r.best_return) and not r.fallback and -2.0 <= float(r.action[0]) <= 2.0
    np.testing.assert_allclose(
        planner.LatentScorer(planner.WorldModel.load(str(path))).score(obs, r.plan[None]),
        TorchScorer(m)(obs[None], r.plan[None, None])[0],
        rtol=1e-4,
        atol=1e-4,
    )


def test_train_config_validation(tmp_path):
    from planner.models.train import TrainConfig, main_train

    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"collect": {"episode": 3}})
    with pytest.raises(ValueError, match="horizon"):
        TrainConfig(horizon=0)
    cfg = TrainConfig.from_json(CONFIGS / "pendulum_small.json")
    assert cfg.preset == "latent-small" and cfg.overrides["context_dim"] == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": 10, "bogus": 1}')
    assert main_train(["--config", str(bad)]) == 2


def test_checkpoint_resume_matches_a_straight_run(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("gymnasium")
    from planner.models.train import TrainConfig, train

    d = json.loads((CONFIGS / "tiny_test.json").read_text())
    d.update(dataset=str(tmp_path / "data"), steps=40, checkpoint_every=20, lr_schedule="cosine", val_fraction=0.0)
    straight = load_model(train(TrainConfig.from_dict(d | {"out": str(tmp_path / "a.lpm.safetensors")})))
    ckpt = tmp_path / "a.step0000020.ckpt.safetensors"
    assert ckpt.is_file()
    resumed = load_model(
        train(TrainConfig.from_dict(d | {"out": str(tmp_path / "b.lpm.safetensors"), "resume": str(ckpt)}))
    )
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_oracle_context_training(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("gymnasium")
    from planner.models.train import TrainConfig, episode_context, train

    d = json.loads((CONFIGS / "tiny_test.json").read_text())
    d.update(out=str(tmp_path / "c.lpm.safetensors"), steps=20, context="oracle", overrides={"context_dim": 3})
    m = load_model(train(TrainConfig.from_dict(d)))
    assert m.config.context_dim == 3 and m.info["context"] == "oracle"
    from planner.models.data import collect

    ds = collect("Pendulum-v1", 2, max_steps=5, randomize={"m": [0.5, 0.6], "g": [1.5, 2]}, progress=False)
    ctx = episode_context(ds, 3, "oracle")
    np.testing.assert_allclose(ctx[:, :2], np.log(ds.parameters), rtol=1e-6)
    assert (ctx[:, 2] == 0).all() and (episode_context(ds, 3) == 0).all()
    with pytest.raises(ValueError, match="do not fit"):
        episode_context(ds, 1, "oracle")


@pytest.mark.parametrize("overrides", [{}, {"value_head": True, "context_dim": 2, "simnorm_dim": 4, "ensemble": 3}])
def test_native_loader_agrees_with_torch(tmp_path, overrides):
    from planner import _core
    from planner.models.torch_scorer import TorchScorer

    if not hasattr(_core, "LatentScorer"):
        pytest.skip("this build has no native latent scorer")
    m = tiny_model(**overrides)
    m.set_normalization(obs_shift=[0.1, -0.2, 0.3], value_scale=3.0, value_shift=0.5)
    path = export_model(m, tmp_path / "m.lpm.safetensors")
    native = _core.LatentScorer(_core.WorldModel.load(str(path)), disagreement=0.2)
    rng = np.random.default_rng(0)
    state = rng.standard_normal(3).astype(np.float32)
    actions = rng.uniform(-2, 2, (32, 6, 1)).astype(np.float32)
    ctx = rng.standard_normal(2).astype(np.float32) if m.config.context_dim else None
    want = TorchScorer(m, context=ctx, disagreement=0.2)(state[None], actions[None])[0]
    np.testing.assert_allclose(native.score(state, actions, ctx), want, rtol=1e-4, atol=1e-4)
