"""The native context encoder (docs/MODEL_FORMAT.md, "Context encoder") against the
float64 NumPy oracle of the format, its strict argument checks, hostile files, and the
unchanged behaviour of everything else in a model file that carries one."""

import json
import struct
import threading

import numpy as np
import pytest
from model_files import oracle_returns, random_model, ref_context, save

import planner
from planner import _core


def _load(tmp_path, tensors, meta, name="m.lpm.safetensors"):
    path = tmp_path / name
    save(path, tensors, meta)
    return planner.WorldModel.load(str(path))


def _windows(meta, B, K, rng, mask="partial"):
    """B windows of K transitions with actions inside the box, and a mask of the kind asked."""
    S, A = meta["obs_dim"], meta["action_dim"]
    lo, hi = np.array(meta["action_low"]), np.array(meta["action_high"])
    obs = rng.normal(0.0, 2.0, (B, K, S)).astype(np.float32)
    act = rng.uniform(lo, hi, (B, K, A)).astype(np.float32)
    nxt = (obs + rng.normal(0.0, 0.3, (B, K, S))).astype(np.float32)
    if mask == "full":
        m = np.ones((B, K), bool)
    else:
        # Episode starts: window b has its first min(b, K) transitions padded; the last
        # window has none valid; with K > 2, one window has holes in the middle too.
        m = np.ones((B, K), bool)
        for b in range(B):
            m[b, : min(b, K)] = False
        m[-1] = False
        if K > 2 and B > 1:
            m[0, 1::3] = False
        # Padding need not be zero: its values must not matter.
        obs[~m] = rng.normal(0.0, 50.0, obs[~m].shape)
    return obs, act, nxt, m


ENCODERS = [
    # K=1, pendulum-like shapes, C=2
    dict(S=3, A=1, C=2, ce=dict(history=1, embed=[16], head=[16])),
    # K=16, pendulum-like, C=8, two embed layers, LayerNorm + Mish
    dict(S=3, A=1, C=8, ce=dict(history=16, embed=[32, 32], head=[32])),
    # K=16, latent-small shapes (S=17, A=6), C=8
    dict(S=17, A=6, C=8, Z=32, hidden=64, ce=dict(history=16, embed=[64, 64], head=[64])),
    # ELU with LayerNorm, C=2, head without hidden layers
    dict(S=17, A=6, C=2, act="elu", ce=dict(history=4, embed=[24], head=[])),
    # ReLU / tanh without LayerNorm
    dict(S=3, A=1, C=8, act="relu", ln=False, ce=dict(history=16, embed=[16, 8], head=[16], act="tanh")),
    # Mish without LayerNorm in the encoder, ELU+LayerNorm in the model
    dict(S=5, A=2, C=2, act="elu", ce=dict(history=3, embed=[20], head=[12], act="mish", ln=False)),
]


@pytest.mark.parametrize("case", ENCODERS, ids=lambda c: f"S{c['S']}A{c['A']}C{c['C']}K{c['ce']['history']}")
@pytest.mark.parametrize("mask", ["full", "partial"])
def test_context_matches_oracle(tmp_path, case, mask):
    kw = {k: v for k, v in case.items() if k != "ce"}
    tensors, meta = random_model(context_encoder=case["ce"], **kw)
    model = _load(tmp_path, tensors, meta)
    K = case["ce"]["history"]
    assert model.has_context_encoder and model.history == K
    enc = _core.ContextEncoder(model)
    assert enc.history == K and enc.context_dim == case["C"]
    rng = np.random.default_rng(7)
    obs, act, nxt, m = _windows(meta, 6, K, rng, mask)
    got = enc.infer(obs, act, nxt, m)
    assert got.dtype == np.float32 and got.shape == (6, case["C"])
    want = ref_context(meta, tensors, obs, act, nxt, m)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_all_masked_window_pools_to_zeros(tmp_path):
    tensors, meta = random_model(C=4, context_encoder=dict(history=5, embed=[16], head=[16]))
    enc = _core.ContextEncoder(_load(tmp_path, tensors, meta))
    obs, act, nxt, _ = _windows(meta, 3, 5, np.random.default_rng(0), "full")
    m = np.zeros((3, 5), bool)
    got = enc.infer(obs, act, nxt, m)
    # head(0): the same for every window, whatever the (ignored) transitions hold
    from model_files import _forward

    head0 = _forward(meta["networks"]["context_encoder"]["head"]["layers"], tensors, np.zeros((1, 16)))[0, :4]
    np.testing.assert_allclose(got, np.repeat(head0[None], 3, 0), rtol=1e-5, atol=1e-6)
    assert (got == got[0]).all()


def test_padding_values_are_never_read(tmp_path):
    tensors, meta = random_model(S=4, A=2, C=3, context_encoder=dict(history=6, embed=[16], head=[8]))
    enc = _core.ContextEncoder(_load(tmp_path, tensors, meta))
    rng = np.random.default_rng(3)
    obs, act, nxt, m = _windows(meta, 5, 6, rng, "partial")
    first = enc.infer(obs, act, nxt, m)
    obs2, act2, nxt2 = obs.copy(), act.copy(), nxt.copy()
    obs2[~m], act2[~m], nxt2[~m] = 1e30, -1e30, 0.0
    np.testing.assert_array_equal(enc.infer(obs2, act2, nxt2, m), first)
    # uint8 and bool masks are the same mask; repeated calls are bit-identical
    np.testing.assert_array_equal(enc.infer(obs, act, nxt, m.astype(np.uint8)), first)
    np.testing.assert_array_equal(enc.infer(obs, act, nxt, m), first)


def test_batch_of_windows_equals_windows_one_by_one(tmp_path):
    tensors, meta = random_model(S=17, A=6, C=8, context_encoder=dict(history=16, embed=[64, 64], head=[64]))
    enc = _core.ContextEncoder(_load(tmp_path, tensors, meta))
    obs, act, nxt, m = _windows(meta, 9, 16, np.random.default_rng(5), "partial")
    batch = enc.infer(obs, act, nxt, m)
    single = np.concatenate([enc.infer(obs[b : b + 1], act[b : b + 1], nxt[b : b + 1], m[b : b + 1]) for b in range(9)])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)


def test_threads_share_an_encoder(tmp_path):
    """infer releases the GIL and keeps no state: threads get the serial answer."""
    tensors, meta = random_model(S=17, A=6, C=8, context_encoder=dict(history=16, embed=[64], head=[64]))
    enc = _core.ContextEncoder(_load(tmp_path, tensors, meta))
    obs, act, nxt, m = _windows(meta, 32, 16, np.random.default_rng(9), "partial")
    want = enc.infer(obs, act, nxt, m)
    out = [None] * 4

    def run(i):
        for _ in range(5):
            out[i] = enc.infer(obs, act, nxt, m)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        np.testing.assert_array_equal(o, want)


def test_model_without_encoder(tmp_path):
    tensors, meta = random_model(C=3)
    model = _load(tmp_path, tensors, meta)
    assert model.has_context_encoder is False and model.history == 0
    with pytest.raises(ValueError, match="no context encoder"):
        _core.ContextEncoder(model)
    # null means none, as for the value head
    meta["networks"]["context_encoder"] = None
    model = _load(tmp_path, tensors, meta, "null.safetensors")
    assert model.has_context_encoder is False and model.history == 0


@pytest.mark.parametrize("kw", [dict(C=2, M=1), dict(S=17, A=6, Z=32, C=8, M=2, act="elu")])
def test_the_rest_of_the_model_is_unchanged(tmp_path, kw):
    """A file with a context encoder plans exactly as the same file without it."""
    tensors, meta = random_model(context_encoder=dict(history=8, embed=[16], head=[16]), **kw)
    with_enc = _load(tmp_path, tensors, meta, "with.safetensors")
    plain_meta = json.loads(json.dumps(meta))
    del plain_meta["networks"]["context_encoder"]
    plain_tensors = {k: v for k, v in tensors.items() if not k.startswith("ctx.")}
    plain = _load(tmp_path, plain_tensors, plain_meta, "plain.safetensors")
    enc_params = sum(v.size for k, v in tensors.items() if k.startswith("ctx.") and ".ln." not in k)
    assert with_enc.parameter_count == plain.parameter_count + enc_params
    rng = np.random.default_rng(4)
    S, A, C = meta["obs_dim"], meta["action_dim"], meta["context_dim"]
    obs = rng.standard_normal(S).astype(np.float32)
    ctx = rng.standard_normal(C).astype(np.float32)
    actions = rng.uniform(-2, 1, (40, 6, A)).astype(np.float32)
    got = planner.LatentScorer(with_enc).score(obs, actions, ctx)
    np.testing.assert_array_equal(got, planner.LatentScorer(plain).score(obs, actions, ctx))
    want = oracle_returns(tensors, meta, obs, actions, ctx)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # the inferred context plugs straight into the scorer
    enc = _core.ContextEncoder(with_enc)
    w = _windows(meta, 1, 8, rng, "full")
    mu = enc.infer(*w)[0]
    assert np.isfinite(planner.LatentScorer(with_enc).score(obs, actions, mu)).all()


# -- argument checks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    tensors, meta = random_model(S=3, A=1, C=2, context_encoder=dict(history=4, embed=[8], head=[8]))
    path = tmp_path_factory.mktemp("ctx") / "m.safetensors"
    save(path, tensors, meta)
    return _core.ContextEncoder(planner.WorldModel.load(str(path)))


def _good(B=2, K=4, S=3, A=1):
    return dict(
        obs=np.zeros((B, K, S), np.float32),
        action=np.zeros((B, K, A), np.float32),
        next_obs=np.zeros((B, K, S), np.float32),
        mask=np.ones((B, K), bool),
    )


@pytest.mark.parametrize(
    "change,error,pattern",
    [
        (dict(obs=np.zeros((2, 4, 3))), TypeError, r"obs: expected dtype float32 \[B, K, S\]"),
        (dict(obs=[[[0.0] * 3] * 4] * 2), TypeError, r"obs: expected a float32 numpy array \[B, K, S\], got list"),
        (dict(obs=np.zeros((2, 5, 3), np.float32)), ValueError, r"obs: expected shape \[B, K, S\] .*K = 4"),
        (dict(obs=np.zeros((2, 4, 2), np.float32)), ValueError, r"obs: expected shape \[B, K, S\] .*S = 3"),
        (dict(obs=np.zeros((0, 4, 3), np.float32)), ValueError, r"obs: expected shape \[B, K, S\] with B >= 1"),
        (dict(obs=np.zeros((4, 3), np.float32)), ValueError, r"obs: expected shape \[B, K, S\]"),
        (dict(action=np.zeros((2, 4, 2), np.float32)), ValueError, r"action: expected shape \[B, K, A\] = \(2, 4, 1\)"),
        (dict(action=np.zeros((2, 4, 1), np.float16)), TypeError, r"action: expected dtype float32 \[B, K, A\]"),
        (
            dict(next_obs=np.zeros((2, 4, 6), np.float32)[:, :, ::2]),
            TypeError,
            r"next_obs: expected a C-contiguous, aligned array \[B, K, S\]",
        ),
        (
            dict(next_obs=np.zeros((3, 4, 3), np.float32)),
            ValueError,
            r"next_obs: expected shape \[B, K, S\] = \(2, 4, 3\)",
        ),
        (dict(mask=np.ones((2, 4), np.float32)), TypeError, r"mask: expected dtype bool or uint8 \[B, K\]"),
        (dict(mask=np.ones((2, 4), np.int8)), TypeError, r"mask: expected dtype bool or uint8 \[B, K\]"),
        (dict(mask=[[True] * 4] * 2), TypeError, r"mask: expected a bool or uint8 numpy array \[B, K\], got list"),
        (dict(mask=np.ones((2, 3), bool)), ValueError, r"mask: expected shape \[B, K\] = \(2, 4\)"),
        (dict(mask=np.ones((2, 8), bool)[:, ::2]), TypeError, r"mask: expected a C-contiguous array \[B, K\]"),
        (dict(mask=np.full((2, 4), 2, np.uint8)), ValueError, r"mask: values must be 0 or 1"),
        (dict(obs=np.full((2, 4, 3), np.nan, np.float32)), ValueError, r"obs: non-finite value in \[B, K, S\]"),
        (dict(next_obs=np.full((2, 4, 3), np.inf, np.float32)), ValueError, r"next_obs: non-finite value"),
        (dict(action=np.full((2, 4, 1), np.nan, np.float32)), ValueError, r"action: non-finite value"),
    ],
)
def test_bad_arguments(encoder, change, error, pattern):
    args = _good()
    args.update(change)
    with pytest.raises(error, match=pattern):
        encoder.infer(**args)
    assert encoder.infer(**_good()).shape == (2, 2)  # usable after a bad call


def test_bad_arguments_big_endian_and_model(encoder):
    args = _good()
    args["obs"] = args["obs"].astype(">f4")
    with pytest.raises(TypeError, match="obs: expected dtype float32"):
        encoder.infer(**args)
    with pytest.raises(ValueError, match="model must not be null"):
        _core.ContextEncoder(None)
    with pytest.raises(TypeError):
        _core.ContextEncoder("m.safetensors")


# -- hostile files -----------------------------------------------------------------------


def _ce(meta):
    return meta["networks"]["context_encoder"]


def _bad(tmp_path, mutate_meta=None, mutate_tensors=None, C=2):
    tensors, meta = random_model(S=3, A=1, C=C, context_encoder=dict(history=4, embed=[8, 6], head=[8]))
    if mutate_meta:
        mutate_meta(meta)
    if mutate_tensors:
        mutate_tensors(tensors)
    path = tmp_path / "bad.safetensors"
    save(path, tensors, meta)
    return str(path)


def _widen_first_embed(meta, tensors):
    # a self-consistent first layer of the wrong input width (2S+A+1)
    L = _ce(meta)["embed"]["layers"][0]
    L["in"] = 8
    tensors[L["weight"]] = np.zeros((L["out"], 8), np.float32)


def _head_out(meta, tensors):
    L = _ce(meta)["head"]["layers"][-1]
    L["out"] = 5
    tensors[L["weight"]] = np.zeros((5, L["in"]), np.float32)
    tensors[L["bias"]] = np.zeros(5, np.float32)


def _head_in(meta, tensors):
    L = _ce(meta)["head"]["layers"][0]
    L["in"] = 7
    tensors[L["weight"]] = np.zeros((L["out"], 7), np.float32)


HOSTILE = [
    (dict(mutate_meta=lambda m: _ce(m).update(history=0)), r"context_encoder\.history must be in \[1, "),
    (dict(mutate_meta=lambda m: _ce(m).update(history=-3)), r"context_encoder\.history must be in \[1, "),
    (dict(mutate_meta=lambda m: _ce(m).update(history=1 << 20)), r"context_encoder\.history must be in \[1, "),
    (dict(mutate_meta=lambda m: _ce(m).update(history=2.5)), r"context_encoder\.history: expected an integer"),
    (dict(mutate_meta=lambda m: _ce(m).update(history="16")), r"context_encoder\.history: expected a number"),
    (dict(mutate_meta=lambda m: _ce(m).pop("history")), r"context_encoder: missing key 'history'"),
    (dict(mutate_meta=lambda m: _ce(m).update(pool="max")), r"context_encoder\.pool: unknown pooling 'max'"),
    (dict(mutate_meta=lambda m: _ce(m).update(pool=None)), r"context_encoder\.pool: expected a string"),
    (dict(mutate_meta=lambda m: _ce(m).update(dropout=0.1)), r"context_encoder: unknown key 'dropout'"),
    (dict(mutate_meta=lambda m: _ce(m)["embed"].update(act="mish")), r"context_encoder\.embed: unknown key 'act'"),
    (dict(mutate_meta=lambda m: _ce(m)["head"].update(inputs=["c"])), r"context_encoder\.head\.inputs: must be empty"),
    (dict(mutate_meta=lambda m: _ce(m).pop("head")), r"context_encoder: missing key 'head'"),
    (dict(mutate_meta=lambda m: _ce(m)["embed"].update(layers=[])), r"context_encoder\.embed\.layers: needs at least"),
    (dict(mutate_meta=lambda m: m["networks"].update(context_encoder=[1])), r"context_encoder: expected a"),
    (
        dict(mutate_meta=lambda m: _ce(m)["embed"]["layers"][1].update(act="gelu")),
        r"context_encoder\.embed\.layers\[1\]\.act: unknown activation 'gelu'",
    ),
    (
        dict(mutate_meta=lambda m: _ce(m)["head"]["layers"][0].update(norm="batchnorm")),
        r"context_encoder\.head\.layers\[0\]: unknown norm",
    ),
    (
        dict(mutate_meta=lambda m: _ce(m)["embed"]["layers"][1].update(**{"in": 9})),
        r"context_encoder\.embed\.layers\[1\]: in=9 does not match the previous width 8",
    ),
    (dict(mutate_tensors=lambda t: t.pop("ctx.head.1.weight")), r"not in the file"),
    (dict(mutate_tensors=lambda t: t.pop("ctx.embed.0.ln.weight")), r"not in the file"),
    (
        dict(mutate_tensors=lambda t: t.update({"ctx.embed.1.weight": np.zeros((6, 7), np.float32)})),
        r"has shape \[6, 7\] but .*context_encoder\.embed\.layers\[1\]\.weight needs \[6, 8\]",
    ),
    (
        dict(mutate_tensors=lambda t: t.update({"ctx.head.0.bias": np.zeros(9, np.float32)})),
        r"context_encoder\.head\.layers\[0\]\.bias",
    ),
    (
        dict(mutate_tensors=lambda t: t["ctx.head.0.weight"].__setitem__((0, 0), np.inf)),
        r"context_encoder\.head\.layers\[0\]: non-finite parameter",
    ),
    (
        dict(mutate_tensors=lambda t: t["ctx.embed.0.ln.bias"].__setitem__(0, np.nan)),
        r"context_encoder\.embed\.layers\[0\]: non-finite parameter",
    ),
    (
        dict(mutate_tensors=lambda t: t.update({"ctx.embed.0.weight": t["ctx.embed.0.weight"].astype(np.float64)})),
        r"dtype F64; expected F32",
    ),
]


@pytest.mark.parametrize("case,pattern", HOSTILE)
def test_hostile_context_encoders(tmp_path, case, pattern):
    path = _bad(tmp_path, **case)
    with pytest.raises(ValueError, match=pattern):
        planner.WorldModel.load(path)


@pytest.mark.parametrize(
    "mutate,pattern",
    [
        (_widen_first_embed, r"context_encoder\.embed: takes 8 inputs, expected 2S \+ A = 7 \(S=3, A=1\)"),
        (_head_out, r"context_encoder\.head: outputs 5 values, expected 2C = 4"),
        (_head_in, r"context_encoder\.head: takes 7 inputs but embed outputs E = 6"),
    ],
)
def test_encoder_chain_must_connect(tmp_path, mutate, pattern):
    tensors, meta = random_model(S=3, A=1, C=2, context_encoder=dict(history=4, embed=[8, 6], head=[8]))
    mutate(meta, tensors)
    save(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ValueError, match=pattern):
        planner.WorldModel.load(str(tmp_path / "bad.safetensors"))


def test_no_encoder_without_a_context(tmp_path):
    """C = 0 with a context encoder is an error (the encoder of a C=2 model grafted on)."""
    enc_tensors, enc_meta = random_model(C=2, context_encoder=dict(history=3, embed=[8], head=[8]))
    tensors, meta = random_model(C=0)
    tensors.update({k: v for k, v in enc_tensors.items() if k.startswith("ctx.")})
    meta["networks"]["context_encoder"] = _ce(enc_meta)
    save(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ValueError, match=r"context_encoder: the model has context_dim = 0; .* needs C > 0"):
        planner.WorldModel.load(str(tmp_path / "bad.safetensors"))


def test_pool_may_be_left_out(tmp_path):
    tensors, meta = random_model(C=2, context_encoder=dict(history=3, embed=[8], head=[8]))
    del _ce(meta)["pool"]
    _ce(meta)["embed"]["inputs"] = []  # the Python writer's network shape is accepted too
    model = _load(tmp_path, tensors, meta)
    assert model.has_context_encoder and model.history == 3


def test_truncated_files_with_an_encoder(tmp_path):
    tensors, meta = random_model(C=2, context_encoder=dict(history=3, embed=[8], head=[8]))
    path = tmp_path / "m.safetensors"
    save(path, tensors, meta)
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    # every cut inside the encoder's tensors (written last) and a few elsewhere
    for cut in [*range(len(data) - 1, len(data) - 400, -7), 8 + n, 8 + n // 2, 9, 3]:
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        with pytest.raises(ValueError):
            planner.WorldModel.load(str(tmp_path / "cut.safetensors"))
