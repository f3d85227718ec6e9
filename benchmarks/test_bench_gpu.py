"""pytest-benchmark suite: one GPU plan per configuration x implementation
(planner.bench.gpu_bench: ours in float32 / TF32 / BF16, torch eager and torch.compile on
CUDA, same weights). Skipped without a CUDA device.

Run with ``pytest benchmarks/test_bench_gpu.py --benchmark-only``. Nothing here asserts on
time; each round plans once and waits for the plan (torch.cuda.synchronize).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import planner.cuda  # noqa: E402
from planner.bench.gpu_bench import (  # noqa: E402
    GPU_CONFIGS,
    GPU_IMPLS,
    WARMUP_CALLS,
    GpuUnavailable,
    build_problem,
    make_gpu_planner,
    require_gpu,
)

try:
    require_gpu()
except GpuUnavailable as exc:
    pytest.skip(str(exc), allow_module_level=True)

ROUNDS = 100
CASES = [
    (c, i)
    for c, i in itertools.product(GPU_CONFIGS, GPU_IMPLS)
    if GPU_CONFIGS[c].scorer == "latent" or i not in ("ours-tf32", "ours-bf16")
]


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("gpu_models"))
    return {name: build_problem(name, directory, ROUNDS + WARMUP_CALLS, seed=0) for name in GPU_CONFIGS}


@pytest.mark.parametrize("config,impl", CASES, ids=[f"{c}-{i}" for c, i in CASES])
def test_gpu_plan(benchmark, problems, config, impl):
    problem = problems[config]
    cfg = problem.config
    try:
        p = make_gpu_planner(impl, problem, seed=0)
    except Exception as exc:  # a peer that cannot be built here (e.g. torch.compile without triton)
        if impl.startswith("ours"):
            raise
        pytest.skip(f"{impl}: {type(exc).__name__}: {exc}")
    benchmark.extra_info.update(batch=cfg.batch, gflop_per_plan=problem.flop_per_plan / 1e9)
    benchmark.extra_info["gpu"] = torch.cuda.get_device_name(0)
    cursor = itertools.cycle(range(problem.obs.shape[0]))

    def next_input():
        return (problem.obs[next(cursor)],), {}

    def plan(obs):
        a = p.act(obs, problem.context)
        torch.cuda.synchronize()
        return a

    p.reset()
    action = benchmark.pedantic(plan, setup=next_input, rounds=ROUNDS, warmup_rounds=WARMUP_CALLS, iterations=1)
    a = torch.as_tensor(action, device="cuda").cpu().numpy()
    assert a.shape == (cfg.batch, cfg.action_dim) and np.all(np.isfinite(a))


@pytest.mark.parametrize("config", [c for c in GPU_CONFIGS if GPU_CONFIGS[c].scorer == "latent"])
def test_ours_scores_the_torch_models_return(problems, config):
    """Ours plans with the same weights as the peers: the returns of its last population
    equal ``WorldModel.rollout_returns`` of the torch module on the device."""
    problem = problems[config]
    cfg = problem.config
    p = planner.cuda.Planner(problem.path, cfg.native_config(), batch=cfg.batch, seed=0)
    p.plan(problem.obs[0], problem.context)
    pop, ret = p.last_iteration()
    with torch.inference_mode():
        want = problem.model.rollout_returns(problem.obs[0], torch.from_numpy(pop).cuda(), problem.context)
    want = want.cpu().numpy()
    np.testing.assert_allclose(ret, want, rtol=0, atol=1e-3 * max(1.0, float(np.abs(want).max())))
