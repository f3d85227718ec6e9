"""Writes and reads the model file (docs/MODEL_FORMAT.md, format version 1).

`export_model` writes a safetensors file (``safetensors.numpy.save_file``) whose
``__metadata__["latent_planner"]`` JSON describes every network layer by layer;
`load_model` validates such a file and rebuilds the `WorldModel`. Neither ever
unpickles: the file holds only float32 tensors and JSON.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .world_model import ACTIVATIONS, LAYER_NORM_EPS, MLP, LayerSpec, ModelConfig, WorldModel

__all__ = ["FORMAT", "FORMAT_VERSION", "METADATA_KEY", "export_model", "load_model", "read_metadata"]

FORMAT = "latent-planner/world-model"
FORMAT_VERSION = 1
METADATA_KEY = "latent_planner"


def _floats(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.detach().cpu().reshape(-1).tolist()]


def _network(prefix: str, mlp: MLP, inputs: list[str], tensors: dict[str, np.ndarray]) -> dict:
    layers = []
    for i, layer in enumerate(mlp.layers):
        s = layer.spec
        name = f"{prefix}.layers.{i}"
        entry: dict[str, Any] = {"in": s.inp, "out": s.out, "weight": f"{name}.weight"}
        tensors[f"{name}.weight"] = layer.linear.weight.detach().cpu().float().numpy()
        if layer.linear.bias is not None:
            entry["bias"] = f"{name}.bias"
            tensors[f"{name}.bias"] = layer.linear.bias.detach().cpu().float().numpy()
        if layer.norm is not None:
            entry.update(norm="layernorm", norm_weight=f"{name}.norm_weight", norm_bias=f"{name}.norm_bias")
            entry["eps"] = float(layer.norm.eps)
            tensors[f"{name}.norm_weight"] = layer.norm.weight.detach().cpu().float().numpy()
            tensors[f"{name}.norm_bias"] = layer.norm.bias.detach().cpu().float().numpy()
        else:
            entry["norm"] = "none"
        entry["act"] = s.act
        if s.act == "simnorm":
            entry["simnorm_dim"] = s.simnorm_dim
        layers.append(entry)
    return {"inputs": inputs, "layers": layers}


def model_metadata(model: WorldModel, info: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata JSON object and the tensors of `model`, as the file holds them."""
    cfg = model.config
    tensors: dict[str, np.ndarray] = {}
    networks = {
        "encoder": _network("encoder", model.encoder, ["obs"], tensors),
        "dynamics": [_network(f"dynamics.{m}", d, ["z", "a", "c"], tensors) for m, d in enumerate(model.dynamics)],
        "reward": [_network(f"reward.{m}", r, ["z", "a", "c"], tensors) for m, r in enumerate(model.reward_heads)],
        "value": _network("value", model.value_head, ["z", "c"], tensors) if model.value_head is not None else None,
    }
    if model.context_embed is not None:
        embed = _network("context_encoder.embed", model.context_embed, [], tensors)
        head = _network("context_encoder.head", model.context_head, [], tensors)
        networks["context_encoder"] = {
            "history": model.context_history,
            "pool": "mean",
            "embed": {"layers": embed["layers"]},
            "head": {"layers": head["layers"]},
        }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "obs_dim": cfg.obs_dim,
        "action_dim": cfg.action_dim,
        "latent_dim": cfg.latent_dim,
        "context_dim": cfg.context_dim,
        "ensemble": cfg.ensemble,
        "discount": float(cfg.discount),
        "action_low": _floats(model.action_low),
        "action_high": _floats(model.action_high),
        "obs_shift": _floats(model.obs_shift),
        "obs_scale": _floats(model.obs_scale),
        "reward_shift": float(model.reward_shift),
        "reward_scale": float(model.reward_scale),
        "value_shift": float(model.value_shift),
        "value_scale": float(model.value_scale),
        "networks": networks,
        "info": {"model_config": cfg.to_dict(), **dict(info or {})},
    }
    return meta, tensors


def export_model(model: WorldModel, path: str | Path, info: dict | None = None) -> Path:
    """Writes `model` to `path` (conventionally ``*.lpm.safetensors``).

    Args:
        model: the world model; its normalization buffers are written as metadata.
        path: output file (parent directories are created).
        info: free-form JSON-serializable facts (preset, task, training summary).

    Raises:
        ValueError: a non-finite weight or normalization constant.
    """
    from safetensors.numpy import save_file

    meta, tensors = model_metadata(model, info)
    for name, t in tensors.items():
        if not np.isfinite(t).all():
            raise ValueError(f"tensor {name} has non-finite values; refusing to export")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}, str(path), {METADATA_KEY: text})
    os.chmod(path, 0o644)  # the writer creates it owner-only; a model file is meant to be shared
    return path


# -- reading ------------------------------------------------------------------------------
def _read_header(path: Path) -> tuple[dict, bytes]:
    """Parses and validates the safetensors container; returns (header, file bytes)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e})") from None
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    buffer = data[8 + n :]
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(t, dict) or not {"dtype", "shape", "data_offsets"} <= set(t):
            raise ValueError(f"{path}: tensor {name}: malformed entry {t!r}")
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name}: dtype {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        count = math.prod(t["shape"])
        if not 0 <= b <= e <= len(buffer):
            raise ValueError(f"{path}: tensor {name}: offsets [{b}, {e}] leave the buffer ({len(buffer)} bytes)")
        if e - b != 4 * count:
            raise ValueError(f"{path}: tensor {name}: {e - b} bytes for shape {t['shape']}")
        spans.append((b, e, name))
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:], strict=False):
        if b1 < e0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return header, data


def read_metadata(path: str | Path) -> dict:
    """The parsed ``latent_planner`` metadata JSON of a model file (validated container)."""
    path = Path(path)
    return _metadata(path, _read_header(path)[0])


def _metadata(path: Path, header: dict) -> dict:
    meta_text = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if meta_text is None:
        raise ValueError(f"{path}: no __metadata__[{METADATA_KEY!r}]; not a latent-planner model file")
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata {METADATA_KEY!r} is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{path}: format must be {FORMAT!r}, got {meta.get('format') if isinstance(meta, dict) else meta!r}"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unknown format_version {meta.get('format_version')!r}; this reader knows {FORMAT_VERSION}"
        )
    return meta


def _layer_spec(where: str, d: dict) -> LayerSpec:
    norm = d.get("norm", "none")
    if norm not in ("none", "layernorm"):
        raise ValueError(f"{where}: unknown norm {norm!r}; expected 'none' or 'layernorm'")
    act = d.get("act", "none")
    if act not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {act!r}; expected one of {ACTIVATIONS}")
    try:
        return LayerSpec(
            int(d["in"]),
            int(d["out"]),
            norm == "layernorm",
            act,
            int(d.get("simnorm_dim", 0)),
            "bias" in d and d["bias"] is not None,
            float(d.get("eps", LAYER_NORM_EPS)),
        )
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e}") from None


def _load_network(
    where: str, net: Any, tensors: dict[str, np.ndarray], inputs: list[str], context_dim: int
) -> tuple[list[LayerSpec], dict]:
    if not isinstance(net, dict) or not isinstance(net.get("layers"), list) or not net["layers"]:
        raise ValueError(f"{where}: expected {{'inputs': [...], 'layers': [LAYER, ...]}}")
    # This reader concatenates inputs in the canonical order; "c" may be left out when C = 0.
    allowed = [inputs] + ([[x for x in inputs if x != "c"]] if context_dim == 0 else [])
    if net.get("inputs", inputs) not in allowed:
        raise ValueError(f"{where}: inputs {net.get('inputs')!r} not supported; expected {inputs}")
    specs, state = [], {}
    for i, d in enumerate(net["layers"]):
        at = f"{where}.layers[{i}]"
        s = _layer_spec(at, d)
        if specs and specs[-1].out != s.inp:
            raise ValueError(f"{at}: in={s.inp} does not connect to the previous out={specs[-1].out}")
        shapes = {"weight": [s.out, s.inp], "bias": [s.out], "norm_weight": [s.out], "norm_bias": [s.out]}
        keys = ["weight"] + (["bias"] if s.bias else []) + (["norm_weight", "norm_bias"] if s.norm else [])
        for key in keys:
            name = d.get(key)
            if name not in tensors:
                raise ValueError(f"{at}: missing tensor {key} {name!r}")
            t = tensors[name]
            if list(t.shape) != shapes[key]:
                raise ValueError(f"{at}: tensor {name} has shape {list(t.shape)}, expected {shapes[key]}")
            if not np.isfinite(t).all():
                raise ValueError(f"{at}: tensor {name} has non-finite values")
            module_key = {"weight": "linear.weight", "bias": "linear.bias"}.get(key, key.replace("norm_", "norm."))
            state[f"layers.{i}.{module_key}"] = torch.from_numpy(t.copy())
        specs.append(s)
    return specs, state


def _check_chain(where: str, specs: list[LayerSpec], inp: int, out: int, what: str) -> None:
    if specs[0].inp != inp or specs[-1].out != out:
        raise ValueError(f"{where} must map {what} -> {out}; got {specs[0].inp} -> {specs[-1].out}")


def _vector(meta: dict, key: str, n: int) -> list[float]:
    v = meta.get(key)
    if not isinstance(v, list) or len(v) != n or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in v):
        raise ValueError(f"{key}: expected {n} finite numbers, got {v!r}")
    return [float(x) for x in v]


def load_model(path: str | Path) -> WorldModel:
    """Validates the model file at `path` and rebuilds its `WorldModel` (eval mode).

    Raises:
        ValueError: any problem MODEL_FORMAT.md's "Validation" section lists, named.
    """
    from safetensors.numpy import load as load_bytes

    path = Path(path)
    header, data = _read_header(path)
    meta = _metadata(path, header)
    try:
        tensors = load_bytes(data)
    except Exception as e:  # the container was validated; this is a last line of defence
        raise ValueError(f"{path}: cannot read tensors ({e})") from None
    try:
        S, A, Z = int(meta["obs_dim"]), int(meta["action_dim"]), int(meta["latent_dim"])
        C, M = int(meta["context_dim"]), int(meta["ensemble"])
        discount = float(meta["discount"])
        nets = meta["networks"]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad or missing metadata field ({e})") from None
    if not 0.0 < discount <= 1.0:
        raise ValueError(f"{path}: discount must be in (0, 1], got {discount}")
    if min(S, A, Z, M) < 1 or C < 0:
        raise ValueError(f"{path}: dims must be >= 1 (context_dim >= 0), got S={S} A={A} Z={Z} C={C} M={M}")
    if not isinstance(nets, dict):
        raise ValueError(f"{path}: networks must be an object")
    if not isinstance(nets.get("dynamics"), list) or len(nets["dynamics"]) != M:
        raise ValueError(f"{path}: networks.dynamics must be a list of ensemble={M} networks")
    if not isinstance(nets.get("reward"), list) or len(nets["reward"]) != M:
        raise ValueError(f"{path}: networks.reward must be a list of ensemble={M} networks")
    enc, enc_state = _load_network("encoder", nets.get("encoder"), tensors, ["obs"], C)
    _check_chain("encoder", enc, S, Z, f"obs_dim={S}")
    dyn, rew, states = [], [], {"encoder": enc_state}
    for m in range(M):
        d, ds = _load_network(f"dynamics[{m}]", nets["dynamics"][m], tensors, _ZAC, C)
        _check_chain(f"dynamics[{m}]", d, Z + A + C, Z, f"Z+A+C={Z + A + C}")
        r, rs = _load_network(f"reward[{m}]", nets["reward"][m], tensors, _ZAC, C)
        _check_chain(f"reward[{m}]", r, Z + A + C, 1, f"Z+A+C={Z + A + C}")
        dyn.append(d)
        rew.append(r)
        states[f"dynamics.{m}"], states[f"reward_heads.{m}"] = ds, rs
    value = None
    if nets.get("value") is not None:
        value, vs = _load_network("value", nets["value"], tensors, ["z", "c"], C)
        _check_chain("value", value, Z + C, 1, f"Z+C={Z + C}")
        states["value_head"] = vs
    ctx_enc = None
    if nets.get("context_encoder") is not None:
        ce = nets["context_encoder"]
        if C == 0:
            raise ValueError(f"{path}: networks.context_encoder needs context_dim > 0")
        if not isinstance(ce, dict) or set(ce) - {"history", "pool", "embed", "head"}:
            raise ValueError(f"{path}: networks.context_encoder must be {{history, pool, embed, head}}")
        K = ce.get("history")
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise ValueError(f"{path}: networks.context_encoder.history must be an int >= 1, got {K!r}")
        if ce.get("pool", "mean") != "mean":
            raise ValueError(f"{path}: networks.context_encoder.pool must be 'mean', got {ce.get('pool')!r}")
        emb, es = _load_network("context_encoder.embed", ce.get("embed"), tensors, [], C)
        _check_chain("context_encoder.embed", emb, 2 * S + A, emb[-1].out, f"2S+A={2 * S + A}")
        head, hs = _load_network("context_encoder.head", ce.get("head"), tensors, [], C)
        _check_chain("context_encoder.head", head, emb[-1].out, 2 * C, f"E={emb[-1].out}")
        ctx_enc = {"history": K, "embed": emb, "head": head}
        states["context_embed"], states["context_head"] = es, hs
    cfg = _config_from(meta, S, A, Z, C, M, discount, dyn, value is not None)
    model = WorldModel(
        cfg, {"encoder": enc, "dynamics": dyn, "reward": rew, "value": value, "context_encoder": ctx_enc}
    )
    full = {f"{prefix}.{k}": v for prefix, st in states.items() for k, v in st.items()}
    missing, unexpected = model.load_state_dict(full, strict=False)
    missing = [k for k in missing if k.split(".")[-1] not in _BUFFERS]
    if missing or unexpected:
        raise ValueError(f"{path}: parameters do not match the networks (missing {missing}, unexpected {unexpected})")
    model.set_normalization(
        obs_shift=_vector(meta, "obs_shift", S),
        obs_scale=_vector(meta, "obs_scale", S),
        action_low=_vector(meta, "action_low", A),
        action_high=_vector(meta, "action_high", A),
        reward_shift=float(meta.get("reward_shift", 0.0)),
        reward_scale=float(meta.get("reward_scale", 1.0)),
        value_shift=float(meta.get("value_shift", 0.0)),
        value_scale=float(meta.get("value_scale", 1.0)),
    )
    model.info = dict(meta.get("info") or {})
    return model.eval()


_ZAC = ["z", "a", "c"]
_BUFFERS = {"obs_shift", "obs_scale", "action_low", "action_high"}
_BUFFERS |= {"reward_shift", "reward_scale", "value_shift", "value_scale"}


def _config_from(meta, S, A, Z, C, M, discount, dyn, has_value) -> ModelConfig:
    """The ModelConfig recorded in info, else one inferred from the layers (best effort)."""
    recorded = (meta.get("info") or {}).get("model_config")
    if isinstance(recorded, dict):
        try:
            cfg = ModelConfig.from_dict(recorded)
            dims = (cfg.obs_dim, cfg.action_dim, cfg.latent_dim, cfg.context_dim, cfg.ensemble, cfg.value_head)
            if dims == (S, A, Z, C, M, has_value):
                return replace(cfg, discount=discount)
        except (TypeError, ValueError):
            pass
    first = dyn[0][0]
    hidden = dyn[0][:-1]
    act = hidden[0].act if hidden and hidden[0].act in ("mish", "elu", "relu") else "mish"
    return ModelConfig(
        obs_dim=S,
        action_dim=A,
        latent_dim=Z,
        hidden_dim=hidden[0].out if hidden else first.out,
        hidden_layers=len(hidden),
        context_dim=C,
        ensemble=M,
        activation=act,
        layer_norm=first.norm,
        simnorm_dim=dyn[0][-1].simnorm_dim if dyn[0][-1].act == "simnorm" else 0,
        value_head=has_value,
        discount=discount,
    )
