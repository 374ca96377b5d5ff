"""Exact moments for Bu et al.'s scoring (issue 14): ``E[r^n]`` of a miss probability
``r = sum_a pi_a r_a`` mixed up the prefix tree (:mod:`obandits.cot.bu2025.scoring`'s module doc
gives the derivation); the kernels are compiled (``cache=True``).
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np

# ------------------------------------------------------------------------------------------
# Exact moments
# ------------------------------------------------------------------------------------------


@nb.njit(cache=True)
def mix_moments_nb(w, pi, child_m, binom):
    """``E[r^n]``, ``n = 0..K``, for ``r = sum_a pi_a r_a`` with ``pi`` one of the rows of
    ``pi (R, C)`` (weights ``w``) independent of the children's ``r_a`` (moments ``child_m
    (C, K+1)``): binomial convolution child by child, all terms non-negative."""
    R, C = pi.shape
    K1 = child_m.shape[1]
    out = np.zeros(K1)
    cur = np.empty(K1)
    new = np.empty(K1)
    pw = np.empty(K1)
    for r in range(R):
        cur[0] = 1.0
        for n in range(1, K1):
            cur[n] = 0.0
        for a in range(C):
            p = pi[r, a]
            if p == 0.0:
                continue
            pw[0] = 1.0
            for j in range(1, K1):
                pw[j] = pw[j - 1] * p
            for n in range(K1):
                s = 0.0
                for j in range(n + 1):
                    s += binom[n, j] * cur[n - j] * pw[j] * child_m[a, j]
                new[n] = s
            for n in range(K1):
                cur[n] = new[n]
        for n in range(K1):
            out[n] += w[r] * cur[n]
    return out


@lru_cache(maxsize=8)
def _binom(K: int) -> np.ndarray:
    b = np.zeros((K + 1, K + 1))
    for n in range(K + 1):
        b[n, 0] = 1.0
        for j in range(1, n + 1):
            b[n, j] = b[n - 1, j - 1] + (b[n - 1, j] if j < n else 0.0)
    return b


def leaf_moments(p_correct: np.ndarray, K: int) -> np.ndarray:
    """``E[r^n]`` of ``r = 1 - 1{o in C}``: 1 for ``n = 0``, ``1 - Rex(o)`` after."""
    m = np.repeat((1.0 - p_correct)[:, None], K + 1, axis=1)
    m[:, 0] = 1.0
    return m


@nb.njit(cache=True)
def _powers_nb(x, scale, out):
    """``out[r, j] = scale[r] * x[r]^j``."""
    for r in range(out.shape[0]):
        acc = scale[r]
        for j in range(out.shape[1]):
            out[r, j] = acc
            acc *= x[r]


@nb.njit(cache=True)
def _top_moment_nb(w, pi, coef):
    """``sum_r w_r sum_j coef_j a_r^j b_r^(K-j)`` with ``(a, b)`` the rows of ``pi (R, 2)``: a
    Bernstein polynomial per row by homogeneous Horner (``s <- s a + coef_j b^(K-j)``: no
    division, no powers table, all terms non-negative), rows in blocks so that the loop over
    a block vectorises."""
    K = coef.shape[0] - 1
    R = pi.shape[0]
    B = 256
    a = np.empty(B)
    b = np.empty(B)
    s = np.empty(B)
    bp = np.empty(B)
    tot = 0.0
    for r0 in range(0, R, B):
        n = min(B, R - r0)
        for r in range(n):
            a[r] = pi[r0 + r, 0]
            b[r] = pi[r0 + r, 1]
            s[r] = coef[K]
            bp[r] = 1.0
        for j in range(K - 1, -1, -1):
            c = coef[j]
            for r in range(n):
                bp[r] *= b[r]
                s[r] = s[r] * a[r] + c * bp[r]
        for r in range(n):
            tot += w[r0 + r] * s[r]
    return tot


def mix_moments(w: np.ndarray, pi: np.ndarray, child_m: np.ndarray, binom: np.ndarray,
                top_only: bool = False) -> np.ndarray:
    """:func:`mix_moments_nb`; with two children and many outcomes, through the mixed moments
    ``T[j, m] = E[pi^j (1-pi)^m]`` (one matrix product) instead of one convolution each.
    ``top_only``: only ``E[r^K]`` is wanted (the root), so only ``T[j, K-j]`` is needed: one
    Bernstein polynomial per outcome (:func:`_top_moment_nb`); the other entries are left 0."""
    R, C = pi.shape
    if C != 2 or R <= 64:
        return mix_moments_nb(w, pi, child_m, binom)
    K1 = child_m.shape[1]
    if top_only:
        K = K1 - 1
        out = np.zeros(K1)
        out[K] = _top_moment_nb(w, pi, binom[K] * child_m[0] * child_m[1][::-1])
        return out
    j = np.arange(K1)
    p0 = np.empty((R, K1))
    p1 = np.empty((R, K1))
    _powers_nb(np.ascontiguousarray(pi[:, 0]), w, p0)
    _powers_nb(np.ascontiguousarray(pi[:, 1]), np.ones(R), p1)
    T = p0.T @ p1
    n = j[:, None]
    jj = j[None, :]
    ok = jj <= n
    m = np.clip(n - jj, 0, K1 - 1)
    terms = np.where(ok, binom * T[jj, m] * child_m[0][jj] * child_m[1][m], 0.0)
    return terms.sum(axis=1)
