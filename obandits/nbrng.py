"""A small counter-free generator for compiled kernels: xoshiro256** with explicit state.

Numba's ``np.random`` keeps one hidden state per thread, so results would depend on which
thread ran a repetition. Kernels here instead carry one ``uint64[4]`` state per repetition,
seeded from :func:`obandits.seeding.rep_states`; the stream is then the same whatever the
thread count. The NumPy ``Generator`` is the reference for distributions, not for streams.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_U = np.uint64


def state_from_sequence(seq: np.random.SeedSequence) -> np.ndarray:
    """Four uint64 words from a SeedSequence; never all zero (xoshiro's one bad state)."""
    st = seq.generate_state(4, np.uint64)
    if not st.any():
        st[0] = 1
    return st


@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@nb.njit(cache=True, inline="always")
def xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256** step on the four state words held in registers: returns (output, new
    state). The one implementation of the generator: :func:`next_u64` applies it to a
    ``uint64[4]`` state, and lane-wise kernels to states laid out one word per array, so a
    loop over repetitions vectorises and gives the same stream as one repetition alone."""
    result = _rotl(s1 * _U(5), 7) * _U(9)
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def unit_float(x):
    """The top 53 bits of a ``uint64`` as a float in [0, 1)."""
    return (x >> _U(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
def next_u64(st):
    """Next 64-bit output; advances ``st`` (uint64[4]) in place."""
    result, st[0], st[1], st[2], st[3] = xoshiro_step(st[0], st[1], st[2], st[3])
    return result


@nb.njit(cache=True)
def uniform(st):
    """Uniform float in [0, 1) with 53 random bits: :func:`next_u64`'s step written out
    rather than called, so a kernel drawing floats compiles one function, not two (cold
    start)."""
    result, st[0], st[1], st[2], st[3] = xoshiro_step(st[0], st[1], st[2], st[3])
    return unit_float(result)


@nb.njit(cache=True)
def randint(st, n):
    """Uniform integer in [0, n) (n >= 1). A cast and a comparison: ``min(int(...))`` would
    compile two more functions on a cold start."""
    k = np.int64(uniform(st) * n)
    return k if k < n - 1 else n - 1


@nb.njit(cache=True)
def bernoulli(st, p):
    return uniform(st) < p


@nb.njit(cache=True)
def normal(st):
    """Standard normal by Box-Muller (one of the pair)."""
    u1 = uniform(st)
    while u1 <= 0.0:
        u1 = uniform(st)
    u2 = uniform(st)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@nb.njit(cache=True)
def _gamma_ge1(st, shape):
    """Gamma(shape, 1) for shape >= 1 by Marsaglia-Tsang."""
    d = shape - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        x = normal(st)
        vv = 1.0 + c * x
        if vv <= 0.0:
            continue
        vv = vv * vv * vv
        u = uniform(st)
        if u < 1.0 - 0.0331 * x ** 4:
            return d * vv
        if u > 0.0 and np.log(u) < 0.5 * x * x + d * (1.0 - vv + np.log(vv)):
            return d * vv


@nb.njit(cache=True)
def log_gamma_variate(st, shape):
    """``log X`` with ``X ~ Gamma(shape, 1)``; for shape < 1 the boost
    ``X = Y U^(1/shape)``, ``Y ~ Gamma(shape + 1)``, is taken in log space so tiny shapes do
    not underflow to log(0)."""
    if not shape > 0.0:
        raise ValueError("gamma shape must be > 0")
    if shape < 1.0:
        u = uniform(st)
        while u <= 0.0:
            u = uniform(st)
        return np.log(_gamma_ge1(st, shape + 1.0)) + np.log(u) / shape
    return np.log(_gamma_ge1(st, shape))


@nb.njit(cache=True)
def gamma(st, shape):
    """Gamma(shape, 1), shape > 0 (may underflow to 0.0 for tiny shapes; see
    :func:`log_gamma_variate`)."""
    return np.exp(log_gamma_variate(st, shape))


@nb.njit(cache=True)
def beta(st, a, b):
    """Beta(a, b) as ``X / (X + Y)`` computed from log-gamma variates (no 0/0 for tiny a, b)."""
    lx = log_gamma_variate(st, a)
    ly = log_gamma_variate(st, b)
    return 1.0 / (1.0 + np.exp(ly - lx))


@nb.njit(cache=True)
def categorical_cdf(st, cdf):
    """Index drawn from a cumulative distribution ``cdf`` (last entry 1), by bisection."""
    u = uniform(st) * cdf[-1]
    lo, hi = 0, cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo
