"""Writes model files (docs/MODEL_FORMAT.md) byte by byte, and a float64 NumPy oracle of
the planning return they define. Independent of torch and of the `safetensors`
package, so the native loader is checked against the written spec, and hostile
files can be crafted."""

from __future__ import annotations

import json
import struct

import numpy as np

ACTS = {
    "none": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "tanh": np.tanh,
}


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str], dtype_override=None) -> None:
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        dtype = (dtype_override or {}).get(name, {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}[arr.dtype])
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _mlp(prefix, sizes, act, ln, rng, tensors, last_act="none", simnorm=0, last_ln=False):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        name = f"{prefix}.{i}"
        tensors[name + ".weight"] = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        tensors[name + ".bias"] = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
        layer = {"in": n_in, "out": n_out, "weight": name + ".weight", "bias": name + ".bias"}
        if ln and (last_ln or not last):
            tensors[name + ".ln.weight"] = (1 + 0.1 * rng.standard_normal(n_out)).astype(np.float32)
            tensors[name + ".ln.bias"] = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
            layer.update(norm="layernorm", norm_weight=name + ".ln.weight", norm_bias=name + ".ln.bias", eps=1e-5)
        else:
            layer["norm"] = "none"
        layer["act"] = (last_act if last else act) if not (last and simnorm) else "simnorm"
        if layer["act"] == "simnorm":
            layer["simnorm_dim"] = simnorm
        layers.append(layer)
    return layers


def random_model(
    S=3,
    A=1,
    Z=8,
    C=0,
    M=1,
    hidden=16,
    layers=2,
    act="mish",
    ln=True,
    simnorm=0,
    value=True,
    seed=0,
    context_encoder=None,
):
    """A random model: returns (tensors, metadata dict).

    context_encoder: None, or dict(history=K, embed=[widths], head=[widths], act=..., ln=...)
    adding networks.context_encoder: embed maps 2S+A through the `embed` widths (the last
    is E; every embed layer has norm and activation, as the Python model builds it), head
    maps E through the `head` hidden widths to 2C (last layer linear). act and ln default
    to the model's."""
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {}
    h = [hidden] * layers
    zin = ["z", "a", "c"] if C else ["z", "a"]
    nets = {
        "encoder": {"inputs": ["obs"], "layers": _mlp("enc", [S, *h, Z], act, ln, rng, t, simnorm=simnorm)},
        "dynamics": [
            {"inputs": zin, "layers": _mlp(f"dyn{m}", [Z + A + C, *h, Z], act, ln, rng, t, simnorm=simnorm)}
            for m in range(M)
        ],
        "reward": [{"inputs": zin, "layers": _mlp(f"rew{m}", [Z + A + C, *h, 1], act, ln, rng, t)} for m in range(M)],
    }
    if value:
        nets["value"] = {"inputs": ["z", "c"] if C else ["z"], "layers": _mlp("val", [Z + C, *h, 1], act, ln, rng, t)}
    meta = {
        "format": "latent-planner/world-model",
        "format_version": 1,
        "obs_dim": S,
        "action_dim": A,
        "latent_dim": Z,
        "context_dim": C,
        "ensemble": M,
        "discount": 0.95,
        "action_low": [-2.0] * A,
        "action_high": [1.0] * A,
        "obs_shift": rng.standard_normal(S).round(3).tolist(),
        "obs_scale": (1 + rng.random(S)).round(3).tolist(),
        "reward_shift": 0.3,
        "reward_scale": 2.0,
        "value_shift": -0.5,
        "value_scale": 3.0,
        "networks": nets,
        "info": {"preset": "test"},
    }
    if context_encoder is not None:
        # Drawn last, so that the other networks of a seed do not change with it.
        ce = dict(context_encoder)
        e_act, e_ln = ce.get("act", act), ce.get("ln", ln)
        embed = [2 * S + A, *ce.get("embed", [hidden])]
        head = [embed[-1], *ce.get("head", [hidden]), 2 * C]
        nets["context_encoder"] = {
            "history": ce["history"],
            "pool": "mean",
            "embed": {"layers": _mlp("ctx.embed", embed, e_act, e_ln, rng, t, last_act=e_act, last_ln=True)},
            "head": {"layers": _mlp("ctx.head", head, e_act, e_ln, rng, t)},
        }
    return t, meta


def save(path, tensors, meta, **kw) -> None:
    write_safetensors(path, tensors, {"latent_planner": json.dumps(meta)}, **kw)


def _forward(layers, tensors, x):
    for L in layers:
        x = x @ tensors[L["weight"]].astype(np.float64).T + tensors[L["bias"]]
        if L.get("norm") == "layernorm":
            mu = x.mean(-1, keepdims=True)
            var = x.var(-1, keepdims=True)
            x = (x - mu) / np.sqrt(var + L["eps"]) * tensors[L["norm_weight"]] + tensors[L["norm_bias"]]
        if L["act"] == "simnorm":
            g = L["simnorm_dim"]
            y = x.reshape(*x.shape[:-1], -1, g)
            y = np.exp(y - y.max(-1, keepdims=True))
            x = (y / y.sum(-1, keepdims=True)).reshape(x.shape)
        else:
            x = ACTS[L["act"]](x)
    return x


def oracle_returns(tensors, meta, obs, actions, context=None, disagreement=0.0):
    """float64 planning returns [N] of actions [N, H, A] from obs [S] (MODEL_FORMAT.md)."""
    nets = meta["networks"]
    lo, hi = np.array(meta["action_low"]), np.array(meta["action_high"])
    obs_n = (np.asarray(obs, np.float64) - meta["obs_shift"]) / meta["obs_scale"]
    z = np.repeat(_forward(nets["encoder"]["layers"], tensors, obs_n[None]), len(actions), 0)
    c = np.repeat(np.asarray(context, np.float64)[None], len(actions), 0) if meta["context_dim"] else None
    R = np.zeros(len(actions))
    disc = 1.0
    for t in range(actions.shape[1]):
        a = 2 * (actions[:, t].astype(np.float64) - lo) / (hi - lo) - 1
        x = np.concatenate([z, a] + ([c] if c is not None else []), -1)
        zs = np.stack([_forward(n["layers"], tensors, x) for n in nets["dynamics"]])
        r = np.mean([_forward(n["layers"], tensors, x)[:, 0] for n in nets["reward"]], 0)
        R += disc * (r * meta["reward_scale"] + meta["reward_shift"])
        if disagreement and len(zs) > 1:
            R -= disagreement * disc * zs.std(0).mean(-1)
        z = zs.mean(0)
        disc *= meta["discount"]
    if nets.get("value"):
        x = np.concatenate([z] + ([c] if c is not None else []), -1)
        R += disc * (_forward(nets["value"]["layers"], tensors, x)[:, 0] * meta["value_scale"] + meta["value_shift"])
    return R


def ref_context(meta, tensors, obs, act, next_obs, mask):
    """float64 context mu [B, C] of windows obs [B, K, S], act [B, K, A], next_obs [B, K, S]
    and mask [B, K] (MODEL_FORMAT.md, "Context encoder")."""
    ce = meta["networks"]["context_encoder"]
    C = meta["context_dim"]
    shift, scale = np.array(meta["obs_shift"]), np.array(meta["obs_scale"])
    lo, hi = np.array(meta["action_low"]), np.array(meta["action_high"])
    obs, act, next_obs = (np.asarray(x, np.float64) for x in (obs, act, next_obs))
    x = np.concatenate([(obs - shift) / scale, 2 * (act - lo) / (hi - lo) - 1, (next_obs - obs) / scale], -1)
    e = _forward(ce["embed"]["layers"], tensors, x)  # [B, K, E]
    m = np.asarray(mask, np.float64)[..., None]
    n = m.sum(-2)
    # Padding is selected out, not multiplied by 0, so that its values never matter.
    p = np.where(m > 0, e, 0.0).sum(-2) / np.maximum(n, 1)  # zeros for a window with no transition
    return _forward(ce["head"]["layers"], tensors, p)[..., :C]
