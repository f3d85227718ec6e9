"""GPU planning benchmark (BENCHMARKS.md section 1, GPU rows): ``planner.cuda`` against
plain torch on the same CUDA device, in one run, on the same weights and sample budget.

Configurations (:data:`GPU_CONFIGS`):

* ``latent-tdmpc2-1m`` / ``latent-tdmpc2-5m``: TD-MPC2 1M / 5M sizes (presets
  ``tdmpc2-1m``, ``tdmpc2-5m``; S=17, A=6), TD-MPC2's plan: 512 samples x H3 x 6
  iterations, top-k 64, temperature 0.5, std refitted in [0.05, 2] from 2, terminal value.
* ``batched-64``: ``latent-small`` (MPPI 256 x H12 x 4, C=8) for B=64 problems per call.
* ``diff-drive-2048`` / ``diff-drive-16384``: the analytic differential drive of
  MPPI-Generic's published comparison, MPPI 2048 (16384) samples x H100 x 1 iteration,
  sigma 0.5, temperature 1.

Implementations (:data:`GPU_IMPLS`): ``ours`` (``planner.cuda.Planner``, float32),
``ours-tf32`` and ``ours-bf16`` (latent configurations: tensor-core rollouts),
``torch`` (:class:`TorchCudaPlanner`, plain torch eager on CUDA) and ``torch-compile``
(its plan under ``torch.compile(mode="reduce-overhead")``, i.e. CUDA graphs). Every latent
implementation plans with one seeded random-initialized torch ``WorldModel``: ours loads
its exported file, the peers run the module itself (``WorldModel.rollout_returns``).

Timing: observations (and contexts) are on the device before timing; a plan's latency is
the host wall time from the call until a CUDA event recorded after it on the plan's
stream has completed (the action is then on the device); the event pair also gives the
GPU time. ``calls`` timed plans after ``warmup`` untimed ones, p50 / p99 reported, with
model FLOP/s against the matrix-product rate of torch on the same GPU (float32, TF32 and
BF16) measured in the same run. Diff-drive rows also report a closed-loop return (drive to
the goal past the obstacle, 300 steps, the planner's first action each step).

Run it with ``python -m planner bench gpu [--json gpu.json --plot gpu.png]``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from planner.bench.latent_peers import LATENT_CONFIGS, LatentConfig, model_flops
from planner.bench.plan_bench import (
    _skipped,
    finish_report,
    guarded,
    latency_row,
    machine_info,
    plot_latency,
    run_jobs,
    table_rows,
)

GPU_IMPLS = ("ours", "ours-tf32", "ours-bf16", "torch", "torch-compile")
PRECISION_OF = {"ours": "float32", "ours-tf32": "tf32", "ours-bf16": "bf16"}
WARMUP_CALLS = 10
MATMUL_SIZE = 8192
EPISODE_STEPS = 300


class GpuUnavailable(RuntimeError):
    """The GPU benchmark cannot run here; the message says why."""


@dataclass(frozen=True)
class GpuConfig(LatentConfig):
    """A :class:`planner.bench.latent_peers.LatentConfig` with the scorer ("latent": its
    preset; "diff_drive": the analytic model) and B problems per call."""

    scorer: str = "latent"
    batch: int = 1

    @property
    def rows_per_plan(self) -> int:
        """Model rows (dynamics steps) per plan, all problems: B * N * H * I."""
        return self.batch * super().rows_per_plan


def _latent(cfg: LatentConfig, *, preset: str | None = None, batch: int = 1) -> GpuConfig:
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(LatentConfig)}
    return GpuConfig(**{**fields, "preset": preset or cfg.preset}, scorer="latent", batch=batch)


def _diff_drive(samples: int) -> GpuConfig:
    return GpuConfig(
        preset="",
        samples=samples,
        horizon=100,
        iterations=1,
        sigma=0.5,
        temperature=1.0,
        obs_dim=3,
        action_dim=2,
        scorer="diff_drive",
    )


GPU_CONFIGS: dict[str, GpuConfig] = {
    "latent-tdmpc2-1m": _latent(LATENT_CONFIGS["latent-tdmpc2-1m"]),
    "latent-tdmpc2-5m": _latent(LATENT_CONFIGS["latent-tdmpc2-1m"], preset="tdmpc2-5m"),
    "batched-64": _latent(LATENT_CONFIGS["latent-small"], batch=64),
    "diff-drive-2048": _diff_drive(2048),
    "diff-drive-16384": _diff_drive(16384),
}

#: The analytic diff-drive's defaults (csrc/planner/scorers/diff_drive.cpp).
DIFF_DRIVE = dict(
    dt=0.02, wheel_radius=1.0, track=1.0, max_wheel_speed=1.0, goal_x=2.0, goal_y=2.0, goal_yaw=0.0,
    yaw_weight=0.1, action_weight=0.01, obstacle_x=1.0, obstacle_y=1.0, obstacle_radius=0.3, obstacle_cost=100.0,
)  # fmt: skip


def require_gpu():
    """``torch`` with CUDA and ``planner.cuda`` with a device, else :class:`GpuUnavailable`."""
    import planner.cuda

    if not planner.cuda.is_available():
        why = planner.cuda._unavailable_reason() or "planner.cuda.is_available() is False"
        raise GpuUnavailable(f"no GPU for the benchmark: {why}")
    try:
        import torch
    except ImportError as exc:
        raise GpuUnavailable(f"the GPU benchmark needs torch with CUDA for inputs and peers ({exc})") from exc
    if not torch.cuda.is_available():
        raise GpuUnavailable(f"torch {torch.__version__} has no CUDA here: install a CUDA build of torch")
    return torch


# --------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------


@dataclass
class GpuProblem:
    """One configuration's inputs, shared by every implementation.

    Attributes:
        name, config: the configuration.
        obs: [n, B, S] device observations (diff-drive: states), one per plan.
        context: [B, C] device context, or None.
        model: the torch `WorldModel` on the device (latent), else None.
        path: its exported model file (latent), else None.
        flop_per_plan: model FLOPs of one plan over all B problems (0 for diff-drive).
    """

    name: str
    config: GpuConfig
    obs: object
    context: object
    model: object = None
    path: str | None = None
    flop_per_plan: int = 0


def build_problem(name: str, directory: str, calls: int, *, seed: int = 0, device: str = "cuda") -> GpuProblem:
    """The configuration's random-initialized model (exported to ``directory``) and
    ``calls`` fixed random inputs on ``device``."""
    import torch

    cfg = GPU_CONFIGS[name]
    gen = np.random.default_rng(seed)
    B, S = cfg.batch, cfg.obs_dim
    if cfg.scorer == "diff_drive":
        obs = gen.uniform(-0.2, 0.2, (calls, B, S)).astype(np.float32)
        return GpuProblem(name, cfg, torch.from_numpy(obs).to(device), None)
    from planner.models.export import export_model
    from planner.models.world_model import WorldModel, preset

    torch.manual_seed(seed)
    model = WorldModel(preset(cfg.preset, S, cfg.action_dim)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    path = os.path.join(directory, f"{name}.lpm.safetensors")
    export_model(model, path, info={"preset": cfg.preset, "task": "random-init GPU benchmark", "seed": seed})
    C = model.config.context_dim
    obs = torch.from_numpy(gen.standard_normal((calls, B, S)).astype(np.float32)).to(device)
    ctx = torch.from_numpy(gen.standard_normal((B, C)).astype(np.float32)).to(device) if C else None
    flop = cfg.batch * model_flops(model, dataclasses.replace(cfg, batch=1))
    return GpuProblem(name, cfg, obs, ctx, copy.deepcopy(model).to(device), path, flop)


# --------------------------------------------------------------------------------------
# plain torch on CUDA
# --------------------------------------------------------------------------------------


def diff_drive_returns(state, actions, p: dict = DIFF_DRIVE):
    """Returns [B, N] of the analytic diff-drive (as the native scorer) for state [B, 3]
    and actions [B, N, H, 2]."""
    import torch

    B, N, H, _ = actions.shape
    x, y, yaw = (state[:, i : i + 1].expand(B, N) for i in range(3))
    ret = torch.zeros(B, N, device=actions.device)
    u = actions.clamp(-p["max_wheel_speed"], p["max_wheel_speed"])
    r, dt = p["wheel_radius"], p["dt"]
    for t in range(H):
        wl, wr = u[:, :, t, 0], u[:, :, t, 1]
        v = 0.5 * r * (wl + wr)
        w = r * (wr - wl) / p["track"]
        x = x + v * torch.cos(yaw) * dt
        y = y + v * torch.sin(yaw) * dt
        yaw = yaw + w * dt
        e = yaw - p["goal_yaw"]
        dyaw = torch.atan2(torch.sin(e), torch.cos(e))
        hit = ((x - p["obstacle_x"]) ** 2 + (y - p["obstacle_y"]) ** 2 < p["obstacle_radius"] ** 2).float()
        cost = (x - p["goal_x"]) ** 2 + (y - p["goal_y"]) ** 2 + p["yaw_weight"] * dyaw**2
        ret = ret - (cost + p["action_weight"] * (wl * wl + wr * wr) + p["obstacle_cost"] * hit)
    return ret


class TorchCudaPlanner:
    """Plain-torch TD-MPC2-style planner on a CUDA device, batched over B problems.

    The update of :class:`planner.bench.adapters.TorchPlanner` (``Settings`` "mppi"):
    per iteration ``a = clamp(mean + std * eps)`` for ``[B, N, H, A]``, returns of every
    sample at once, the ``top_k`` best (all if 0) weighted by ``exp((R - max R) / T)``,
    weighted mean and, with ``adapt_std``, weighted std clamped to ``[min_std,
    max_std]``. Warm start: mean shifted one step (tail = box midpoint), std back to
    ``sigma``. The executed action is the mean's first step. The whole plan is one
    function of ``(obs, context, mean)``; with ``compile=True`` it runs under
    ``torch.compile(mode="reduce-overhead")`` (CUDA graphs). Noise from torch's global
    generator (seeded).
    """

    def __init__(self, problem: GpuProblem, *, compile: bool = False, seed: int = 0):
        import torch

        self._torch = torch
        cfg = self.config = problem.config
        dev = problem.obs.device
        torch.manual_seed(seed)
        if problem.model is not None:
            model = problem.model
            lo, hi = model.action_low.to(dev), model.action_high.to(dev)

            def returns(obs, actions, ctx):
                return model.rollout_returns(obs, actions, ctx)

        else:
            umax = DIFF_DRIVE["max_wheel_speed"]
            lo = torch.full((cfg.action_dim,), -umax, device=dev)
            hi = torch.full((cfg.action_dim,), umax, device=dev)

            def returns(obs, actions, ctx):
                return diff_drive_returns(obs, actions)

        B, H, A = cfg.batch, cfg.horizon, cfg.action_dim
        self._mid = 0.5 * (lo + hi)
        self._mean = self._mid.expand(B, H, A).clone()
        self.name = "torch-compile" if compile else "torch"
        shape = (B, cfg.samples, H, A)

        def plan(obs, ctx, mean):
            std = torch.full_like(mean, cfg.sigma)
            for _ in range(cfg.iterations):
                eps = torch.randn(shape, device=mean.device)
                actions = torch.maximum(torch.minimum(mean[:, None] + std[:, None] * eps, hi), lo)
                R = returns(obs, actions, ctx)  # [B, N]
                if cfg.top_k:
                    R, idx = torch.topk(R, cfg.top_k, dim=1)
                    actions = torch.gather(actions, 1, idx[:, :, None, None].expand(B, cfg.top_k, H, A))
                w = torch.softmax((R - R.amax(1, keepdim=True)) / cfg.temperature, dim=1)[:, :, None, None]
                mean = (w * actions).sum(1)
                if cfg.adapt_std:
                    std = ((w * (actions - mean[:, None]).square()).sum(1)).sqrt().clamp(cfg.min_std, cfg.max_std)
            shifted = torch.cat([mean[:, 1:], self._mid.expand(B, 1, A)], dim=1)
            return mean[:, 0], shifted

        self._plan = torch.compile(plan, mode="reduce-overhead") if compile else plan

    def reset(self) -> None:
        self._mean.copy_(self._mid.expand_as(self._mean))

    def act(self, obs, ctx=None):
        """Plans from device observations [B, S]; returns the action [B, A] on the device."""
        with self._torch.inference_mode():
            action, shifted = self._plan(obs, ctx, self._mean)
            self._mean.copy_(shifted)
            return action.clone()  # CUDA-graph outputs are overwritten by the next replay


class OursGpuPlanner:
    """``planner.cuda.Planner`` on the problem (latent: its exported model file)."""

    def __init__(self, problem: GpuProblem, precision: str, *, seed: int = 0):
        import planner.cuda

        cfg = problem.config
        scorer = problem.path if problem.path else "diff_drive"
        self._p = planner.cuda.Planner(
            scorer, cfg.native_config(), batch=cfg.batch, seed=seed, precision=precision,
            terminal_value=cfg.terminal_value,
        )  # fmt: skip
        self.name = "ours" if precision == "float32" else f"ours-{precision}"

    def reset(self) -> None:
        self._p.reset()

    def act(self, obs, ctx=None):
        return self._p.plan(obs, ctx).action


def make_gpu_planner(impl: str, problem: GpuProblem, *, seed: int = 0):
    """Implementation ``impl`` (one of :data:`GPU_IMPLS`) on ``problem``."""
    if impl in PRECISION_OF:
        return OursGpuPlanner(problem, PRECISION_OF[impl], seed=seed)
    if impl in ("torch", "torch-compile"):
        return TorchCudaPlanner(problem, compile=impl == "torch-compile", seed=seed)
    raise ValueError(f"unknown implementation {impl!r}; expected one of {GPU_IMPLS}")


# --------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------


def time_gpu_planner(planner, problem: GpuProblem, calls: int, warmup: int = WARMUP_CALLS):
    """(wall ms [calls], GPU ms [calls]) of ``planner.act`` on the problem's inputs."""
    import torch

    planner.reset()
    n = problem.obs.shape[0]
    for i in range(warmup):
        planner.act(problem.obs[i % n], problem.context)
    torch.cuda.synchronize()
    wall, gpu = np.empty(calls), np.empty(calls)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(calls):
        obs = problem.obs[(warmup + i) % n]
        t0 = time.perf_counter_ns()
        start.record()
        planner.act(obs, problem.context)
        end.record()
        end.synchronize()
        wall[i] = (time.perf_counter_ns() - t0) / 1e6
        gpu[i] = start.elapsed_time(end)
    return wall, gpu


def diff_drive_episode(planner, steps: int = EPISODE_STEPS, p: dict = DIFF_DRIVE) -> float:
    """Closed-loop return from (0, 0, 0): the true diff-drive stepped with each plan's
    first action; the reward is the scorer's (goal, yaw, effort, obstacle)."""
    import torch

    planner.reset()
    x = y = yaw = 0.0
    total = 0.0
    for _ in range(steps):
        state = torch.tensor([[x, y, yaw]], dtype=torch.float32, device="cuda")
        a = torch.as_tensor(planner.act(state), device="cuda").reshape(-1).cpu().numpy()
        wl, wr = (float(np.clip(v, -p["max_wheel_speed"], p["max_wheel_speed"])) for v in a[:2])
        v, w = 0.5 * p["wheel_radius"] * (wl + wr), p["wheel_radius"] * (wr - wl) / p["track"]
        x, y, yaw = x + v * math.cos(yaw) * p["dt"], y + v * math.sin(yaw) * p["dt"], yaw + w * p["dt"]
        dyaw = math.atan2(math.sin(yaw - p["goal_yaw"]), math.cos(yaw - p["goal_yaw"]))
        hit = (x - p["obstacle_x"]) ** 2 + (y - p["obstacle_y"]) ** 2 < p["obstacle_radius"] ** 2
        total -= (x - p["goal_x"]) ** 2 + (y - p["goal_y"]) ** 2 + p["yaw_weight"] * dyaw**2
        total -= p["action_weight"] * (wl * wl + wr * wr) + (p["obstacle_cost"] if hit else 0.0)
    return total


def matmul_peaks(torch, size: int = MATMUL_SIZE, repeats: int = 5) -> dict:
    """Matrix-product rates of torch on the GPU [GFLOP/s]: float32 (no TF32), TF32 and
    BF16, best of ``repeats`` ``size^3`` products timed with CUDA events."""
    out = {}
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        for key, dtype, tf32 in (("float32", torch.float32, False), ("tf32", torch.float32, True),
                                 ("bf16", torch.bfloat16, False)):  # fmt: skip
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(size, size, device="cuda", dtype=dtype)
            b = torch.randn(size, size, device="cuda", dtype=dtype)
            c = a @ b
            best = math.inf
            for _ in range(repeats):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                torch.matmul(a, b, out=c)
                e.record()
                e.synchronize()
                best = min(best, s.elapsed_time(e) / 1e3)
            out[key] = 2.0 * size**3 / best / 1e9
            del a, b, c
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return out


def gpu_machine_info(torch, threads: int = 2) -> dict:
    import planner.cuda

    m = machine_info(threads)
    info = planner.cuda.device_info(0)
    m.update(
        gpu=torch.cuda.get_device_name(0),
        gpu_compute_capability=list(info["compute_capability"]),
        gpu_multiprocessors=info["multiprocessors"],
        gpu_memory_gib=round(info["memory_bytes"] / 2**30, 1),
        cuda_torch=torch.version.cuda,
    )
    peaks = matmul_peaks(torch)
    m.update(matmul_peak_gflops=peaks["float32"], matmul_peak_gflops_tf32=peaks["tf32"])
    m.update(matmul_peak_gflops_bf16=peaks["bf16"], matmul_size=MATMUL_SIZE)
    return m


def _gpu_skipped(config: str, impl: str, reason: str) -> dict:
    r = _skipped(config, impl, reason)
    r.update(batch=GPU_CONFIGS[config].batch, gpu_p50_ms=None, gpu_p99_ms=None, gflop_per_plan=None, gflops=None)
    r.update(peak_fraction=None, precision=PRECISION_OF.get(impl, "float32"))
    return r


def bench_one(problem: GpuProblem, impl: str, *, calls: int, seed: int = 0, peaks: dict | None = None) -> dict:
    """Latency, GPU time, FLOP rate (latent) and closed-loop return (diff-drive) of ``impl``."""
    cfg = problem.config
    precision = PRECISION_OF.get(impl, "float32")

    def run():
        planner = make_gpu_planner(impl, problem, seed=seed)
        wall, gpu = time_gpu_planner(planner, problem, calls)
        row = latency_row(problem.name, impl, wall, cfg.rows_per_plan)
        row.update(batch=cfg.batch, precision=precision)
        row.update(gpu_p50_ms=float(np.percentile(gpu, 50)), gpu_p99_ms=float(np.percentile(gpu, 99)))
        flop = problem.flop_per_plan
        gflops = flop / (row["p50_ms"] / 1e3) / 1e9 if flop else None
        peak = (peaks or {}).get(precision)
        row.update(gflop_per_plan=flop / 1e9 if flop else None, gflops=gflops)
        row.update(peak_fraction=gflops / peak if gflops and peak else None)
        if cfg.scorer == "diff_drive":
            row["closed_loop_return"] = diff_drive_episode(planner)
        return row

    return guarded(problem.name, impl, run, _gpu_skipped)


def run_gpu_bench(
    json_path: str | None = None,
    *,
    impls=GPU_IMPLS,
    configs=tuple(GPU_CONFIGS),
    calls: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Benchmark every ``config`` x ``impl`` on CUDA device 0; write JSON to ``json_path``.

    Returns ``{"machine": {..., gpu, matmul_peak_gflops (float32), matmul_peak_gflops_tf32,
    matmul_peak_gflops_bf16}, "results": [{config, impl, p50_ms, p99_ms, dyn_steps_per_s,
    closed_loop_return, status, reason?, batch, precision, gpu_p50_ms, gpu_p99_ms,
    gflop_per_plan, gflops, peak_fraction}, ...]}`` (the CPU benchmarks' schema plus GPU
    fields). Tensor-core rows are only run on latent configurations.

    Raises:
        GpuUnavailable: no CUDA device, no CUDA build of planner or torch.
        ValueError: an unknown configuration or implementation.
    """
    for c in configs:
        if c not in GPU_CONFIGS:
            raise ValueError(f"unknown config {c!r}; expected one of {sorted(GPU_CONFIGS)}")
    for i in impls:
        if i not in GPU_IMPLS:
            raise ValueError(f"unknown implementation {i!r}; expected one of {list(GPU_IMPLS)}")
    if calls < 100:
        raise ValueError(f"calls: p99 needs at least 100 timed plans, got {calls}")
    torch = require_gpu()
    torch.backends.cuda.matmul.allow_tf32 = False  # the torch peers compute in float32, as `ours`
    machine = gpu_machine_info(torch)
    peaks = {k: machine[f"matmul_peak_gflops{s}"] for k, s in (("float32", ""), ("tf32", "_tf32"), ("bf16", "_bf16"))}
    tensor_core = ("ours-tf32", "ours-bf16")  # only latent models have matrix products
    jobs = [(c, i) for c in configs for i in impls if GPU_CONFIGS[c].scorer == "latent" or i not in tensor_core]
    problems: dict[str, GpuProblem] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_bench_") as directory:

        def run(config, impl):
            if config not in problems:
                problems[config] = build_problem(config, directory, calls + WARMUP_CALLS, seed=seed)
            return bench_one(problems[config], impl, calls=calls, seed=seed, peaks=peaks)

        results = run_jobs(jobs, run, desc="gpu bench", progress=progress)
    return finish_report(machine, results, json_path, format_table)


def _opt(value, fmt: str, width: int) -> str:
    return format(value, fmt) if value is not None else f"{'-':>{width}}"


def format_table(results: list[dict]) -> str:
    return table_rows(
        results,
        17,
        [
            ("p50 ms", 9, lambda r: f"{r['p50_ms']:9.3f}"),
            ("p99 ms", 9, lambda r: f"{r['p99_ms']:9.3f}"),
            ("gpu ms", 9, lambda r: _opt(r.get("gpu_p50_ms"), "9.3f", 9)),
            ("GFLOP/s", 9, lambda r: _opt(r.get("gflops"), "9.1f", 9)),
            ("of peak", 8, lambda r: f"{100 * r['peak_fraction']:7.1f}%" if r.get("peak_fraction") else f"{'-':>8}"),
            ("return", 9, lambda r: _opt(r.get("closed_loop_return"), "9.1f", 9)),
        ],
    )


def plot_report(report: dict, path: str) -> None:
    """Bar chart of p50 latency per configuration and implementation (log scale)."""
    gpu = report["machine"].get("gpu", "GPU")
    plot_latency(report, path, GPU_CONFIGS, GPU_IMPLS, f"GPU planning latency on {gpu}, same run, same weights")
