"""The native latent scorer and model-file loader against the written format: a
float64 NumPy oracle of MODEL_FORMAT.md, hostile files, and planning from a file."""

import json
import struct

import numpy as np
import pytest
from model_files import oracle_returns, random_model, save

import planner


@pytest.mark.parametrize(
    "kw",
    [
        dict(act="mish", ln=True),
        dict(act="elu", ln=True, M=3),
        dict(act="relu", ln=False, C=4),
        dict(act="tanh", ln=True, C=2, M=2, value=False),
        dict(act="mish", ln=True, simnorm=4, Z=16),
        dict(S=17, A=6, Z=32, C=8, hidden=128, layers=2, act="mish"),  # latent-small shapes
    ],
)
def test_native_returns_match_oracle(tmp_path, kw):
    tensors, meta = random_model(**kw)
    path = tmp_path / "m.lpm.safetensors"
    save(path, tensors, meta)
    model = planner.WorldModel.load(str(path))
    assert model.parameter_count > 0 and json.loads(model.metadata)["info"]["preset"] == "test"
    scorer = planner.LatentScorer(model)
    rng = np.random.default_rng(1)
    S, A, C = meta["obs_dim"], meta["action_dim"], meta["context_dim"]
    obs = rng.standard_normal(S).astype(np.float32)
    ctx = rng.standard_normal(C).astype(np.float32) if C else None
    actions = rng.uniform(-2, 1, (70, 7, A)).astype(np.float32)
    got = scorer.score(obs, actions, ctx)
    want = oracle_returns(tensors, meta, obs, actions, ctx)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_disagreement_penalty(tmp_path):
    tensors, meta = random_model(M=3)
    save(tmp_path / "m.safetensors", tensors, meta)
    model = planner.WorldModel.load(str(tmp_path / "m.safetensors"))
    rng = np.random.default_rng(2)
    obs = rng.standard_normal(3).astype(np.float32)
    actions = rng.uniform(-2, 1, (20, 5, 1)).astype(np.float32)
    plain = planner.LatentScorer(model).score(obs, actions)
    penal = planner.LatentScorer(model, disagreement=0.5).score(obs, actions)
    want = oracle_returns(tensors, meta, obs, actions, disagreement=0.5)
    np.testing.assert_allclose(penal, want, rtol=1e-4, atol=1e-4)
    assert (penal < plain).all()


def test_plan_from_file_deterministic_across_threads(tmp_path, optimizer_name):
    from conftest import make_config

    tensors, meta = random_model(S=5, A=2, Z=16, C=3, M=2, hidden=32)
    save(tmp_path / "m.safetensors", tensors, meta)
    cfg = make_config(optimizer_name, samples=150, horizon=6)
    obs = np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)
    ctx = np.ones((2, 3), np.float32)
    plans = []
    for threads in (1, 2):
        p = planner.Planner.from_file(tmp_path / "m.safetensors", cfg, batch=2, seed=3, threads=threads)
        assert p.context_dim == 3
        r = p.plan(obs, context=ctx)
        assert r.action.shape == (2, 2) and (r.plan >= -2).all() and (r.plan <= 1).all()
        plans.append(r.plan)
    np.testing.assert_array_equal(plans[0], plans[1])
    with pytest.raises(ValueError, match=r"context \[B, C\] is required"):
        p.plan(obs)
    with pytest.raises(ValueError, match=r"context: expected shape \[B, C\] = \(2, 3\)"):
        p.plan(obs, context=np.ones((2, 4), np.float32))


def test_native_planning_finds_the_model_optimum(tmp_path):
    """Planning with a file's model finds sequences better than 99% of random ones
    under that model's own return."""
    tensors, meta = random_model(S=2, A=1, Z=4, hidden=8, layers=1, act="relu", ln=False, value=False)
    save(tmp_path / "m.safetensors", tensors, meta)
    cfg = planner.CEMConfig(samples=300, horizon=5, iterations=6, elites=30)
    p = planner.Planner.from_file(tmp_path / "m.safetensors", cfg, seed=0)
    obs = np.array([0.2, -0.1], np.float32)
    r = p.plan(obs)
    scorer = planner.LatentScorer(planner.WorldModel.load(str(tmp_path / "m.safetensors")))
    rand = np.random.default_rng(0).uniform(-2, 1, (2000, 5, 1)).astype(np.float32)
    assert scorer.score(obs, r.plan[None])[0] >= np.percentile(scorer.score(obs, rand), 99)


def _bad(tmp_path, mutate_meta=None, mutate_tensors=None, raw=None, **save_kw):
    tensors, meta = random_model()
    if mutate_meta:
        mutate_meta(meta)
    if mutate_tensors:
        mutate_tensors(tensors)
    path = tmp_path / "bad.safetensors"
    if raw is not None:
        path.write_bytes(raw)
    else:
        save(path, tensors, meta, **save_kw)
    return str(path)


def _drop_bias(t):
    del t["enc.0.bias"]


@pytest.mark.parametrize(
    "case,pattern",
    [
        (dict(raw=b"\x01\x02"), "not a safetensors file"),
        (dict(raw=struct.pack("<Q", 1 << 60) + b"{}"), "header length .* exceeds the file"),
        (dict(raw=struct.pack("<Q", 4) + b"{abc"), "header is not valid JSON"),
        (dict(mutate_meta=lambda m: m.update(format_version=7)), "format_version: this build reads version 1"),
        (dict(mutate_meta=lambda m: m.update(format="pickle")), "metadata.format"),
        (dict(mutate_meta=lambda m: m.update(latent_dim=9)), r"outputs 8 values, expected 9|width"),
        (dict(mutate_meta=lambda m: m["networks"]["encoder"]["layers"][0].update(act="gelu")), "unknown activation"),
        (dict(mutate_meta=lambda m: m["networks"]["encoder"]["layers"][0].update(norm="batchnorm")), "unknown norm"),
        (dict(mutate_meta=lambda m: m.update(ensemble=2)), "2 networks|ensemble"),
        (dict(mutate_meta=lambda m: m.update(obs_scale=[1, 0, 1])), "obs_scale"),
        (dict(mutate_meta=lambda m: m.pop("networks")), "missing key 'networks'"),
        (dict(mutate_tensors=_drop_bias), "not in the file"),
        (
            dict(mutate_tensors=lambda t: t.update({"enc.0.weight": t["enc.0.weight"][:, :2].copy()})),
            r"has shape \[16, 2\] but .* needs \[16, 3\]",
        ),
        (dict(mutate_tensors=lambda t: t["enc.0.weight"].__setitem__((0, 0), np.nan)), "non-finite"),
        (
            dict(mutate_tensors=lambda t: t.update({"enc.0.weight": t["enc.0.weight"].astype(np.float64)})),
            "dtype F64; expected F32",
        ),
    ],
)
def test_bad_model_files_raise_clear_errors(tmp_path, case, pattern):
    path = _bad(tmp_path, **case)
    with pytest.raises(ValueError, match=pattern):
        planner.WorldModel.load(path)


def test_truncated_and_overlapping_files(tmp_path):
    tensors, meta = random_model()
    path = tmp_path / "m.safetensors"
    save(path, tensors, meta)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="outside the data buffer"):
        planner.WorldModel.load(str(tmp_path / "cut.safetensors"))
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    first, second = [k for k in header if k != "__metadata__"][:2]
    header[second]["data_offsets"] = [
        header[first]["data_offsets"][0],
        header[first]["data_offsets"][0] + header[second]["data_offsets"][1] - header[second]["data_offsets"][0],
    ]
    text = json.dumps(header).encode()
    (tmp_path / "ovl.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
    with pytest.raises(ValueError, match="overlap|do not match"):
        planner.WorldModel.load(str(tmp_path / "ovl.safetensors"))
    with pytest.raises(ValueError, match="cannot open"):
        planner.WorldModel.load(str(tmp_path / "missing.safetensors"))
