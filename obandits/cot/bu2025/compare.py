"""The preset against runs of the authors' script (issue 25): paired by seed, per row and per
chain, with a table-level verdict whose false-alarm rate is controlled.

Why paired: their script's ``--seed`` picks the chain (one of four with the paper's shape) as
well as the random stream, and chain-to-chain differences are common to both sides. For a
row ``r`` (strategy, task, metric) and a seed ``s`` run on both sides,

    d_s(r) = mean over our reps of preset_s(r)  -  mean over their runs of authors_s(r),

so the chain cancels in ``d_s`` and what is left is the two sides' sampling noise. A *cell*
is a row within a group of seeds: each chain's seeds, and all seeds. Its 95% interval is the
Student-t interval of the mean of ``d_s`` over the group's seeds; the cell is *outside* when
that interval misses 0 by more than the authors' print precision (:data:`PRINT_TOL`). With a
single seed in a group and ``R >= 2`` reps of ours, the interval is a prediction interval
instead: ``d ± t_{R-1} s_ours sqrt(1 + 1/R)`` (their one run against the spread of ours).

The table-level verdict: even a faithful reproduction has about 5% of its cells outside, and
the cells are correlated (easy + hard + invalid = 1, one model behind many rows). Under the
hypothesis that the two sides have the same distribution on every chain, each seed's vector
``d_s(.)`` is symmetric about 0, so flipping the sign of whole seeds (all rows at once) gives
the count's distribution under that hypothesis with the correlation kept (a sign-flip
randomization test; :data:`N_FLIPS` flips from a fixed seed, so ``obandits check`` prints the
same verdict every time). The comparison **agrees** when the observed count of outside cells
is not in its top 2.5%, *and* the smallest p-value of a row over all seeds is not in the bottom
2.5% of the flips' smallest (a row's p-value: the smaller of its t-test's and its sign
test's; a family-wise test that catches a few large deviations the count would dilute; 2.5% +
2.5% keeps the false-alarm rate at :data:`ALPHA` = 5%; a chain's own cells do not enter it,
since with six seeds a chain has only 64 sign patterns); it **disagrees** otherwise, and
is **n/a** when no seed is on both sides. With fewer than :data:`MIN_FLIP_SEEDS` common seeds
(e.g. one run of theirs at seed 42 against ``R`` runs of ours) the flips are too few, and a
binomial bound on the count (cells taken as independent: a rough guide) and Bonferroni on the
largest deviation replace them. ``bench/bench_bu2025.py --power`` and
``tests/test_bu2025_compare.py`` show its power against plainly wrong versions
(:data:`obandits.cot.bu2025.cells.MUTANTS` and the cleaner definitions).
"""

from __future__ import annotations

import numpy as np

from .cells import PRESET

LEVEL = 0.95
ALPHA = 0.05
N_FLIPS = 1999
FLIP_SEED = 25  # the randomization's own generator (no global RNG)
# Their tables print percentages with two decimals: values closer than this are equal.
PRINT_TOL = 1e-4
ROUND_SD = PRINT_TOL / np.sqrt(12)  # sd of a rounding error uniform over one print step
ALL = "all chains"
#: Fewer common seeds than this: 2^S sign patterns are too few for p <= ALPHA / 2, and the
#: verdict uses a binomial bound on the count and Bonferroni on the largest deviation.
MIN_FLIP_SEEDS = 7


def _t(df) -> np.ndarray | float:
    from scipy.stats import t

    return t.ppf(0.5 + LEVEL / 2, df)


def mean_ci(xs) -> tuple[float, float, float, int]:
    """Mean, 95% Student-t interval (lo, hi) over independent units, and their number."""
    xs = np.asarray(xs, float)
    xs = xs[np.isfinite(xs)]
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(xs.mean())
    if n == 1:
        return m, float("nan"), float("nan"), 1
    h = float(_t(n - 1)) * float(xs.std(ddof=1)) / np.sqrt(n)
    return m, m - h, m + h, n


def _need(table: dict, cols, what: str) -> None:
    for c in cols:
        if c not in table:
            raise ValueError(f"{what} has no column {c!r}; is it a bu2025 table?")


def cells_by_row(table: dict, variant: str | None = None) -> dict:
    """``{(strategy, task, metric): {(seed, rep): value}}`` of one variant (all rows when the
    table has no ``variant`` column, e.g. the authors'; their runs count as reps of a seed)."""
    _need(table, ("seed", "strategy", "task", "metric", "value"), "table")
    n = len(table["value"])
    sel = np.ones(n, bool) if variant is None or "variant" not in table else \
        table["variant"] == variant
    reps = table["rep"] if "rep" in table else np.zeros(n, np.int64)
    out: dict = {}
    for i in np.flatnonzero(sel):
        key = (str(table["strategy"][i]), str(table["task"][i]), str(table["metric"][i]))
        out.setdefault(key, {})[(int(table["seed"][i]), int(reps[i]))] = \
            float(table["value"][i])
    return out


def seeds_of(rows: dict) -> list[int]:
    return sorted({u[0] for x in rows.values() for u in x})


def _by_seed(d: dict) -> dict[int, list[float]]:
    out: dict = {}
    for (s, _), x in d.items():
        out.setdefault(s, []).append(x)
    return out


def compare(ours: dict, theirs: dict, chains: dict[int, str], *, n_flips: int = N_FLIPS
            ) -> dict:
    """The paired comparison (module doc) of ``ours`` and ``theirs`` (both as
    :func:`cells_by_row`) on the seeds they share; ``chains`` maps each seed to its chain's
    label. Returns ``{"verdict": "agrees" | "disagrees" | "n/a", "reason", "seeds",
    "groups": [(label, seeds)], "cells": [{row, group, n, diff, lo, hi, p, outside}],
    "outside", "tested", "null95", "p_count", "p_max", "p", "worst"}``."""
    common = sorted(set(seeds_of(ours)) & set(seeds_of(theirs)))
    keys = [k for k in theirs if k in ours]
    res = {"seeds": common, "groups": [], "cells": [], "outside": 0, "tested": 0,
           "null95": float("nan"), "p": float("nan"), "p_count": float("nan"),
           "p_max": float("nan"), "worst": None, "ours_seeds": seeds_of(ours),
           "their_seeds": seeds_of(theirs)}
    if not common or not keys:
        res["verdict"] = "n/a"
        res["reason"] = (f"no authors' run with these seeds (preset seeds "
                         f"{_fmt(res['ours_seeds'])}; authors' seeds "
                         f"{_fmt(res['their_seeds'])})")
        return res
    S, R = len(common), len(keys)
    d = np.full((S, R), np.nan)
    spread = np.full((S, R), np.nan)  # our reps' sd at a seed (prediction intervals)
    nrep = np.zeros((S, R), int)
    for j, k in enumerate(keys):
        a, b = _by_seed(ours[k]), _by_seed(theirs[k])
        for i, s in enumerate(common):
            if s in a and s in b:
                d[i, j] = np.mean(a[s]) - np.mean(b[s])
                nrep[i, j] = len(a[s])
                if len(a[s]) > 1:
                    spread[i, j] = np.std(a[s], ddof=1)
    labels = sorted({chains[s] for s in common})
    groups = [(c, [i for i, s in enumerate(common) if chains[s] == c]) for c in labels]
    if len(labels) > 1 or len(common) > 1:
        groups.append((ALL, list(range(S))))
    if len(labels) == 1 and len(common) > 1:
        groups = groups[:1]  # one chain: its group is all seeds
    res["groups"] = [(g, [common[i] for i in idx]) for g, idx in groups]
    flips = np.ones((1, S))
    if n_flips:
        rng = np.random.default_rng(FLIP_SEED)
        flips = np.vstack([flips, rng.choice([-1.0, 1.0], size=(n_flips, S))])
    counts = np.zeros(len(flips), int)
    minp = np.ones(len(flips))
    tested = 0
    worst = None
    for g, idx in groups:
        # a chain's own cells enter the count only: their flips are needed for it, not p
        c = _cells(d[idx], spread[idx], nrep[idx], flips[:, idx], p_all=g == groups[-1][0])
        counts += c["out"].sum(axis=1)
        if g == groups[-1][0]:  # all seeds (or the one chain): 2^S flips, no ties to speak of
            minp = c["p"].min(axis=1, initial=1.0)
        tested += int(c["testable"].sum())
        for j, k in enumerate(keys):
            cell = {"row": k, "group": g, "n": int(c["n"][j]), "diff": float(c["m"][0, j]),
                    "lo": float(c["lo"][j]), "hi": float(c["hi"][j]),
                    "p": float(c["p"][0, j]),
                    "outside": bool(c["out"][0, j]) if c["testable"][j] else None}
            res["cells"].append(cell)
            if g == groups[-1][0] and c["testable"][j] and (worst is None
                                                            or cell["p"] < worst["p"]):
                worst = cell
    res["outside"], res["tested"], res["worst"] = int(counts[0]), tested, worst
    if not tested:
        res["verdict"] = "n/a"
        res["reason"] = (f"seed {_fmt(common)} in common and one run of ours per seed: no "
                         f"interval (run two or more reps per seed, --reps 2)")
    elif S < MIN_FLIP_SEEDS:
        # 2^S sign patterns cannot reach p <= 0.025: bounds that need no flips instead
        from scipy.stats import binom

        res["null95"] = float(binom.ppf(1 - ALPHA / 2, tested, 1 - LEVEL))
        res["p_count"] = float(binom.sf(res["outside"] - 1, tested, 1 - LEVEL))
        res["p_max"] = float(min(1.0, worst["p"] * tested))
        _verdict(res, worst, f"binomial bound for {tested} independent cells (the cells are "
                              f"correlated: a rough guide with {S} seed(s))", "Bonferroni")
    elif n_flips:
        res["null95"] = float(np.quantile(counts[1:], 1 - ALPHA / 2))
        res["p_count"] = float((1 + np.sum(counts[1:] >= counts[0])) / (1 + n_flips))
        res["p_max"] = float((1 + np.sum(minp[1:] <= minp[0])) / (1 + n_flips))
        _verdict(res, worst, "chance alone, sign flips of whole seeds", "family-wise")
    else:
        res["verdict"], res["reason"] = "n/a", "no randomization (n_flips = 0)"
    return res


def _verdict(res: dict, worst: dict, null: str, fwer: str) -> None:
    res["p"] = min(res["p_count"], res["p_max"])
    res["verdict"] = "agrees" if res["p"] > ALPHA / 2 else "disagrees"
    res["reason"] = (f"{res['outside']} of {res['tested']} cells outside their 95% intervals, "
                     f"p = {res['p_count']:.3f} ({null}: up to {res['null95']:.0f} in "
                     f"{100 * (1 - ALPHA / 2):.1f}%); the largest deviation, "
                     f"{' '.join(worst['row'])} on {worst['group']} "
                     f"({100 * worst['diff']:+.2f} points), p = {res['p_max']:.3f} {fwer}; "
                     f"agrees when both p > {ALPHA / 2}")


def _cells(d, spread, nrep, flips, p_all: bool = True) -> dict:
    """Per flip (rows of ``flips``) and row (columns of ``d``, seeds down): the mean paired
    difference ``m``, whether its interval misses 0 (``out``) and its two-sided p-value (``p``,
    1 where there is no interval; for the unflipped data only unless ``p_all``); unflipped:
    the interval (``lo``, ``hi``), the seed count ``n`` and which rows have an interval at
    all (``testable``)."""
    from scipy.special import stdtr

    ok = np.isfinite(d)
    n = ok.sum(axis=0)
    z = np.where(ok, d, 0.0)
    m = flips @ z / np.maximum(n, 1)
    ss = (z ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.maximum((ss - n * m ** 2) / (n - 1), 0.0) / n)
        # one seed: a prediction interval from our reps' spread, when we have reps
        r = np.where(ok, nrep, 0).sum(axis=0)
        sd1 = np.nansum(np.where(ok, spread, np.nan), axis=0)
        se1 = sd1 * np.sqrt(1.0 + 1.0 / np.maximum(r, 1))
        df = np.where(n >= 2, n - 1, np.maximum(r - 1, 1))
        se = np.where(n >= 2, se, np.where((n == 1) & (r >= 2), se1, np.nan))
        h = _t(df) * se
        excess = np.maximum(np.abs(m) - PRINT_TOL, 0.0)
        # their printed values are rounded: a standard error never below that rounding's
        tstat = np.where(excess > 0, excess / np.maximum(se, ROUND_SD / np.sqrt(n)), 0.0)
    testable = np.isfinite(se[0]) if se.ndim == 2 else np.isfinite(se)
    k = len(flips) if p_all else 1
    se_k = np.broadcast_to(se, m.shape)[:k]
    p = np.where(np.isfinite(se_k), 2 * stdtr(df, -tstat[:k]), 1.0)  # Student-t two-sided
    p = np.minimum(p, _sign_p(z, flips[:k]))
    out = np.where(np.isfinite(se), np.abs(m) - h > PRINT_TOL, False)
    lo, hi = m[0] - h[0], m[0] + h[0]
    return {"m": m, "out": out, "p": p, "lo": lo, "hi": hi, "n": n, "testable": testable}


def _sign_p(z, flips) -> np.ndarray:
    """Per flip and row, the two-sided sign test's p-value of the paired differences ``z``
    (seeds down; those within the print precision of 0 left out): sensitive where the t-test
    is not, e.g. a row their runs print as exactly 100.00% at every seed."""
    from scipy.special import bdtr

    sgn = np.sign(z) * (np.abs(z) > PRINT_TOL)
    nz = (sgn != 0).sum(axis=0)
    k = np.rint((nz + flips @ sgn) / 2)  # positive signs after the flip
    tail = bdtr(np.minimum(k, nz - k), np.maximum(nz, 1), 0.5)  # binomial cdf
    return np.where(nz > 0, np.minimum(1.0, 2 * tail), 1.0)


def _fmt(seeds) -> str:
    s = list(seeds)
    if not s:
        return "none"
    if s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


def matched(table: dict, authors: dict, variant: str = PRESET) -> tuple[dict, dict]:
    """``variant``'s rows and the authors' rows (as :func:`cells_by_row`), the authors' cut
    to the seeds ``variant`` ran (the seed picks the chain: only common seeds compare)."""
    ours, theirs = cells_by_row(table, variant), cells_by_row(authors)
    mine = set(seeds_of(ours))
    theirs = {k: {u: x for u, x in d.items() if u[0] in mine} for k, d in theirs.items()}
    return ours, {k: d for k, d in theirs.items() if d}
