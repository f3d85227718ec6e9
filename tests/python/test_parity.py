"""Native vs torch: the native latent scorer reproduces the torch world model's
planning return for every preset and activation (rollout outputs within 1e-4
relative), on a file written by the torch exporter."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import planner  # noqa: E402
from planner.models.export import export_model  # noqa: E402
from planner.models.world_model import PRESETS, WorldModel, preset  # noqa: E402

CASES = [(name, act) for name in sorted(PRESETS) for act in ("mish", "elu", "relu")]


@pytest.mark.parametrize("name,act", CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_native_matches_torch(tmp_path, name, act):
    torch.manual_seed(0)
    S, A = 7, 3
    model = WorldModel(preset(name, S, A, activation=act)).eval()
    rng = np.random.default_rng(0)
    model.set_normalization(
        obs_shift=rng.standard_normal(S),
        obs_scale=1 + rng.random(S),
        action_low=-1.0 - rng.random(A),
        action_high=1.0 + rng.random(A),
        reward_shift=0.2,
        reward_scale=1.5,
        value_shift=-0.1,
        value_scale=2.0,
    )
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.add_(0.1 * torch.randn_like(m.weight))
                m.bias.add_(0.1 * torch.randn_like(m.bias))
    path = export_model(model, tmp_path / "m.lpm.safetensors")
    C = model.config.context_dim
    obs = rng.standard_normal((1, S)).astype(np.float32)
    ctx = rng.standard_normal((1, C)).astype(np.float32) if C else None
    lo, hi = model.action_low.numpy(), model.action_high.numpy()
    actions = rng.uniform(lo, hi, (1, 40, 5, A)).astype(np.float32)
    disagreement = 0.3 if model.config.ensemble > 1 else 0.0
    with torch.inference_mode():
        want = model.rollout_returns(
            torch.from_numpy(obs),
            torch.from_numpy(actions),
            None if ctx is None else torch.from_numpy(ctx),
            disagreement,
        ).numpy()[0]
    scorer = planner.LatentScorer(planner.WorldModel.load(str(path)), disagreement=disagreement)
    got = scorer.score(obs[0], actions[0], None if ctx is None else ctx[0])
    scale = max(np.abs(want).max(), 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
