"""Training of latent world models (TD-MPC2-style), and the `planner train` command.

Losses over a sampled sub-trajectory ``(o_t, a_t, r_t, o'_t)``, t = 0..T-1, of one
episode, with ``z_0 = encoder(o_0)`` and the latent rolled with the mean of the M
dynamics heads, each term weighted by ``rho^t`` (the weights normalized to sum to 1):

- latent consistency: ``|dynamics_m(z_t, a_t, c) - sg(encoder(o'_t))|^2`` (every member);
- reward: ``(reward_m(z_t, a_t, c) - r_n_t)^2`` in normalized reward units;
- value (when the model has a value head): ``(V(z_t, c) - y_t)^2`` with the TD target
  ``y_t = (1 - gamma) r_n_t + gamma (1 - terminated_t) V_ema(sg(encoder(o'_t)), c)``
  from an EMA copy of the value head. The ``(1 - gamma)`` keeps V_n on the scale of
  r_n; the exported ``value_scale = reward_scale / (1 - gamma)`` and ``value_shift =
  reward_shift / (1 - gamma)`` undo it (MODEL_FORMAT.md's value units).

Observation and reward normalization are computed from the training split and stored
in the model. Checkpoints are safetensors files (model, EMA target, Adam state, RNG
state, step); nothing is pickled. Given the seed and thread count a run is
deterministic.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import Dataset, collect, load_dataset, save_dataset
from .export import export_model
from .world_model import WorldModel, dataclass_from_dict, preset

__all__ = [
    "CollectConfig",
    "TrainConfig",
    "train",
    "main_train",
    "prediction_error",
    "episode_context",
    "fit_normalization",
    "save_checkpoint",
    "load_checkpoint",
]


@dataclass
class CollectConfig:
    """Data collection when `TrainConfig.dataset` does not exist yet (see `data.collect`).

    Attributes:
        episodes: episodes to collect.
        max_steps: steps per episode (None: the task's time limit).
        randomize: name -> [lo, hi] or {"values": [...]} scale factors per draw.
        episodes_per_draw: episodes sharing one dynamics draw.
        noise_std: action noise (random policy: unused).
        seed: collection seed (None: the training seed).
    """

    episodes: int = 100
    max_steps: int | None = None
    randomize: dict = field(default_factory=dict)
    episodes_per_draw: int = 1
    noise_std: float = 0.0
    seed: int | None = None


@dataclass
class TrainConfig:
    """Everything a training run needs; `from_json` / `from_dict` validate the keys.

    Attributes:
        task: gymnasium task id.
        preset: model preset name (`world_model.PRESETS`).
        overrides: ModelConfig fields replacing the preset's (e.g. {"context_dim": 0}).
        dataset: a dataset directory; loaded if it exists, else collected and saved
            there. None: collect in memory only.
        collect: collection settings.
        context: "zeros" (C zeros), "oracle" (log scale factors of the episode's
            dynamics, zero-padded to C: the PC-oracle arm) or "outcome" (inferred by the
            model's context encoder from the K transitions before each training segment,
            trained jointly: the OC arm; needs overrides context_history K > 0) or
            "regressed" (the dynamics conditioned on the oracle context, plus a context
            encoder over the K transitions before each segment regressed onto it by
            Gaussian NLL, its gradient kept out of the dynamics: the PC-regressed arm,
            which plans with the encoder's estimate; needs context_history K > 0).
        regression_coef: weight of the "regressed" encoder's NLL.
        context_loss: for "outcome": "full" (outcome prediction + kl_coef * KL to N(0, I)
            + infonce_coef * multi-positive InfoNCE over dynamics IDs) or "prediction"
            (outcome prediction only: the CaDM-style ablation).
        kl_coef, infonce_coef, infonce_temperature: weights of the context losses and
            the InfoNCE temperature (on L2-normalized context means).
        draws_per_batch: for "outcome" (and with `stratify_dynamics`): batches hold this
            many dynamics IDs with batch_size / draws_per_batch segments each, so every
            anchor has positives.
        dataset_command: when set, `dataset` must already exist (built by this command,
            e.g. a planned collection under shifted dynamics); a missing one is an error
            naming the command rather than a silent random collection.
        stratify_dynamics: sample every arm's batches stratified by dynamics ID, as
            "outcome" always does (so arms compared on one dataset weigh its dynamics
            alike even when one ID holds most of the data).
        steps: gradient steps.
        batch_size: sub-trajectories per step.
        horizon: T, steps of the multi-step losses.
        lr, weight_decay: Adam(W) settings; encoder_lr_scale multiplies the encoder's lr.
        lr_schedule: "constant" or "cosine" (to 10% of lr).
        consistency_coef, reward_coef, value_coef: loss weights.
        rho: per-step weight decay of the multi-step losses.
        grad_clip: max gradient norm (0: off).
        tau: EMA rate of the value target network.
        val_fraction: share of episodes held out for the prediction-error report.
        eval_ks: k of the k-step prediction errors reported.
        seed: seeds model init, batches and (by default) collection.
        threads: torch threads (0: leave as is).
        out: model file written at the end (``*.lpm.safetensors``).
        checkpoint_every: steps between checkpoints next to `out`, plus one at the last
            step (0: none).
        resume: a checkpoint to continue from.
        progress: tqdm progress bars.
    """

    task: str = "Pendulum-v1"
    preset: str = "latent-small"
    overrides: dict = field(default_factory=dict)
    dataset: str | None = None
    collect: CollectConfig = field(default_factory=CollectConfig)
    context: str = "zeros"
    context_loss: str = "full"
    kl_coef: float = 1e-3
    regression_coef: float = 1.0
    infonce_coef: float = 0.1
    infonce_temperature: float = 0.1
    draws_per_batch: int = 32
    stratify_dynamics: bool = False
    dataset_command: str | None = None
    steps: int = 10000
    batch_size: int = 256
    horizon: int = 5
    lr: float = 1e-3
    weight_decay: float = 0.0
    encoder_lr_scale: float = 1.0
    lr_schedule: str = "constant"
    consistency_coef: float = 20.0
    reward_coef: float = 1.0
    value_coef: float = 0.1
    rho: float = 0.5
    grad_clip: float = 20.0
    tau: float = 0.01
    val_fraction: float = 0.1
    eval_ks: list = field(default_factory=lambda: [1, 5, 10])
    seed: int = 0
    threads: int = 2
    out: str = "runs/model.lpm.safetensors"
    checkpoint_every: int = 0
    resume: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.collect, dict):
            self.collect = _from_dict(CollectConfig, self.collect, "collect")
        for name in ("steps", "batch_size", "horizon"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "rho"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("consistency_coef", "reward_coef", "value_coef", "grad_clip", "weight_decay", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.context not in ("zeros", "oracle", "outcome", "regressed"):
            raise ValueError(f"context must be 'zeros', 'oracle', 'outcome' or 'regressed', got {self.context!r}")
        if self.context_loss not in ("full", "prediction"):
            raise ValueError(f"context_loss must be 'full' or 'prediction', got {self.context_loss!r}")
        for name in ("kl_coef", "infonce_coef", "regression_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.infonce_temperature > 0:
            raise ValueError(f"infonce_temperature must be > 0, got {self.infonce_temperature}")
        if not 1 <= self.draws_per_batch <= self.batch_size:
            raise ValueError(f"draws_per_batch must be in [1, batch_size], got {self.draws_per_batch}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.collect.episodes < 1:
            raise ValueError(f"collect.episodes must be >= 1, got {self.collect.episodes}")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _from_dict(cls, d, "config")

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Reads a JSON object of TrainConfig fields ("collect" a nested object)."""
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_dict(d)

    def to_dict(self) -> dict:
        return asdict(self)


_from_dict = dataclass_from_dict


# -- data ---------------------------------------------------------------------------------
def _get_dataset(cfg: TrainConfig) -> Dataset:
    if cfg.dataset and (Path(cfg.dataset) / "meta" / "info.json").is_file():
        ds = load_dataset(cfg.dataset)
        if ds.task != cfg.task:
            raise ValueError(f"dataset {cfg.dataset} is for {ds.task}, config says {cfg.task}")
        return ds
    if cfg.dataset_command:
        raise FileNotFoundError(f"dataset {cfg.dataset} does not exist: build it with `{cfg.dataset_command}`")
    c = cfg.collect
    ds = collect(
        cfg.task,
        c.episodes,
        randomize=c.randomize,
        episodes_per_draw=c.episodes_per_draw,
        max_steps=c.max_steps,
        noise_std=c.noise_std,
        seed=cfg.seed if c.seed is None else c.seed,
        progress=cfg.progress,
    )
    if cfg.dataset:
        save_dataset(ds, cfg.dataset)
    return ds


def _split(ds: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    E = ds.num_episodes
    n_val = int(round(E * val_fraction)) if E > 1 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and E > 1 else 0), E - 1)
    if n_val == 0:
        return ds, None
    perm = np.random.default_rng(seed).permutation(E)
    return ds.select_episodes(np.sort(perm[n_val:])), ds.select_episodes(np.sort(perm[:n_val]))


def episode_context(ds: Dataset, context_dim: int, mode: str = "zeros") -> np.ndarray:
    """Context per episode [E, C]: zeros, or ("oracle") log scale factors padded to C."""
    ctx = np.zeros((ds.num_episodes, context_dim), np.float32)
    if mode == "oracle" and context_dim:
        P = ds.parameters.shape[1]
        if P > context_dim:
            raise ValueError(f"oracle context: {P} parameters {ds.parameter_names} do not fit C={context_dim}")
        ctx[:, :P] = np.log(ds.parameters)
    return ctx


@torch.no_grad()
def outcome_episode_context(model: WorldModel, ds: Dataset) -> np.ndarray:
    """Context per episode [E, C] inferred by the model's encoder from its first K transitions."""
    K = model.context_history
    out = np.zeros((ds.num_episodes, model.config.context_dim), np.float32)
    for e, start in enumerate(ds.episode_starts()):
        n = int(min(K, ds.episode_length[e]))
        sl = slice(int(start), int(start) + n)
        pad = K - n

        def win(x: np.ndarray, sl: slice = sl, pad: int = pad) -> torch.Tensor:
            t = torch.from_numpy(np.asarray(x[sl], np.float32))
            return torch.cat([torch.zeros(pad, t.shape[1]), t])[None]

        mask = torch.tensor([[0] * pad + [1] * n])
        out[e] = model.infer_context(win(ds.observation), win(ds.action), win(ds.next_observation), mask)[0].numpy()
    return out


def fit_normalization(model: WorldModel, ds: Dataset) -> None:
    """Sets the model's normalization from data: obs mean/std, reward mean/std, box."""
    if not (np.isfinite(ds.action_low).all() and np.isfinite(ds.action_high).all()):
        raise ValueError("the action box must be finite to map actions to [-1, 1]")
    obs = np.concatenate([ds.observation, ds.next_observation]).astype(np.float64)
    std = obs.std(0)
    r_std = float(ds.reward.astype(np.float64).std())
    r_shift, r_scale = float(ds.reward.astype(np.float64).mean()), (r_std if r_std > 1e-6 else 1.0)
    gamma = float(model.config.discount)
    horizon_scale = 1.0 / (1.0 - gamma) if gamma < 1 else 1.0
    model.set_normalization(
        obs_shift=obs.mean(0),
        obs_scale=np.where(std > 1e-3, std, 1.0),
        action_low=ds.action_low,
        action_high=ds.action_high,
        reward_shift=r_shift,
        reward_scale=r_scale,
        value_shift=r_shift * horizon_scale,
        value_scale=r_scale * horizon_scale,
    )


class _Tensors:
    """A dataset as normalized torch tensors plus the valid start rows for horizon T."""

    def __init__(self, model: WorldModel, ds: Dataset, ctx: np.ndarray, horizon: int) -> None:
        with torch.no_grad():
            self.obs = model.normalize_obs(torch.from_numpy(ds.observation))
            self.next_obs = model.normalize_obs(torch.from_numpy(ds.next_observation))
            self.act = model.normalize_action(torch.from_numpy(ds.action))
            self.rew = (torch.from_numpy(ds.reward) - model.reward_shift) / model.reward_scale
        self.term = torch.from_numpy(ds.terminated.astype(np.float32))
        self.ctx = torch.from_numpy(ctx[ds.episode_index]) if ctx.shape[1] else None
        lengths = ds.episode_length[ds.episode_index]
        self.starts = torch.from_numpy(np.flatnonzero(ds.frame_index + horizon <= lengths))
        if len(self.starts) == 0:
            raise ValueError(f"no episode is at least horizon={horizon} steps long")
        self.horizon = horizon

    def stratify(self, ds: Dataset, draws_per_batch: int) -> None:
        """Batches of D dynamics IDs x n/D segments each (every ID weighs the same)."""
        self.draws_per_batch = draws_per_batch
        self.dyn = torch.from_numpy(ds.dynamics_id[ds.episode_index].astype(np.int64))
        ids = self.dyn[self.starts]
        self.draw_ids = torch.unique(ids)
        self.draw_starts = [self.starts[ids == d] for d in self.draw_ids]

    def enable_history(self, ds: Dataset, history: int, draws_per_batch: int) -> None:
        """Outcome contexts: stratified batches that carry the K transitions before each
        segment and its dynamics ID (so every InfoNCE anchor has positives)."""
        self.stratify(ds, draws_per_batch)
        self.history = history
        self.frame = torch.from_numpy(ds.frame_index.astype(np.int64))

    def batch(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor | None]:
        if getattr(self, "draw_ids", None) is not None:
            # Stratified: D draws x n/D segments, so every anchor has positives (same dynamics ID).
            D = min(self.draws_per_batch, len(self.draw_ids))
            per = max(1, n // D)
            pick = torch.randperm(len(self.draw_ids), generator=gen)[:D]
            i = torch.cat(
                [
                    self.draw_starts[d][torch.randint(len(self.draw_starts[d]), (per,), generator=gen)]
                    for d in pick.tolist()
                ]
            )
        else:
            i = self.starts[torch.randint(len(self.starts), (n,), generator=gen)]
        idx = i[:, None] + torch.arange(self.horizon)
        out = {
            "obs0": self.obs[i],
            "act": self.act[idx],
            "rew": self.rew[idx],
            "next_obs": self.next_obs[idx],
            "term": self.term[idx],
            "ctx": None if self.ctx is None else self.ctx[i],
        }
        if getattr(self, "history", 0):
            K = self.history
            hidx = i[:, None] - K + torch.arange(K)  # the K transitions before the segment
            mask = (self.frame[i][:, None] - K + torch.arange(K)) >= 0  # same episode only
            hidx = hidx.clamp_min(0)
            out.update(
                h_obs=self.obs[hidx] * mask[..., None],
                h_act=self.act[hidx] * mask[..., None],
                h_next=self.next_obs[hidx] * mask[..., None],
                h_mask=mask,
                dyn=self.dyn[i],
            )
        return out


def _context_losses(model: WorldModel, b: dict, cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Outcome contexts: a reparameterized sample of q(c | history) and the KL / InfoNCE terms."""
    mu, logvar = model.context_posterior(b["h_obs"], b["h_act"], b["h_next"], b["h_mask"])
    logvar = logvar.clamp(-8.0, 4.0)
    c = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
    # Multi-positive InfoNCE: positives share the anchor's dynamics ID (never the parameter values).
    u = torch.nn.functional.normalize(mu, dim=-1)
    logits = u @ u.T / cfg.infonce_temperature
    eye = torch.eye(len(u), dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    pos = (b["dyn"][:, None] == b["dyn"][None, :]) & ~eye
    has = pos.any(1)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    nce = -(log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp_min(1))[has].mean()
    if cfg.context_loss == "prediction":
        kl, nce = kl.detach(), nce.detach()  # reported, not trained (the CaDM-style ablation)
    return c, {"kl": kl, "infonce": nce}


def _regression_loss(model: WorldModel, b: dict) -> torch.Tensor:
    """PC-regressed: Gaussian NLL of the episode's log factors under q(c | history)."""
    mu, logvar = model.context_posterior(b["h_obs"], b["h_act"], b["h_next"], b["h_mask"])
    logvar = logvar.clamp(-8.0, 4.0)
    return 0.5 * ((mu - b["ctx"]).pow(2) * (-logvar).exp() + logvar).sum(-1).mean()


def _losses(
    model: WorldModel, target_value: torch.nn.Module | None, b: dict, rho: float, c: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    T = b["act"].shape[1]
    gamma = float(model.config.discount)
    c = b["ctx"] if c is None else c
    w = torch.tensor([rho**t for t in range(T)])
    w = w / w.sum()
    with torch.no_grad():
        z_next = model.encode(b["next_obs"])  # [B, T, Z]
        if target_value is not None:
            v_next = target_value(model._cat([z_next, None if c is None else c[:, None].expand(-1, T, -1)]))
            td = (1 - gamma) * b["rew"] + gamma * (1 - b["term"]) * v_next.squeeze(-1)
    z = model.encode(b["obs0"])
    cons = rew = val = torch.zeros(())
    for t in range(T):
        x = model._cat([z, b["act"][:, t], c])
        preds = torch.stack([d(x) for d in model.dynamics])  # [M, B, Z]
        r = torch.stack([h(x).squeeze(-1) for h in model.reward_heads])  # [M, B]
        cons = cons + w[t] * (preds - z_next[:, t]).pow(2).mean()
        rew = rew + w[t] * (r - b["rew"][:, t]).pow(2).mean()
        if target_value is not None:
            val = val + w[t] * (model.value(z, c) - td[:, t]).pow(2).mean()
        z = preds.mean(0)
    return {"consistency": cons, "reward": rew, "value": val}


# -- checkpoints --------------------------------------------------------------------------
def checkpoint_path(out: str | Path, step: int) -> Path:
    """Where training to model file `out` writes its checkpoint at `step`."""
    out = Path(out)
    return out.with_name(out.name.replace(".lpm.safetensors", "") + f".step{step:07d}.ckpt.safetensors")


def save_checkpoint(path: str | Path, model, target_value, optimizer, gen: torch.Generator, step: int, cfg) -> Path:
    """Model, EMA value target, Adam state and RNG state as one safetensors file."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if target_value is not None:
        tensors.update({f"target.{k}": v.detach().clone().contiguous() for k, v in target_value.state_dict().items()})
    for i, st in optimizer.state_dict()["state"].items():
        for k, v in st.items():
            tensors[f"optim.{i}.{k}"] = torch.as_tensor(v).detach().clone().contiguous()
    tensors["rng.torch"] = gen.get_state().clone()
    meta = {"step": str(step), "config": json.dumps(cfg.to_dict()), "model_config": json.dumps(model.config.to_dict())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), meta)
    return path


def load_checkpoint(path: str | Path, model, target_value, optimizer, gen: torch.Generator) -> int:
    """Restores what `save_checkpoint` wrote into the given objects; returns the step."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise ValueError(f"{path}: cannot read checkpoint ({e})") from None
    if "step" not in meta:
        raise ValueError(f"{path}: not a training checkpoint (no step in metadata)")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if target_value is not None:
        target_value.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("target.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd = optimizer.state_dict()
    sd["state"] = state
    optimizer.load_state_dict(sd)
    gen.set_state(tensors["rng.torch"])
    return int(meta["step"])


# -- evaluation ---------------------------------------------------------------------------
@torch.no_grad()
def prediction_error(
    model: WorldModel,
    ds: Dataset,
    ks: tuple[int, ...] | list[int] = (1, 5, 10),
    context: np.ndarray | None = None,
    max_starts: int = 4096,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Open-loop k-step prediction error of `model` on `ds` (held-out episodes).

    From ``z_0 = encoder(o_t)`` the mean dynamics roll k steps under the logged actions.

    Args:
        model: the world model.
        ds: transitions to evaluate on.
        ks: horizons k.
        context: per-episode context [E, C] (default zeros).
        max_starts: start rows sampled per k.
        seed: seeds the choice of start rows.

    Returns:
        ``{str(k): {"latent_mse", "latent_rel", "reward_mae", "starts"}}``: mean squared
        latent error against ``encoder(o_{t+k})``, the same relative to the variance of
        those targets, and the mean absolute error of the reward predicted at step k
        (environment units). Keys without enough long episodes are omitted.
    """
    C = model.config.context_dim
    ctx = context if context is not None else np.zeros((ds.num_episodes, C), np.float32)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    data = _Tensors(model, ds, ctx, 1)
    lengths = ds.episode_length[ds.episode_index]
    for k in ks:
        starts = np.flatnonzero(ds.frame_index + k <= lengths)
        if len(starts) == 0:
            continue
        if len(starts) > max_starts:
            starts = np.sort(rng.choice(starts, max_starts, replace=False))
        i = torch.from_numpy(starts)
        c = None if data.ctx is None else data.ctx[i]
        z = model.encode(data.obs[i])
        for t in range(k):
            a = data.act[i + t]
            r_n = model.reward(z, a, c)
            z = model.next(z, a, c)
        target = model.encode(data.next_obs[i + k - 1])
        mse = float((z - target).pow(2).mean())
        var = float(target.var(0, unbiased=False).mean())
        r_pred = r_n * model.reward_scale + model.reward_shift
        r_true = torch.from_numpy(ds.reward)[i + k - 1]
        out[str(k)] = {
            "latent_mse": mse,
            "latent_rel": mse / var if var > 0 else math.inf,
            "reward_mae": float((r_pred - r_true).abs().mean()),
            "starts": int(len(starts)),
        }
    return out


# -- training -----------------------------------------------------------------------------
def _bar(total: int, enabled: bool, initial: int):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, desc="train", unit="step")
        except ImportError:  # pragma: no cover
            pass
    return None


def train(config: TrainConfig | dict) -> Path:
    """Trains a world model as `config` says and writes it to ``config.out``.

    Returns:
        The path of the exported model file (MODEL_FORMAT.md).
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t_start = time.perf_counter()
    ds = _get_dataset(cfg)
    train_ds, val_ds = _split(ds, cfg.val_fraction, cfg.seed)
    torch.manual_seed(cfg.seed)
    mcfg = preset(cfg.preset, ds.obs_dim, ds.action_dim, **cfg.overrides)
    if mcfg.value_head and mcfg.discount >= 1:
        raise ValueError("a value head needs discount < 1")
    model = WorldModel(mcfg)
    fit_normalization(model, train_ds)
    target_value = copy.deepcopy(model.value_head) if model.value_head is not None else None
    if target_value is not None:
        target_value.requires_grad_(False)
    enc_params = list(model.encoder.parameters())
    enc_ids = {id(p) for p in enc_params}
    other = [p for p in model.parameters() if id(p) not in enc_ids]
    optimizer = torch.optim.AdamW(
        [{"params": enc_params, "lr": cfg.lr * cfg.encoder_lr_scale}, {"params": other, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    if cfg.resume:
        step = load_checkpoint(cfg.resume, model, target_value, optimizer, gen)
    outcome, regressed = cfg.context == "outcome", cfg.context == "regressed"
    if (outcome or regressed) and not mcfg.context_history:
        raise ValueError(f"context {cfg.context!r} needs a context encoder: set overrides.context_history = K > 0")
    given = {"outcome": "zeros", "regressed": "oracle"}.get(cfg.context, cfg.context)
    data = _Tensors(model, train_ds, episode_context(train_ds, mcfg.context_dim, given), cfg.horizon)
    if outcome or regressed:
        data.enable_history(train_ds, mcfg.context_history, cfg.draws_per_batch)
    elif cfg.stratify_dynamics:
        data.stratify(train_ds, cfg.draws_per_batch)
    bar = _bar(cfg.steps, cfg.progress, step)
    out = Path(cfg.out)
    history: list[dict[str, float]] = []
    running: dict[str, float] = {}
    log_every = max(1, cfg.steps // 20)
    model.train()
    while step < cfg.steps:
        if cfg.lr_schedule == "cosine":
            f = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            for g, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                g["lr"] = lr * f
        b = data.batch(cfg.batch_size, gen)
        extra: dict[str, torch.Tensor] = {}
        c = None
        if outcome:
            c, extra = _context_losses(model, b, cfg)
        elif regressed:
            extra = {"regression": _regression_loss(model, b)}
        losses = _losses(model, target_value, b, cfg.rho, c) | extra
        total = (
            cfg.consistency_coef * losses["consistency"]
            + cfg.reward_coef * losses["reward"]
            + cfg.value_coef * losses["value"]
        )
        if outcome and cfg.context_loss == "full":
            total = total + cfg.kl_coef * losses["kl"] + cfg.infonce_coef * losses["infonce"]
        if regressed:
            total = total + cfg.regression_coef * losses["regression"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if target_value is not None:
            with torch.no_grad():
                for pt, p in zip(target_value.parameters(), model.value_head.parameters(), strict=True):
                    pt.lerp_(p, cfg.tau)
        step += 1
        values = {k: float(v.detach()) for k, v in losses.items()} | {"total": float(total.detach())}
        for k, v in values.items():
            running[k] = v if k not in running else 0.98 * running[k] + 0.02 * v
        if step % log_every == 0 or step == cfg.steps:
            history.append({"step": step, **{k: round(v, 6) for k, v in running.items()}})
        if bar is not None:
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix({k: f"{v:.4f}" for k, v in running.items() if k != "value" or target_value is not None})
        if cfg.checkpoint_every and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            save_checkpoint(checkpoint_path(out, step), model, target_value, optimizer, gen, step, cfg)
    if bar is not None:
        bar.close()
    model.eval()
    report = {}
    if val_ds is not None:
        if outcome:
            ctx = outcome_episode_context(model, val_ds)
        else:
            ctx = episode_context(val_ds, mcfg.context_dim, given)
        report = prediction_error(model, val_ds, tuple(cfg.eval_ks), ctx, seed=cfg.seed)
        if regressed:  # how well the encoder recovers the log factors from K transitions
            err = outcome_episode_context(model, val_ds) - ctx
            report["context_regression_mse"] = float(np.mean(err**2))
            report["context_regression_r2"] = [
                float(1 - np.mean(err[:, i] ** 2) / max(float(np.var(ctx[:, i])), 1e-12)) for i in range(ctx.shape[1])
            ]
    info = {
        "preset": cfg.preset,
        "task": cfg.task,
        "context": cfg.context if mcfg.context_dim else "none",
        "parameter_names": list(ds.parameter_names),
        "train": {
            "steps": cfg.steps,
            "seed": cfg.seed,
            "episodes": train_ds.num_episodes,
            "frames": train_ds.num_frames,
            "randomize": ds.info.get("randomize", {}),
            "seconds": round(time.perf_counter() - t_start, 1),
            "losses": history,
        },
        "prediction_error": report,
    }
    return export_model(model, out, info)


# -- command line -------------------------------------------------------------------------
def main_train(argv: list[str] | None = None) -> int:
    """``python -m planner train --config FILE [--set key=value ...]``; returns an exit code.

    ``--set`` takes a dotted field name and a JSON value (a bare word is a string), e.g.
    ``--set steps=2000 --set collect.episodes=50 --set out=runs/p.lpm.safetensors``.
    """
    ap = argparse.ArgumentParser(prog="python -m planner train", description="train a latent world model")
    ap.add_argument("--config", required=True, help="TrainConfig JSON file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        d = json.loads(Path(args.config).read_text())
        for item in args.set:
            key, sep, raw = item.partition("=")
            if not sep:
                ap.error(f"--set expects KEY=VALUE, got {item!r}")
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            node = d
            *parents, last = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        if args.no_progress:
            d["progress"] = False
        cfg = TrainConfig.from_dict(d)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}")
        return 2
    path = train(cfg)
    print(f"wrote {path}")
    return 0
