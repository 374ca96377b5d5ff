"""The :mod:`obandits.nbrng` stream, called from Python and from inside a compiled kernel,
against a plain-Python xoshiro256** (the published algorithm): same words, same draws."""

import numba as nb
import numpy as np

from obandits import nbrng

_M = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & _M


def _reference(state, n):
    """``n`` outputs of xoshiro256** from ``state`` (four ints), in plain Python."""
    s = [int(v) for v in state]
    out = []
    for _ in range(n):
        out.append(_rotl((s[1] * 5) & _M, 7) * 9 & _M)
        t = (s[1] << 17) & _M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
    return out


def _state():
    return nbrng.state_from_sequence(np.random.SeedSequence(2026))


@nb.njit
def _draws_in_kernel(st, cdf, n):
    """One ``next_u64``, ``uniform``, ``randint``, ``categorical_cdf`` per round."""
    w = np.empty(n, np.uint64)
    u = np.empty(n)
    k = np.empty(n, np.int64)
    c = np.empty(n, np.int64)
    for i in range(n):
        w[i] = nbrng.next_u64(st)
        u[i] = nbrng.uniform(st)
        k[i] = nbrng.randint(st, 7)
        c[i] = nbrng.categorical_cdf(st, cdf)
    return w, u, k, c


def _expected(n, cdf):
    ref = _reference(_state(), 4 * n)
    unit = [(x >> 11) * (1.0 / 9007199254740992.0) for x in ref]
    w = np.array(ref[0::4], np.uint64)
    u = np.array(unit[1::4])
    k = np.array([min(int(x * 7), 6) for x in unit[2::4]])
    c = np.array([int(np.searchsorted(cdf, x * cdf[-1], side="right")) for x in unit[3::4]])
    return w, u, k, c


def test_stream_from_python_and_kernel_equals_reference():
    n = 200
    cdf = np.cumsum([0.1, 0.0, 0.3, 0.25, 0.35])
    expected = _expected(n, cdf)
    st = _state()
    got_py = ([], [], [], [])
    for _ in range(n):
        got_py[0].append(nbrng.next_u64(st))
        got_py[1].append(nbrng.uniform(st))
        got_py[2].append(nbrng.randint(st, 7))
        got_py[3].append(nbrng.categorical_cdf(st, cdf))
    st_kernel = _state()
    got_kernel = _draws_in_kernel(st_kernel, cdf, n)
    for e, p, k in zip(expected, got_py, got_kernel):
        assert np.array_equal(e, np.array(p, dtype=e.dtype))
        assert np.array_equal(e, k)
    assert np.array_equal(st, st_kernel)  # the state advanced the same way in place
