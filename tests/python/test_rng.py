"""The counter-based RNG: known answers, bit-identity with the NumPy reference,
independence from how the stream is chunked, and the moments of the draws."""

import numpy as np
import pytest

from planner import _core
from planner import reference as ref

KAT = [
    ((0, 0, 0, 0, 0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 6, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("args,expected", KAT)
def test_philox_known_answers(args, expected):
    assert tuple(_core.philox4x32_10(*args)) == expected
    assert tuple(int(x) for x in ref.philox4x32_10(*args)) == expected


@pytest.mark.parametrize("seed,first,count", [(0, 0, 1), (7, 3, 1001), (2**40 + 5, 17, 4096)])
def test_normal_bit_identical_to_reference(seed, first, count):
    native = _core.normal(seed, 2, 5, 9, first, count)
    oracle = ref.normal(seed, 2, 5, 9, first, count)
    assert native.dtype == np.float32
    np.testing.assert_array_equal(native, oracle)


def test_normal_stream_does_not_depend_on_chunking():
    whole = _core.normal(1, 0, 0, 0, 0, 999)
    parts = np.concatenate([_core.normal(1, 0, 0, 0, 0, 5), _core.normal(1, 0, 0, 0, 5, 994)])
    np.testing.assert_array_equal(whole, parts)


def test_normal_moments_and_streams_differ():
    z = _core.normal(3, 0, 0, 0, 0, 400_000).astype(np.float64)
    assert abs(z.mean()) < 0.01
    assert abs(z.var() - 1) < 0.01
    assert abs(((z**4).mean()) - 3) < 0.05  # Gaussian kurtosis
    other = _core.normal(3, 1, 0, 0, 0, 1000)
    assert not np.array_equal(z[:1000].astype(np.float32), other)


@pytest.mark.parametrize("H", [1, 2, 7, 20])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_colored_noise_matrix(H, beta):
    M = _core.colored_noise_matrix(H, beta)
    np.testing.assert_allclose(M, ref.colored_noise_matrix(H, beta), atol=1e-6)
    np.testing.assert_allclose((M.astype(np.float64) ** 2).sum(1), 1.0, atol=1e-5)  # unit variance
    if beta == 0.0:
        np.testing.assert_allclose(M @ M.T, np.eye(H), atol=1e-5)  # white noise
    elif H >= 7:
        cov = M.astype(np.float64) @ M.T.astype(np.float64)
        assert cov[0, 1] > 0.3  # colored: neighbours correlate
