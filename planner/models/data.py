"""Transition datasets: collection from gymnasium tasks, and their on-disk layout.

Collection runs a random policy (uniform in the action box) or any ``policy(obs) ->
action`` with Gaussian noise, optionally under per-episode dynamics randomization
(`planner.envs.dynamics`): each *draw* of scale factors gets a ``dynamics_id`` and is
used for ``episodes_per_draw`` consecutive episodes, then the environment is restored.

On disk (LeRobot-v3-like, parquet through pyarrow)::

    root/
      meta/info.json           format, format_version, task, fps, total_episodes,
                               total_frames, total_dynamics, features (dtype, shape
                               per column), parameter_names, action_low/high,
                               data_path pattern, collection settings
      meta/episodes.parquet    one row per episode: episode_index, length,
                               dynamics_id, dataset_from_index, dataset_to_index,
                               data/chunk_index, data/file_index, parameters
                               (struct of float64 scale factors named as in
                               parameter_names; absent when nothing was randomized)
      data/chunk-000/file-000.parquet
                               one row per transition: episode_index, frame_index,
                               observation [S] float32, action [A] float32, reward
                               float32, next_observation [S] float32, terminated,
                               truncated (bool)

Rows are in episode order and frames in time order; ``observation`` of frame k+1
equals ``next_observation`` of frame k within an episode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..envs.dynamics import parameter_names, scaled_dynamics

__all__ = ["Dataset", "collect", "save_dataset", "load_dataset", "DATASET_FORMAT", "DATASET_VERSION"]

DATASET_FORMAT = "latent-planner/transitions"
DATASET_VERSION = 1
_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
_FRAME_COLUMNS = ("episode_index", "frame_index", "observation", "action", "reward", "next_observation")
_FLAG_COLUMNS = ("terminated", "truncated")


@dataclass
class Dataset:
    """Transitions of E episodes, T frames in all (numpy arrays).

    Attributes:
        task: gymnasium task id.
        fps: control rate (1 / env dt).
        observation, next_observation: [T, S] float32.
        action: [T, A] float32.
        reward: [T] float32.
        terminated, truncated: [T] bool.
        episode_index, frame_index: [T] int64.
        episode_length, dynamics_id: [E] int64.
        parameters: [E, P] float64 scale factors of each episode's dynamics.
        parameter_names: the P names.
        action_low, action_high: the action box [A].
        info: collection settings (free-form).
    """

    task: str
    fps: float
    observation: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_observation: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_index: np.ndarray
    frame_index: np.ndarray
    episode_length: np.ndarray
    dynamics_id: np.ndarray
    parameters: np.ndarray
    parameter_names: tuple[str, ...] = ()
    action_low: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    action_high: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.reward.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_length.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.observation.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.action.shape[1])

    def episode_starts(self) -> np.ndarray:
        """Row of each episode's first frame [E]."""
        return np.concatenate([[0], np.cumsum(self.episode_length)[:-1]]).astype(np.int64)

    def select_episodes(self, episodes: Sequence[int] | np.ndarray) -> Dataset:
        """A new Dataset with only these episodes (positions in 0..E-1), renumbered."""
        episodes = np.asarray(episodes, dtype=np.int64)
        starts = self.episode_starts()
        rows = np.concatenate(
            [np.arange(starts[e], starts[e] + self.episode_length[e]) for e in episodes] or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        lengths = self.episode_length[episodes]
        return Dataset(
            task=self.task,
            fps=self.fps,
            observation=self.observation[rows],
            action=self.action[rows],
            reward=self.reward[rows],
            next_observation=self.next_observation[rows],
            terminated=self.terminated[rows],
            truncated=self.truncated[rows],
            episode_index=np.repeat(np.arange(len(episodes), dtype=np.int64), lengths),
            frame_index=self.frame_index[rows],
            episode_length=lengths.copy(),
            dynamics_id=self.dynamics_id[episodes],
            parameters=self.parameters[episodes],
            parameter_names=self.parameter_names,
            action_low=self.action_low,
            action_high=self.action_high,
            info=dict(self.info),
        )


def _sample_factors(rng: np.random.Generator, randomize: Mapping[str, Any]) -> dict[str, float]:
    """[lo, hi] -> uniform; {"values": [...]} -> one of the values."""
    out = {}
    for name, spec in randomize.items():
        if isinstance(spec, Mapping):
            values = list(spec.get("values", []))
            if not values:
                raise ValueError(f"randomize[{name!r}]: expected {{'values': [v, ...]}} with at least one value")
            out[name] = float(values[int(rng.integers(len(values)))])
        else:
            lo, hi = (float(v) for v in spec)
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise ValueError(f"randomize[{name!r}]: expected [lo, hi] with 0 < lo <= hi, got {spec}")
            out[name] = float(rng.uniform(lo, hi))
    return out


def _progress(total: int, enabled: bool, desc: str):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit="step", leave=False)
        except ImportError:  # pragma: no cover - tqdm is in the envs extra
            pass
    return None


def collect(
    task: str,
    episodes: int,
    *,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    noise_std: float = 0.0,
    randomize: Mapping[str, Any] | None = None,
    episodes_per_draw: int = 1,
    max_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Dataset:
    """Collects `episodes` episodes of transitions from gymnasium task `task`.

    Args:
        task: gymnasium id, e.g. "Pendulum-v1" or "HalfCheetah-v5".
        episodes: E >= 1.
        policy: ``policy(obs [S]) -> action [A]``; None for uniform random actions. A
            policy may also have ``begin_episode(factors)`` (called after each reset with
            the episode's scale factors, ``{}`` at nominal) and ``observe(obs, action,
            next_obs)`` (called after each step with the action executed, noise
            included), e.g. to keep the history a context encoder reads.
        noise_std: std of Gaussian noise added to the policy's action, in units of half
            the action box width (the action is then clipped to the box).
        randomize: name -> ``[lo, hi]`` (uniform) or ``{"values": [...]}`` (choice) of
            scale factors (names in `planner.envs.dynamics`); None for nominal dynamics.
        episodes_per_draw: consecutive episodes that share one draw (one dynamics_id).
        max_steps: cap on steps per episode (default: the task's own time limit).
        seed: seeds the action noise, the factor draws and every env.reset.
        progress: show a tqdm bar.
        env_kwargs: passed to gymnasium.make.

    Returns:
        The transitions as a `Dataset`.
    """
    import gymnasium as gym

    if episodes < 1 or episodes_per_draw < 1:
        raise ValueError(f"episodes and episodes_per_draw must be >= 1, got {episodes}, {episodes_per_draw}")
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    randomize = dict(randomize or {})
    env = gym.make(task, **dict(env_kwargs or {}))
    try:
        if randomize:
            valid = parameter_names(env)
            unknown = sorted(set(randomize) - set(valid))
            if unknown:
                raise ValueError(f"randomize: unknown parameters {unknown} for {task}; expected some of {valid}")
        names = tuple(randomize)
        low = np.asarray(env.action_space.low, np.float32)
        high = np.asarray(env.action_space.high, np.float32)
        limit = max_steps or (env.spec.max_episode_steps if env.spec else None) or 1000
        rng = np.random.default_rng(seed)
        cols: dict[str, list] = {k: [] for k in _FRAME_COLUMNS + _FLAG_COLUMNS}
        lengths, dyn_ids, params = [], [], []
        bar = _progress(episodes * limit, progress, f"collect {task}")
        factors: dict[str, float] = {}
        begin_episode = getattr(policy, "begin_episode", None)
        observe = getattr(policy, "observe", None)
        for ep in range(episodes):
            if ep % episodes_per_draw == 0:
                factors = _sample_factors(rng, randomize)
            with scaled_dynamics(env, factors):
                obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
                if begin_episode is not None:
                    begin_episode(dict(factors))
                steps = 0
                for t in range(limit):
                    if policy is None:
                        a = rng.uniform(low, high).astype(np.float32)
                    else:
                        a = np.asarray(policy(obs), np.float32).reshape(low.shape)
                        if noise_std:
                            a = a + noise_std * 0.5 * (high - low) * rng.standard_normal(low.shape).astype(np.float32)
                        a = np.clip(a, low, high).astype(np.float32)
                    nxt, r, term, trunc, _ = env.step(a)
                    if observe is not None:
                        observe(obs, a, nxt)
                    trunc = bool(trunc) or (t == limit - 1 and not term)
                    for k, v in zip(
                        _FRAME_COLUMNS + _FLAG_COLUMNS, (ep, t, obs, a, r, nxt, bool(term), trunc), strict=True
                    ):
                        cols[k].append(v)
                    steps += 1
                    obs = nxt
                    if term or trunc:
                        break
                if bar is not None:
                    bar.update(steps)
            lengths.append(steps)
            dyn_ids.append(ep // episodes_per_draw)
            params.append([factors[n] for n in names])
        if bar is not None:
            bar.close()
        fps = (
            1.0 / float(env.unwrapped.dt) if hasattr(env.unwrapped, "dt") else float(env.metadata.get("render_fps", 0))
        )
    finally:
        env.close()
    S = int(np.asarray(cols["observation"][0]).size)
    return Dataset(
        task=task,
        fps=fps,
        observation=np.asarray(cols["observation"], np.float32).reshape(-1, S),
        action=np.asarray(cols["action"], np.float32).reshape(-1, low.size),
        reward=np.asarray(cols["reward"], np.float32),
        next_observation=np.asarray(cols["next_observation"], np.float32).reshape(-1, S),
        terminated=np.asarray(cols["terminated"], bool),
        truncated=np.asarray(cols["truncated"], bool),
        episode_index=np.asarray(cols["episode_index"], np.int64),
        frame_index=np.asarray(cols["frame_index"], np.int64),
        episode_length=np.asarray(lengths, np.int64),
        dynamics_id=np.asarray(dyn_ids, np.int64),
        parameters=np.asarray(params, np.float64).reshape(episodes, len(names)),
        parameter_names=names,
        action_low=low,
        action_high=high,
        info={
            "policy": "random" if policy is None else getattr(policy, "__name__", type(policy).__name__),
            "noise_std": noise_std,
            "randomize": randomize,
            "episodes_per_draw": episodes_per_draw,
            "max_steps": limit,
            "seed": seed,
        },
    )


# -- parquet ------------------------------------------------------------------------------
def _vector_column(pa, x: np.ndarray):
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x).reshape(-1)), x.shape[1])


def save_dataset(ds: Dataset, root: str | Path) -> Path:
    """Writes `ds` under directory `root` (created; existing files are overwritten)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    data_file = root / _DATA_PATH.format(chunk_index=0, file_index=0)
    data_file.parent.mkdir(parents=True, exist_ok=True)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    frames = pa.table(
        {
            "episode_index": pa.array(ds.episode_index, pa.int64()),
            "frame_index": pa.array(ds.frame_index, pa.int64()),
            "observation": _vector_column(pa, ds.observation.astype(np.float32)),
            "action": _vector_column(pa, ds.action.astype(np.float32)),
            "reward": pa.array(ds.reward.astype(np.float32)),
            "next_observation": _vector_column(pa, ds.next_observation.astype(np.float32)),
            "terminated": pa.array(ds.terminated.astype(bool)),
            "truncated": pa.array(ds.truncated.astype(bool)),
        }
    )
    pq.write_table(frames, data_file)
    starts = ds.episode_starts()
    E = ds.num_episodes
    episodes = {
        "episode_index": pa.array(np.arange(E, dtype=np.int64)),
        "length": pa.array(ds.episode_length.astype(np.int64)),
        "dynamics_id": pa.array(ds.dynamics_id.astype(np.int64)),
        "dataset_from_index": pa.array(starts),
        "dataset_to_index": pa.array(starts + ds.episode_length.astype(np.int64)),
        "data/chunk_index": pa.array(np.zeros(E, np.int64)),
        "data/file_index": pa.array(np.zeros(E, np.int64)),
    }
    if ds.parameter_names:
        fields_ = [pa.array(ds.parameters[:, i].astype(np.float64)) for i in range(len(ds.parameter_names))]
        episodes["parameters"] = pa.StructArray.from_arrays(fields_, names=list(ds.parameter_names))
    pq.write_table(pa.table(episodes), root / "meta" / "episodes.parquet")

    def feature(dtype: str, shape: list[int]) -> dict:
        return {"dtype": dtype, "shape": shape}

    info = {
        "format": DATASET_FORMAT,
        "format_version": DATASET_VERSION,
        "task": ds.task,
        "fps": ds.fps,
        "total_episodes": E,
        "total_frames": ds.num_frames,
        "total_dynamics": int(len(np.unique(ds.dynamics_id))),
        "chunks_size": 1000,
        "data_path": _DATA_PATH,
        "features": {
            "episode_index": feature("int64", [1]),
            "frame_index": feature("int64", [1]),
            "observation": feature("float32", [ds.obs_dim]),
            "action": feature("float32", [ds.action_dim]),
            "reward": feature("float32", [1]),
            "next_observation": feature("float32", [ds.obs_dim]),
            "terminated": feature("bool", [1]),
            "truncated": feature("bool", [1]),
        },
        "parameter_names": list(ds.parameter_names),
        "action_low": [float(v) for v in ds.action_low],
        "action_high": [float(v) for v in ds.action_high],
        "collection": ds.info,
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return root


def _vectors(table, name: str, width: int) -> np.ndarray:
    col = table.column(name).combine_chunks()
    return np.array(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, width)


def load_dataset(root: str | Path) -> Dataset:
    """Reads a dataset written by `save_dataset` into numpy arrays.

    Raises:
        ValueError: missing files, unknown format or version, inconsistent counts.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise ValueError(f"{root}: not a dataset (no meta/info.json)")
    info = json.loads(info_path.read_text())
    if info.get("format") != DATASET_FORMAT or info.get("format_version") != DATASET_VERSION:
        raise ValueError(
            f"{root}: expected format {DATASET_FORMAT!r} version {DATASET_VERSION}, "
            f"got {info.get('format')!r} version {info.get('format_version')}"
        )
    files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    if not files:
        raise ValueError(f"{root}: no data/chunk-*/file-*.parquet files")
    import pyarrow as pa

    frames = pa.concat_tables([pq.read_table(f) for f in files])
    episodes = pq.read_table(root / "meta" / "episodes.parquet")
    S = info["features"]["observation"]["shape"][0]
    A = info["features"]["action"]["shape"][0]
    names = tuple(info.get("parameter_names", []))
    E = episodes.num_rows
    if names:
        struct = episodes.column("parameters").combine_chunks()
        parameters = np.stack([struct.field(n).to_numpy() for n in names], axis=1).astype(np.float64)
    else:
        parameters = np.zeros((E, 0), np.float64)
    ds = Dataset(
        task=info["task"],
        fps=float(info["fps"]),
        observation=_vectors(frames, "observation", S),
        action=_vectors(frames, "action", A),
        reward=np.array(frames.column("reward").to_numpy(), np.float32),
        next_observation=_vectors(frames, "next_observation", S),
        terminated=np.array(frames.column("terminated").to_numpy(), bool),
        truncated=np.array(frames.column("truncated").to_numpy(), bool),
        episode_index=np.array(frames.column("episode_index").to_numpy(), np.int64),
        frame_index=np.array(frames.column("frame_index").to_numpy(), np.int64),
        episode_length=np.array(episodes.column("length").to_numpy(), np.int64),
        dynamics_id=np.array(episodes.column("dynamics_id").to_numpy(), np.int64),
        parameters=parameters,
        parameter_names=names,
        action_low=np.asarray(info.get("action_low", []), np.float32),
        action_high=np.asarray(info.get("action_high", []), np.float32),
        info=info.get("collection", {}),
    )
    if ds.num_frames != info["total_frames"] or E != info["total_episodes"] or ds.episode_length.sum() != ds.num_frames:
        raise ValueError(
            f"{root}: counts disagree (frames {ds.num_frames} vs {info['total_frames']}, "
            f"episodes {E} vs {info['total_episodes']}, lengths sum {int(ds.episode_length.sum())})"
        )
    return ds
