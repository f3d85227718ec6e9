"""pytest-benchmark suite: one latent-model plan (``act``) per config x implementation.

Run with ``pytest benchmarks/test_bench_latent.py --benchmark-only``. Nothing here asserts
on time; implementations whose package is missing are skipped with the reason. Every
implementation of a configuration plans with the same random-initialized weights.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("torch")

from planner.bench.latent_peers import (  # noqa: E402
    LATENT_CONFIGS,
    LATENT_IMPLS,
    LatentRollout,
    PeerUnavailable,
    bench_observations,
    build_problem,
    latent_torch_problem,
    make_latent_planner,
)
from planner.bench.plan_bench import benchmark_act  # noqa: E402

THREADS = 2
ROUNDS = 5
WARMUP_ROUNDS = 2
CASES = list(itertools.product(LATENT_CONFIGS, LATENT_IMPLS))


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    directory = tmp_path_factory.mktemp("latent_models")
    out = {}
    for name in LATENT_CONFIGS:
        try:
            out[name] = build_problem(name, str(directory), seed=0, threads=THREADS)
        except PeerUnavailable as exc:
            out[name] = str(exc)
    return out


def _problem(problems, config):
    problem = problems[config]
    if isinstance(problem, str):
        pytest.skip(problem)
    return problem


@pytest.mark.parametrize("config,impl", CASES, ids=[f"{c}-{i}" for c, i in CASES])
def test_latent_plan_act(benchmark, problems, config, impl):
    problem = _problem(problems, config)
    try:
        planner = make_latent_planner(impl, problem, seed=0, threads=THREADS)
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    cfg = problem.config
    benchmark.extra_info["gflop_per_plan"] = problem.flop_per_plan() / 1e9
    benchmark.extra_info["rows_per_plan"] = cfg.rows_per_plan
    observations = bench_observations(ROUNDS + WARMUP_ROUNDS, cfg.obs_dim, seed=0)
    action = benchmark_act(benchmark, planner, observations, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    lo = problem.model.action_low.numpy()
    hi = problem.model.action_high.numpy()
    assert action.shape == (cfg.action_dim,)
    assert np.all(np.isfinite(action))
    assert np.all(action >= lo - 1e-6) and np.all(action <= hi + 1e-6)


@pytest.mark.parametrize("config", list(LATENT_CONFIGS))
def test_every_implementation_scores_the_same_return(problems, config):
    """The peers' torch rollout, the torch model's own `rollout_returns` and the native
    scorer on the exported file agree: all implementations plan on one problem."""
    import torch

    import planner

    problem = _problem(problems, config)
    cfg, model = problem.config, problem.model
    obs = bench_observations(1, cfg.obs_dim, seed=3)[0]
    rng = np.random.default_rng(4)
    actions = rng.uniform(-1.0, 1.0, (64, cfg.horizon, cfg.action_dim)).astype(np.float32)
    rollout = LatentRollout(model, cfg.horizon, problem.context, terminal_value=cfg.terminal_value)
    with torch.inference_mode():
        ours_torch = rollout(rollout.encode(obs), torch.from_numpy(actions)).numpy().copy()
        c = None if problem.context is None else torch.from_numpy(problem.context)[None]
        reference = model.rollout_returns(torch.from_numpy(obs)[None], torch.from_numpy(actions)[None], c)[0].numpy()
    scorer = planner.LatentScorer(planner.WorldModel.load(problem.path), terminal_value=cfg.terminal_value)
    native = scorer.score(obs, actions, problem.context)
    tol = 1e-4 * max(1.0, float(np.abs(reference).max()))
    np.testing.assert_allclose(ours_torch, reference, rtol=0, atol=tol)
    np.testing.assert_allclose(native, reference, rtol=0, atol=tol)


@pytest.mark.parametrize("config", list(LATENT_CONFIGS))
def test_step_driven_peers_score_the_same_return(problems, config):
    """pytorch_mppi's cost and torchrl's advantage (step 0) are minus the planning return
    (up to torchrl's baseline), so every peer optimizes the same objective."""
    import torch

    problem = _problem(problems, config)
    cfg, model = problem.config, problem.model
    n = 16
    obs = bench_observations(1, cfg.obs_dim, seed=3)[0]
    actions = torch.from_numpy(np.random.default_rng(4).uniform(-1, 1, (n, cfg.horizon, cfg.action_dim)))
    actions = actions.float()
    rollout = LatentRollout(model, cfg.horizon, problem.context, terminal_value=cfg.terminal_value)
    with torch.inference_mode():
        z0 = rollout.encode(obs)
        reference = rollout(z0, actions).clone()
    tol = 1e-4 * max(1.0, float(reference.abs().max()))
    checked = 0
    try:
        mppi = make_latent_planner("pytorch_mppi", problem)._mppi
    except PeerUnavailable:
        mppi = None
    if mppi is not None:
        with torch.inference_mode():
            mppi.state = z0
            cost = mppi._compute_rollout_costs(actions)[0]
        assert (cost + reference).abs().max().item() < tol
        checked += 1
    try:
        from tensordict import TensorDict
        from torchrl.modules.planners.mppi import _PrecomputedActionsSequentialSetter

        from planner.bench.adapters import build_return_advantage, build_torchrl_env
    except ImportError:
        TensorDict = None
    if TensorDict is not None:
        torch_problem = latent_torch_problem(problem)
        env = build_torchrl_env(torch_problem)
        advantage = build_return_advantage(torch_problem)
        fields = {"observation": z0.expand(n, -1)}
        with torch.inference_mode():
            td = env.rollout(
                max_steps=cfg.horizon,
                policy=_PrecomputedActionsSequentialSetter(actions),
                auto_reset=False,
                tensordict=TensorDict(fields, [n]),
                break_when_any_done=False,
            )
            got = advantage(td)["advantage"][:, 0, 0]
        assert (got - (reference - reference.max())).abs().max().item() < tol
        checked += 1
    if not checked:
        pytest.skip("neither pytorch_mppi nor torchrl is installed")


def test_flop_count_matches_benchmarks_md():
    """latent-small is about 1.2 GFLOP per plan (BENCHMARKS.md)."""
    from planner.bench.latent_peers import model_flops

    torch = pytest.importorskip("torch")
    from planner.models.world_model import WorldModel, preset

    torch.manual_seed(0)
    cfg = LATENT_CONFIGS["latent-small"]
    model = WorldModel(preset(cfg.preset, cfg.obs_dim, cfg.action_dim))
    assert 1.1e9 < model_flops(model, cfg) < 1.3e9
