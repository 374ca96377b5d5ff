"""Metrics of Spec 1 §3: unbiased pass@k, distinct answers per group, token entropy, and
power-law fits with bootstrap confidence intervals (for regret exponents)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validate as v

PASS_K = (1, 2, 4, 8, 16, 32)


def pass_at_k(n, c, k: int) -> np.ndarray | float:
    """Unbiased pass@k (Chen et al. 2021; Spec 1 §3): ``1 - C(n-c, k) / C(n, k)``.

    Computed stably as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, and exactly 1.0 when ``n - c < k``.
    ``n`` (samples) and ``c`` (correct samples) are scalars or equal-shape arrays (one entry per
    problem); ``k`` must satisfy ``1 <= k <= n`` for every problem.
    """
    scalar = np.ndim(n) == 0 and np.ndim(c) == 0
    n_arr = v.int_array("n", np.atleast_1d(n), min_value=1)
    c_arr = v.int_array("c", np.atleast_1d(c), min_value=0)
    k = v.int_scalar("k", k, min_value=1)
    if n_arr.shape != c_arr.shape:
        raise ValueError(f"n and c must have the same shape, got {n_arr.shape} and {c_arr.shape}")
    if (c_arr > n_arr).any():
        i = int(np.argmax(c_arr > n_arr))
        raise ValueError(f"c must be <= n, got c={c_arr[i]} > n={n_arr[i]} at index {i}")
    if k > n_arr.min():
        raise ValueError(f"k must be <= n (the number of samples), got k={k} > n={n_arr.min()}")
    # log prod_{i=lo}^{hi} (1 - k/i) = S(hi) - S(lo - 1), with S the cumulative sum of log terms
    # over i > k (all terms in the product have i > k once n - c >= k).
    top = int(n_arr.max())
    i = np.arange(k + 1, top + 1, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(np.log1p(-k / i))])  # cum[j] = S(k + j)
    exact_one = (n_arr - c_arr) < k
    lo = np.maximum(n_arr - c_arr, k) - k
    hi = n_arr - k
    out = np.where(exact_one, 1.0, -np.expm1(cum[hi] - cum[lo]))
    out = np.clip(out, 0.0, 1.0) + 0.0  # + 0.0 turns -0.0 into 0.0
    return float(out[0]) if scalar else out


def pass_at_k_curve(n, c, ks=PASS_K) -> dict[int, float]:
    """Mean pass@k over problems for each ``k`` in ``ks`` (those with ``k <= min(n)``)."""
    n_arr = np.atleast_1d(n)
    return {int(k): float(np.mean(pass_at_k(n_arr, c, int(k)))) for k in ks
            if int(k) <= int(np.min(n_arr))}


class DistinctAnswers(NamedTuple):
    """Mean number of distinct answers per group; ``None`` where no group is of that kind."""

    all: float
    solved: float | None
    unsolved: float | None
    n_solved: int
    n_unsolved: int


def distinct_answers(group, outcome, correct) -> DistinctAnswers:
    """Distinct answers per group (Spec 1 §3), split by solved / unsolved groups.

    A group is *solved* when at least one of its samples is correct **(ours)**.
    """
    group = v.int_array("group", group, min_value=0)
    outcome = v.int_array("outcome", outcome)
    correct = np.asarray(correct)
    if correct.dtype != bool:
        raise ValueError(f"correct must be a boolean array, got dtype {correct.dtype}")
    v.same_length(group=group, outcome=outcome, correct=correct)
    uniq, g = np.unique(group, return_inverse=True)
    pairs = np.unique(np.stack([g, outcome]), axis=1)
    n_distinct = np.bincount(pairs[0], minlength=len(uniq)).astype(np.float64)
    solved = np.bincount(g, weights=correct.astype(np.float64), minlength=len(uniq)) > 0

    def mean(mask):
        return float(n_distinct[mask].mean()) if mask.any() else None

    return DistinctAnswers(float(n_distinct.mean()), mean(solved), mean(~solved),
                           int(solved.sum()), int((~solved).sum()))


def token_entropy(logits) -> np.ndarray:
    """Entropy (nats) of ``softmax(logits)`` along the last axis, computed stably.

    ``-inf`` logits (masked vocabulary entries) are allowed; NaN and ``+inf`` are not, and every
    row needs at least one finite logit."""
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last axis, got shape {x.shape}")
    if np.isnan(x).any() or np.isposinf(x).any():
        raise ValueError("logits must not contain NaN or +inf")
    top = x.max(axis=-1, keepdims=True)
    if np.isneginf(top).any():
        raise ValueError("every row of logits needs at least one finite entry")
    z = x - top
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    p = np.exp(logp)
    return -np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0).sum(axis=-1) + 0.0


class EntropySplit(NamedTuple):
    """Mean per-token entropy over all / correct / incorrect samples (``None`` if none)."""

    all: float | None
    correct: float | None
    incorrect: float | None


def mean_token_entropy(entropy, mask=None, correct=None) -> EntropySplit:
    """Token-weighted mean entropy of generations (Spec 1 §3, Table 1).

    ``entropy`` is ``(samples, tokens)``; ``mask`` (same shape, bool) marks real completion
    tokens; ``correct`` (per sample, bool) splits the mean into correct / incorrect.
    """
    ent = v.float_array("entropy", entropy, ndim=2, min_value=0.0)
    m = np.ones(ent.shape, bool) if mask is None else np.asarray(mask)
    if m.shape != ent.shape or m.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape {ent.shape}, got "
                         f"{m.dtype} {m.shape}")
    cor = np.zeros(len(ent), bool) if correct is None else np.asarray(correct)
    if cor.shape != (len(ent),) or cor.dtype != bool:
        raise ValueError(f"correct must be a boolean array of shape ({len(ent)},), got "
                         f"{cor.dtype} {cor.shape}")

    def mean(rows):
        w = m & rows[:, None]
        return float(ent[w].mean()) if w.any() else None

    everyone = np.ones(len(ent), bool)
    return EntropySplit(mean(everyone), mean(cor) if correct is not None else None,
                        mean(~cor) if correct is not None else None)


class PowerLawFit(NamedTuple):
    """``y ~ a x^b`` fitted by least squares on log-log axes; ``[b_low, b_high]`` is the
    bootstrap percentile interval of ``b`` at level ``level``."""

    a: float
    b: float
    b_low: float
    b_high: float
    level: float
    n_boot: int


def _loglog_slope(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    b, la = np.polyfit(lx, ly, 1)
    return float(b), float(np.exp(la))


def power_law_fit(x, y, *, n_boot: int = 2000, level: float = 0.95,
                  seed: int | np.random.Generator = 0) -> PowerLawFit:
    """Fit ``y = a x^b`` on log-log data with a bootstrap interval for the exponent ``b``.

    ``y`` is either 1-D (one value per ``x``; the bootstrap resamples (x, y) points) or 2-D of
    shape ``(len(x), reps)`` (e.g. one column per seed; the bootstrap resamples columns and fits
    the column means, so the interval reflects seed-to-seed noise).
    """
    x = v.float_array("x", x, min_value=0.0)
    if (x <= 0).any():
        raise ValueError(f"x must be > 0 for a log-log fit, got {x.min()}")
    y = v.float_array("y", y, ndim=None)
    n_boot = v.int_scalar("n_boot", n_boot, min_value=10)
    level = v.finite_scalar("level", level, min_value=0.0, strict_min=True, max_value=0.999999)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if y.ndim not in (1, 2) or y.shape[0] != len(x):
        raise ValueError(f"y must have shape ({len(x)},) or ({len(x)}, reps), got {y.shape}")
    if len(np.unique(x)) < 2:
        raise ValueError(f"x must hold at least 2 distinct values, got {np.unique(x)}")
    lx = np.log(x)
    if y.ndim == 1:
        if (y <= 0).any():
            raise ValueError(f"y must be > 0 for a log-log fit, got {y.min()}")
        if len(x) < 3:
            raise ValueError(f"a bootstrap over points needs at least 3 points, got {len(x)}")
        ly = np.log(y)
        b, a = _loglog_slope(lx, ly)
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(x), len(x))
            if len(np.unique(lx[idx])) >= 2:
                boots.append(_loglog_slope(lx[idx], ly[idx])[0])
    else:
        reps = y.shape[1]
        if reps < 2:
            raise ValueError(f"y needs at least 2 columns (repetitions), got {reps}")
        ym = y.mean(axis=1)
        if (ym <= 0).any():
            raise ValueError(f"mean of y must be > 0 for a log-log fit, got {ym.min()}")
        b, a = _loglog_slope(lx, np.log(ym))
        boots = []
        for _ in range(n_boot):
            cols = rng.integers(0, reps, reps)
            yb = y[:, cols].mean(axis=1)
            if (yb > 0).all():
                boots.append(_loglog_slope(lx, np.log(yb))[0])
    if len(boots) < n_boot // 2:
        raise ValueError("too few valid bootstrap resamples; give more points or repetitions")
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [q, 1.0 - q])
    return PowerLawFit(a, b, float(lo), float(hi), level, len(boots))
