"""The CUDA backend from Python (planner.cuda).

Everywhere: what the build reports, clear errors without a GPU, argument checks, and the
device-array plumbing (input validation, DLPack, result views) on fake or host arrays.
With a GPU (skipped otherwise): CPU parity (identical first-iteration samples, returns
within tolerance, a closed-loop Pendulum episode), torch / DLPack / CuPy inputs and
zero-copy outputs, streams, bad inputs, B problems and tensor-core precisions.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from model_files import random_model, save

import planner
import planner.cuda as pc
from conftest import make_config

GPU = pc.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs the CUDA backend and a CUDA device")


# --------------------------------------------------------------------------------------
# everywhere
# --------------------------------------------------------------------------------------


def test_availability_is_consistent():
    info = planner.build_info()
    assert isinstance(info["cuda"], bool) and isinstance(info["cuda_devices"], int)
    assert info["cuda"] == pc.built() == (info["backend"] == "cuda")
    assert info["cuda_devices"] == pc.device_count() >= 0
    assert pc.is_available() == (pc.built() and pc.device_count() > 0)
    if not pc.built():
        assert pc.device_count() == 0 and not pc.is_available()
    assert set(pc.PRECISIONS) == {"float32", "tf32", "bf16"}


def test_device_info():
    if pc.device_count() == 0:
        with pytest.raises(RuntimeError, match="built without CUDA|no CUDA device"):
            pc.device_info(0)
        return
    info = pc.device_info(0)
    assert info["index"] == 0 and info["name"] and info["memory_bytes"] > 0 and info["multiprocessors"] > 0
    assert len(info["compute_capability"]) == 2
    with pytest.raises(ValueError, match="device"):
        pc.device_info(pc.device_count())


@pytest.mark.skipif(GPU, reason="checks the error raised without a GPU")
def test_planner_without_gpu_raises_a_clear_runtime_error():
    with pytest.raises(RuntimeError, match=r"planner\.cuda: .*(built without CUDA|no CUDA device is visible)"):
        pc.Planner("pendulum", make_config("mppi"))
    with pytest.raises(RuntimeError, match="built without CUDA|no CUDA device"):
        pc.Planner("diff_drive", make_config("cem"), batch=4, precision="bf16")


@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        (dict(precision="fp16"), ValueError, r"precision: expected one of \['float32', 'tf32', 'bf16'\], got 'fp16'"),
        (dict(precision=32), ValueError, "precision"),
        (dict(scorer="rocket"), ValueError, r"scorer: expected an analytic scorer name .*got 'rocket'"),
        (dict(scorer=3.5), TypeError, "scorer"),
        (dict(batch=0), ValueError, r"batch \(B\): expected an int >= 1, got 0"),
        (dict(batch=2.0), TypeError, r"batch \(B\)"),
        (dict(device=-1), ValueError, "device"),
        (dict(shift_after_plan=-1), ValueError, "shift_after_plan"),
        (dict(disagreement=-0.5), ValueError, "disagreement"),
        (dict(params={"bogus": 1.0}), ValueError, "bogus"),
        (dict(config="mppi"), TypeError, "config: expected CEMConfig, ICEMConfig or MPPIConfig"),
        (dict(seed=-1), ValueError, "seed"),
    ],
)
def test_bad_arguments_are_named_without_a_device(kwargs, exc, pattern):
    args = dict(scorer="pendulum", config=make_config("mppi"))
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        pc.Planner(args.pop("scorer"), args.pop("config"), **args)


def test_model_file_scorer_is_resolved_before_the_device_check(tmp_path):
    path = tmp_path / "m.lpm.safetensors"
    save(path, *random_model(S=3, A=1))
    with pytest.raises(ValueError, match="params: apply only to an analytic scorer"):
        pc.Planner(str(path), make_config("mppi"), params={"m": 1.0})
    if not GPU:
        with pytest.raises(RuntimeError, match="planner.cuda"):
            pc.Planner.from_file(path, make_config("mppi"))


def test_stream_handles():
    class TorchLike:
        cuda_stream = 0x1234

    class CupyLike:
        ptr = 0x5678

    assert pc._stream_handle(0) == 0
    assert pc._stream_handle(7) == 7
    assert pc._stream_handle(TorchLike()) == 0x1234
    assert pc._stream_handle(CupyLike()) == 0x5678
    with pytest.raises(TypeError, match="stream: expected None, an int"):
        pc._stream_handle("default")
    with pytest.raises(TypeError, match="stream"):
        pc._stream_handle(True)
    with pytest.raises(ValueError, match="stream"):
        pc._stream_handle(-3)


class FakeCudaArray:
    """Only a __cuda_array_interface__ (never dereferenced by the checks)."""

    def __init__(self, shape, typestr="<f4", strides=None, ptr=0x7F0000001000, stream=None, device=None):
        self.__cuda_array_interface__ = {
            "version": 3,
            "shape": shape,
            "typestr": typestr,
            "data": (ptr, False),
            "strides": strides,
            "stream": stream,
        }
        if device is not None:
            self.__dlpack_device__ = lambda: device


def _check(x, shape=(4, 2), letters="[B, S]"):
    return pc._device_input(x, "state", letters, shape, 0, 0)


def test_cuda_array_interface_input_checks():
    ptr, keep = _check(FakeCudaArray((4, 2)))
    assert ptr == 0x7F0000001000 and keep is None
    assert _check(FakeCudaArray((4, 2), strides=(8, 4)))[0] == ptr
    assert _check(FakeCudaArray((4, 1), strides=(4, 99)), shape=(4, 1))[0] == ptr  # extent-1 strides do not matter
    assert _check(FakeCudaArray((4, 2), device=(2, 0)))[0] == ptr
    with pytest.raises(pc.DeviceArrayError, match=r"state: expected a float32 CUDA array of shape \[B, S\] = \[4, 2\]"):
        _check(FakeCudaArray((4, 2), typestr="<f8"))
    with pytest.raises(ValueError, match=r"shape \[B, S\] = \[4, 2\], got .* \[2, 4\]"):
        _check(FakeCudaArray((2, 4)))
    with pytest.raises(ValueError, match="not C-contiguous"):
        _check(FakeCudaArray((4, 2), strides=(4, 16)))
    with pytest.raises(ValueError, match="misaligned"):
        _check(FakeCudaArray((4, 2), ptr=0x7F0000001002))
    with pytest.raises(ValueError, match="on cuda:1, the planner is on cuda:0"):
        _check(FakeCudaArray((4, 2), device=(2, 1)))
    with pytest.raises(ValueError, match="memory on cpu"):
        _check(FakeCudaArray((4, 2), device=(1, 0)))
    assert issubclass(pc.DeviceArrayError, TypeError)  # the CPU planner raises TypeError for dtype/layout


def test_host_arrays_are_refused_not_copied():
    with pytest.raises(ValueError, match=r"got numpy float32 \[4, 2\] in host memory .*copy it to cuda:0 explicitly"):
        _check(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="got list"):
        _check([[0.0, 0.0]] * 4)
    with pytest.raises(ValueError, match="got None"):
        _check(None)


def test_dlpack_host_producer_is_refused_and_released():
    class DlpackOnly:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    with pytest.raises(ValueError, match="memory on cpu"):
        _check(DlpackOnly(np.zeros((4, 2), np.float32)))


def test_dlpack_consumer_reads_the_spec_fields():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = planner._core.DlpackInput(a.__dlpack__())
    assert view.device == (1, 0) and view.dtype == (2, 32, 1) and view.shape == (3, 4)
    assert view.strides in (None, (4, 1)) and view.data == a.ctypes.data
    view.release()
    view.release()  # idempotent
    cap = a[:, 1::2].__dlpack__()
    view = planner._core.DlpackInput(cap)
    assert view.shape == (3, 2) and view.strides == (4, 2) and view.data == a.ctypes.data + 4
    assert not pc._c_contiguous(view.shape, view.strides, 1)
    with pytest.raises(TypeError, match="unconsumed DLPack capsule"):
        planner._core.DlpackInput(cap)  # renamed to "used_dltensor" by the first consumer


def test_dlpack_producer_round_trips_and_releases_its_owner():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)

    class Exporter:
        def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
            return planner._core.to_dlpack(a.ctypes.data, [2, 3], 1, 0, self)

        def __dlpack_device__(self):
            return (1, 0)

    e = Exporter()
    before = sys.getrefcount(e)
    b = np.from_dlpack(e)
    assert np.shares_memory(a, b) and np.array_equal(a, b)
    assert sys.getrefcount(e) == before + 1
    del b
    assert sys.getrefcount(e) == before
    cap = e.__dlpack__()
    del cap  # never consumed: the capsule's destructor releases the owner
    assert sys.getrefcount(e) == before
    torch = sys.modules.get("torch")
    if torch is not None:
        t = torch.from_dlpack(e)
        assert t.data_ptr() == a.ctypes.data and t.tolist() == a.tolist()


class _FakePlanner:
    _generation = 0


def test_result_views_describe_themselves_and_go_stale():
    owner = _FakePlanner()
    arr = pc.DeviceArray(0x7F0000002000, (4, 1), 0, 0, owner)
    cai = arr.__cuda_array_interface__
    assert cai["shape"] == (4, 1) and cai["typestr"] == "<f4" and cai["data"] == (0x7F0000002000, False)
    assert cai["version"] == 3 and cai["strides"] is None and cai["stream"] == 1  # 1: legacy default stream
    assert pc.DeviceArray(1 << 12, (2,), 0, 0xABC, owner).__cuda_array_interface__["stream"] == 0xABC
    assert arr.__dlpack_device__() == (2, 0) and len(arr) == 4 and "float32 [4, 1] on cuda:0" in repr(arr)
    owner._generation += 1  # the planner planned again
    assert not arr.valid and "stale" in repr(arr)
    with pytest.raises(RuntimeError, match="stale planner result"):
        _ = arr.__cuda_array_interface__
    with pytest.raises(RuntimeError, match="stale planner result"):
        arr.__dlpack__()


# --------------------------------------------------------------------------------------
# with a GPU
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    t = pytest.importorskip("torch")
    if not t.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    return t


def _bounds(scorer: str):
    lo, hi = planner.Scorer(scorer).bounds
    return list(lo), list(hi)


def _states(rng, B, scorer="pendulum"):
    S = planner.Scorer(scorer).state_dim
    return rng.uniform(-1, 1, (B, S)).astype(np.float32)


@needs_gpu
@pytest.mark.parametrize("opt", planner.optimizer_names())
@pytest.mark.parametrize("scorer", ["pendulum", "diff_drive"])
def test_first_iteration_samples_equal_the_cpu_planner(torch, opt, scorer):
    B, seed = 3, 11
    cfg = make_config(opt, iterations=1)
    states = _states(np.random.default_rng(0), B, scorer)
    gpu = pc.Planner(scorer, cfg, batch=B, seed=seed)
    res = gpu.plan(torch.from_numpy(states).cuda())
    pop, ret = gpu.last_iteration()
    lo, hi = _bounds(scorer)
    ref = planner.Optimizer(cfg.to_core(seed=seed, lower=lo, upper=hi), B, len(lo))
    ref.begin()
    expected = ref.ask()
    assert pop.shape == expected.shape
    np.testing.assert_array_equal(pop, expected)
    cpu_scorer = planner.Scorer(scorer)
    for b in range(B):
        want = cpu_scorer.score(states[b], np.ascontiguousarray(pop[b]))
        np.testing.assert_allclose(ret[b], want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    assert res.iterations == 1 and res.action_host().shape == (B, len(lo))


@needs_gpu
def test_closed_loop_pendulum_actions_match_the_cpu(torch):
    cfg = make_config("mppi", samples=256, horizon=15, iterations=2)
    cpu = planner.Planner("pendulum", cfg, seed=5, threads=2)
    gpu = pc.Planner("pendulum", cfg, seed=5)
    th, thdot, diffs = np.pi - 0.3, 0.0, []
    for _ in range(60):
        s = np.array([th, thdot], np.float32)
        a_cpu = cpu.plan(s).action
        a_gpu = gpu.plan(torch.from_numpy(s).cuda()).action_host()
        assert a_gpu.shape == a_cpu.shape == (1,)
        diffs.append(abs(float(a_gpu[0] - a_cpu[0])))
        u = float(np.clip(a_cpu[0], -2.0, 2.0))  # gymnasium Pendulum-v1 with the CPU's action
        thdot = float(np.clip(thdot + (3 * 10.0 / 2 * np.sin(th) + 3.0 * u) * 0.05, -8, 8))
        th = th + thdot * 0.05
    # The analytic scorers repeat the CPU's arithmetic (docs/CUDA.md): the same plans.
    assert max(diffs) < 1e-4, diffs


@pytest.fixture(scope="module")
def latent_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpu_models") / "m.lpm.safetensors"
    save(path, *random_model(S=17, A=6, Z=32, C=8, hidden=64, M=2, value=True, seed=3))
    return str(path)


@needs_gpu
def test_latent_returns_match_the_cpu_scorer(torch, latent_file):
    B = 2
    cfg = make_config("mppi", samples=128, horizon=6, iterations=1)
    gpu = pc.Planner(latent_file, cfg, batch=B, seed=2, disagreement=0.1)
    rng = np.random.default_rng(1)
    obs, ctx = _rand(rng, B, 17), _rand(rng, B, 8)
    gpu.plan(torch.from_numpy(obs).cuda(), torch.from_numpy(ctx).cuda())
    pop, ret = gpu.last_iteration()
    scorer = planner.LatentScorer(planner.WorldModel.load(latent_file), disagreement=0.1)
    for b in range(B):
        want = scorer.score(obs[b], np.ascontiguousarray(pop[b]), ctx[b])
        np.testing.assert_allclose(ret[b], want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@needs_gpu
@pytest.mark.parametrize("precision,tol", [("tf32", 2e-2), ("bf16", 8e-2)])
def test_tensor_core_precisions_stay_within_tolerance(torch, latent_file, precision, tol):
    cfg = make_config("mppi", samples=256, horizon=6, iterations=1)
    rng = np.random.default_rng(4)
    obs, ctx = torch.from_numpy(_rand(rng, 1, 17)).cuda(), torch.from_numpy(_rand(rng, 1, 8)).cuda()
    rets = {}
    for prec in ("float32", precision):
        p = pc.Planner(latent_file, cfg, seed=9, precision=prec)
        p.plan(obs, ctx)
        pop, rets[prec] = p.last_iteration()
    ref = rets["float32"]
    err = np.abs(rets[precision] - ref).max() / max(1.0, float(np.abs(ref).max()))
    assert err < tol, f"{precision}: max relative return error {err:.3g}"


@needs_gpu
def test_outputs_are_zero_copy_views(torch):
    p = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=1)
    res = p.plan(torch.zeros(4, 2, device="cuda"))
    host = res.action_host()
    a = torch.as_tensor(res.action, device="cuda")
    assert a.data_ptr() == res.action.ptr and a.shape == (4, 1) and a.dtype == torch.float32
    d = torch.from_dlpack(res.action)
    assert d.data_ptr() == res.action.ptr
    np.testing.assert_array_equal(a.cpu().numpy(), host)
    assert tuple(torch.as_tensor(res.plan, device="cuda").shape) == (4, p.horizon, 1)
    assert tuple(torch.as_tensor(res.best_return, device="cuda").shape) == (4,)
    p.plan(torch.zeros(4, 2, device="cuda"))
    with pytest.raises(RuntimeError, match="stale"):
        torch.as_tensor(res.action, device="cuda")


@needs_gpu
def test_unbatched_state(torch):
    p = pc.Planner("pendulum", make_config("cem"), seed=1)
    res = p.plan(torch.tensor([3.0, 0.0], device="cuda"))
    assert res.action.shape == (1,) and res.plan.shape == (p.horizon, 1) and res.best_return.shape == ()
    assert res.action_host().shape == (1,)


class _CaiOnly:
    def __init__(self, t):
        self.t = t
        self.__cuda_array_interface__ = t.__cuda_array_interface__


class _DlpackOnly:
    def __init__(self, t):
        self.t = t

    def __dlpack__(self, stream=None):
        return self.t.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


@needs_gpu
def test_every_input_protocol_gives_the_same_plan(torch):
    states = torch.from_numpy(_states(np.random.default_rng(2), 4)).cuda()
    actions = []
    for wrap in (lambda t: t, _CaiOnly, _DlpackOnly):
        p = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3)
        actions.append(p.plan(wrap(states)).action_host())
    np.testing.assert_array_equal(actions[0], actions[1])
    np.testing.assert_array_equal(actions[0], actions[2])


@needs_gpu
def test_cupy_inputs_and_outputs():
    cupy = pytest.importorskip("cupy")
    states = cupy.asarray(_states(np.random.default_rng(2), 4))
    p = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3)
    res = p.plan(states)
    assert res.stream == cupy.cuda.get_current_stream().ptr
    a = cupy.asarray(res.action)
    assert a.data.ptr == res.action.ptr
    np.testing.assert_array_equal(cupy.asnumpy(a), res.action_host())


@needs_gpu
def test_plans_on_the_callers_stream(torch):
    states = torch.from_numpy(_states(np.random.default_rng(6), 4)).cuda()
    ref = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3).plan(states).action_host()
    s = torch.cuda.Stream()
    p = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3)
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        res = p.plan(states)  # None: torch's current stream, s
        assert res.stream == s.cuda_stream
        out = torch.as_tensor(res.action, device="cuda").clone()
    s.synchronize()
    np.testing.assert_array_equal(out.cpu().numpy(), ref)
    p2 = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3)
    res2 = p2.plan(states, stream=s)  # explicit stream object
    assert res2.stream == s.cuda_stream
    np.testing.assert_array_equal(res2.action_host(), ref)
    p3 = pc.Planner("pendulum", make_config("mppi"), batch=4, seed=3)
    np.testing.assert_array_equal(p3.plan(states, stream=0).action_host(), ref)


@needs_gpu
def test_bad_device_inputs_are_refused(torch):
    p = pc.Planner("pendulum", make_config("mppi"), batch=4)
    good = torch.zeros(4, 2, device="cuda")
    cases = [
        (torch.zeros(4, 2, dtype=torch.float64, device="cuda"), r"got torch\.float64 \[4, 2\] on cuda:0"),
        (torch.zeros(4, 2), r"got torch\.float32 \[4, 2\] on cpu \(host memory"),
        (torch.zeros(4, 3, device="cuda"), r"shape \[B, S\] = \[4, 2\], got torch\.float32 \[4, 3\]"),
        (torch.zeros(2, 4, device="cuda").t(), "strided view"),
        (np.zeros((4, 2), np.float32), "host memory"),
    ]
    for bad, pattern in cases:
        with pytest.raises(ValueError, match=r"state: expected a float32 CUDA array .*" + pattern):
            p.plan(bad)
    with pytest.raises(ValueError, match=r"context: this scorer takes no context"):
        p.plan(good, good)
    assert np.isfinite(p.plan(good).action_host()).all()  # still usable


@needs_gpu
def test_b_problems_match_the_cpu_batch(torch):
    B = 16
    cfg = make_config("mppi", samples=128, horizon=10, iterations=2)
    states = _states(np.random.default_rng(8), B)
    cpu = planner.Planner("pendulum", cfg, batch=B, seed=4, threads=2).plan(states)
    p = pc.Planner("pendulum", cfg, batch=B, seed=4)
    res = p.plan(torch.from_numpy(states).cuda())
    np.testing.assert_allclose(res.action_host(), cpu.action, atol=1e-4)
    np.testing.assert_allclose(
        torch.as_tensor(res.best_return, device="cuda").cpu().numpy(), cpu.best_return, rtol=1e-5
    )
    p.reset(3)
    p.reset()
    p.shift(1)


# --------------------------------------------------------------------------------------
# the GPU benchmark's pieces that run anywhere
# --------------------------------------------------------------------------------------


def test_bench_gpu_exits_with_a_message_without_a_gpu(capsys):
    from planner.__main__ import main

    if GPU:
        pytest.skip("a GPU is present: the benchmark would run")
    assert main(["bench", "gpu", "--calls", "100"]) == 2
    assert "no GPU for the benchmark" in capsys.readouterr().err


def test_bench_torch_diff_drive_matches_the_native_scorer():
    torch = pytest.importorskip("torch")
    from planner.bench.gpu_bench import diff_drive_returns

    rng = np.random.default_rng(0)
    state = rng.uniform(-0.2, 0.2, (1, 3)).astype(np.float32)
    actions = rng.uniform(-1.3, 1.3, (1, 32, 100, 2)).astype(np.float32)  # beyond the box: clamped by both
    want = planner.Scorer("diff_drive").score(state[0], actions[0])
    got = diff_drive_returns(torch.from_numpy(state), torch.from_numpy(actions))[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_bench_torch_peer_plans_on_any_device(tmp_path):
    torch = pytest.importorskip("torch")
    import dataclasses

    from planner.bench import gpu_bench

    tiny = dataclasses.replace(gpu_bench.GPU_CONFIGS["batched-64"], batch=2, samples=16, horizon=3, iterations=2)
    tiny = dataclasses.replace(tiny, top_k=4, adapt_std=True)
    gpu_bench.GPU_CONFIGS["test-tiny"] = tiny
    try:
        problem = gpu_bench.build_problem("test-tiny", str(tmp_path), 2, device="cpu")
    finally:
        del gpu_bench.GPU_CONFIGS["test-tiny"]
    assert problem.obs.shape == (2, 2, 17) and problem.context.shape == (2, 8) and problem.flop_per_plan > 0
    peer = gpu_bench.TorchCudaPlanner(problem)
    with torch.inference_mode():
        a = peer.act(problem.obs[0], problem.context)
    assert a.shape == (2, 6) and torch.isfinite(a).all()
    lo, hi = problem.model.action_low, problem.model.action_high
    assert bool(((a >= lo) & (a <= hi)).all())
