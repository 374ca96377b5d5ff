"""The theorem checks of issue 3 (Spec 1 §5): a bandit sweep's results table in, claims out
(pure: no files read or written; figures are in :mod:`obandits.bandit.figures`).

**Minimax proxy**: gap-dependent regret grows like ``log T``; the ``sqrt(T)`` rates are
worst-case rates. For each group (every cell parameter except ``gap``) and checkpoint ``t``, the
proxy is the largest mean pseudo-regret over the gap grid. Its 95% interval is a bootstrap over
repetitions that re-takes the maximum over gaps in every resample.

**Fitted slopes** use :func:`obandits.metrics.power_law_fit` on the per-repetition regrets of
the maximising gap at each point (the point estimate is the log-log slope of the proxy; the
interval reflects seed-to-seed noise at those gaps, not the choice of the gap).

The four claims read their selections and thresholds from the config's ``[check.*]`` tables:
``t_slope`` (outcome-level proxy vs T, slope in [low, high]), ``k_flat`` (LLM-like family:
outcome-level ratio K_large/K_small <= max_outcome_ratio, arm-level > min_arm_ratio),
``needle`` (one table or a list of them: every listed learner, slope in K >= min_slope over K
with K log T <= frac * T, optionally at a given T and ``reward``; default Bernoulli),
``m_slope`` (one table or a list: the learner's slope in m in [low, high], over
m_min <= m <= m_max; ``K = "m"`` selects the cells with one arm per outcome, the arm-level
control).

Any check table may say ``role = "diagnostic"`` with a ``why``: its rows are still measured and
written, but listed apart from the claims and not counted in the verdict. They are the regimes
the theorem does not speak to, kept in the table so a reader sees them (e.g. the needle's
minimax proxy while ``K <~ sqrt(T log T)``, or the slope in m before UCB's constant settles).
"""

from __future__ import annotations

import numpy as np

from ..metrics import power_law_fit
from ..tables import claims_markdown
from .params import DEFAULTS, REQUIRED

GROUP = tuple(k for k in (*REQUIRED, *DEFAULTS) if k != "gap")
N_BOOT = 1000


def _native(x):
    return x.item() if isinstance(x, np.generic) else x


def minimax_table(table: dict, *, n_boot: int = N_BOOT, seed: int = 0) -> list[dict]:
    """One dict per (group, t): ``regret`` (max over gaps of the mean), ``gap`` (the argmax),
    ``se``, ``ci_low``/``ci_high`` (bootstrap with re-maximisation), ``n_gaps``, ``reps``, and
    ``_reps`` (per-repetition regrets at the argmax gap, for fits)."""
    cols = [table[k] for k in GROUP]
    gap, t, rep, reg = table["gap"], table["t"], table["rep"], table["regret"]
    buckets: dict = {}
    for i in range(len(reg)):
        key = tuple(_native(c[i]) for c in cols) + (int(t[i]),)
        buckets.setdefault(key, {}).setdefault(float(gap[i]), {})[int(rep[i])] = float(reg[i])
    rng = np.random.default_rng(seed)
    out = []
    for key in sorted(buckets, key=lambda k: tuple(str(x) for x in k[:-1]) + (k[-1],)):
        by_gap = buckets[key]
        gaps = sorted(by_gap)
        n_reps = min(len(by_gap[g]) for g in gaps)
        mat = np.array([[by_gap[g][r] for r in sorted(by_gap[g])[:n_reps]] for g in gaps])
        means = mat.mean(axis=1)
        j = int(np.argmax(means))
        row = dict(zip(GROUP, key[:-1]))
        row.update(t=key[-1], regret=float(means[j]), gap=gaps[j], n_gaps=len(gaps),
                   reps=n_reps,
                   se=float(mat[j].std(ddof=1) / np.sqrt(n_reps)) if n_reps > 1 else 0.0)
        if n_reps > 1:
            idx = rng.integers(0, n_reps, (n_boot, n_reps))
            boot = mat[:, idx].mean(axis=2).max(axis=0)
            row["ci_low"], row["ci_high"] = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
        else:
            row["ci_low"] = row["ci_high"] = float(means[j])
        row["_reps"] = mat[j]
        row["_mat"] = mat
        out.append(row)
    return out


def _tables(spec: dict, name: str) -> list[dict]:
    """The ``[check.name]`` table, or the list of ``[[check.name]]`` tables, as a list."""
    one = spec.get(name, [])
    return one if isinstance(one, list) else [one]


def _select(mm: list[dict], **filters) -> list[dict]:
    return [r for r in mm if all(r[k] == v for k, v in filters.items())]


def _largest_T(rows: list[dict]) -> list[dict]:
    if not rows:
        return rows
    T = max(r["T"] for r in rows)
    return [r for r in rows if r["T"] == T]


def _try_fit(xs, rows):
    """A fit for a figure legend, or None when the points cannot be fitted (zeros...)."""
    try:
        return _fit(xs, rows)
    except ValueError:
        return None


def _fit(xs, rows, seed=0):
    n = min(len(r["_reps"]) for r in rows)
    y = np.array([r["_reps"][:n] for r in rows])
    return power_law_fit(np.asarray(xs, float), y, n_boot=N_BOOT, seed=seed)


def _filters(spec: dict, names) -> dict:
    return {k: spec[k] for k in names if k in spec}


def check_t_slope(mm, spec) -> dict:
    rows = _largest_T(_select(mm, **_filters(spec, ("family", "learner", "K", "m"))))
    rows = [r for r in rows if r["t"] >= spec.get("t_min", 1)]
    lo, hi = spec.get("low", 0.4), spec.get("high", 0.65)
    claim = f"outcome-level minimax-proxy regret vs T: log-log slope in [{lo}, {hi}]"
    if len(rows) < 2:
        return _missing(claim, spec)
    rows.sort(key=lambda r: r["t"])
    f = _fit([r["t"] for r in rows], rows)
    return _result(claim, spec, f"slope {f.b:.3f}", f.b, (f.b_low, f.b_high), lo <= f.b <= hi,
                   f"t in [{rows[0]['t']}, {rows[-1]['t']}], {rows[0]['family']}, "
                   f"K={rows[0]['K']}, m={rows[0]['m']}, {rows[0]['learner']}")


def _ratio(mm, spec, learner, rng) -> tuple[float, tuple[float, float], str]:
    base = _filters(spec, ("family", "m"))
    small = _largest_T(_select(mm, **base, learner=learner, K=spec["K_small"]))
    large = _largest_T(_select(mm, **base, learner=learner, K=spec["K_large"]))
    small = [r for r in small if r["t"] == r["T"]]
    large = [r for r in large if r["t"] == r["T"]]
    if not small or not large:
        return float("nan"), (float("nan"), float("nan")), "missing"
    a, b = small[0], large[0]
    ratio = b["regret"] / a["regret"]
    boots = []
    for _ in range(N_BOOT):
        ia = rng.integers(0, a["reps"], a["reps"])
        ib = rng.integers(0, b["reps"], b["reps"])
        boots.append(b["_mat"][:, ib].mean(axis=1).max() / a["_mat"][:, ia].mean(axis=1).max())
    ci = tuple(float(x) for x in np.quantile(boots, [0.025, 0.975]))
    return ratio, ci, f"T={a['T']}: {a['regret']:.1f} -> {b['regret']:.1f}"


def check_k_flat(mm, spec) -> list[dict]:
    rng = np.random.default_rng(1)
    out = []
    ks, kl = spec.get("K_small", 16), spec.get("K_large", 4096)
    mx = spec.get("max_outcome_ratio", 1.5)
    for learner in [spec.get("outcome_learner", "outcome-ucb")]:
        claim = f"{spec.get('family')}: {learner} regret K={kl} within {mx}x of K={ks}"
        r, ci, note = _ratio(mm, spec, learner, rng)
        out.append(_missing(claim, spec) if note == "missing" else
                   _result(claim, spec, f"ratio {r:.2f}", r, ci, r <= mx, note))
    mn = spec.get("min_arm_ratio", 4.0)
    for learner in spec.get("arm_learners", ["ucb1"]):
        claim = f"{spec.get('family')}: {learner} regret grows > {mn}x from K={ks} to K={kl}"
        r, ci, note = _ratio(mm, spec, learner, rng)
        out.append(_missing(claim, spec) if note == "missing" else
                   _result(claim, spec, f"ratio {r:.2f}", r, ci, r > mn, note))
    return out


def _needle_rows(mm, spec, learner) -> list[dict]:
    """Rows of one needle check at the horizon, sorted by K, all K (the fit uses those with
    K log T <= frac T: :func:`_needle_fit_rows`)."""
    rows = _select(mm, learner=learner, reward=spec.get("reward", "bernoulli"),
                   **_filters(spec, ("family", "m", "T")))
    return sorted([r for r in _largest_T(rows) if r["t"] == r["T"]], key=lambda r: r["K"])


def _needle_fit_rows(rows, spec) -> list[dict]:
    frac = spec.get("max_KlogT_over_T", 0.1)
    return [r for r in rows if r["K"] * np.log(r["T"]) <= frac * r["T"]]


def check_needle(mm, spec) -> list[dict]:
    out = []
    mn, frac = spec.get("min_slope", 0.4), spec.get("max_KlogT_over_T", 0.1)
    reward = spec.get("reward", "bernoulli")
    what = ("verifiable reward (gap 1)" if reward == "deterministic"
            else "minimax proxy over gaps")
    for learner in spec.get("learners", ["ucb1", "outcome-ucb"]):
        claim = f"needle, {what}: {learner} slope in K >= {mn} (K log T <= {frac} T)"
        rows = _needle_fit_rows(_needle_rows(mm, spec, learner), spec)
        if len({r["K"] for r in rows}) < 2:
            out.append(_missing(claim, spec))
            continue
        f = _fit([r["K"] for r in rows], rows)
        out.append(_result(claim, spec, f"slope {f.b:.3f}", f.b, (f.b_low, f.b_high),
                           f.b >= mn, f"K in [{rows[0]['K']}, {rows[-1]['K']}], "
                           f"T={rows[0]['T']}, m={rows[0]['m']}"))
    return out


def _m_rows(mm, spec, *, in_range=True) -> list[dict]:
    """Rows of one m-slope selection at the horizon, sorted by m (``K = "m"``: K equal to m)."""
    rows = _select(mm, **_filters(spec, ("family", "learner")))
    if spec.get("K") == "m":
        rows = [r for r in rows if r["K"] == r["m"]]
    elif "K" in spec:
        rows = [r for r in rows if r["K"] == spec["K"]]
    rows = [r for r in _largest_T(rows) if r["t"] == r["T"]]
    if in_range:
        rows = [r for r in rows if spec.get("m_min", 1) <= r["m"] <= spec.get("m_max", np.inf)]
    return sorted(rows, key=lambda r: r["m"])


def _arms_label(K) -> str:
    """``K=m`` for the one-arm-per-outcome control, else ``K=<value>``."""
    return "K=m" if K == "m" else f"K={K}"


def check_m_slope(mm, spec) -> dict:
    lo, hi = spec.get("low", 0.35), spec.get("high", 0.65)
    learner = spec.get("learner", "outcome-ucb")
    arms = _arms_label(spec.get("K"))
    claim = f"{learner} ({arms}) regret vs m: slope in [{lo}, {hi}] (theory 1/2)"
    rows = _m_rows(mm, spec)
    if len({r["m"] for r in rows}) < 2:
        return _missing(claim, spec)
    f = _fit([r["m"] for r in rows], rows)
    return _result(claim, spec, f"slope {f.b:.3f}", f.b, (f.b_low, f.b_high), lo <= f.b <= hi,
                   f"m in [{rows[0]['m']}, {rows[-1]['m']}], T={rows[0]['T']}, "
                   f"{arms}, {rows[0]['family']}")


ROLES = ("claim", "diagnostic")


def _role(spec) -> tuple[str, str]:
    role = spec.get("role", "claim")
    if role not in ROLES:
        raise ValueError(f"check role must be one of {ROLES}, got {role!r} in {spec}")
    why = spec.get("why", "")
    if role == "diagnostic" and not why:
        raise ValueError(f"a diagnostic check needs a 'why' (what it shows), got {spec}")
    return role, why


def _result(claim, spec, text, value, ci, holds, where) -> dict:
    role, why = _role(spec)
    return {"claim": claim, "text": text, "value": float(value),
            "ci": (float(ci[0]), float(ci[1])), "holds": bool(holds), "where": where,
            "role": role, "why": why}


def _missing(claim, spec) -> dict:
    return _result(claim, spec, "no data", np.nan, (np.nan, np.nan), False,
                   f"selection {spec} not in the sweep")


COLUMNS = ("gap", "t", "rep", "regret", *GROUP)


def _need_columns(table: dict) -> None:
    missing = [k for k in COLUMNS if k not in table]
    if missing:
        raise ValueError(f"not a bandit results table: columns {missing} are missing")
    if not len(table["regret"]):
        raise ValueError("the bandit results table has no rows")


def claims(table: dict, raw: dict, mm: list[dict] | None = None) -> list[dict]:
    """The claims of the config's ``[check.*]`` tables on a results table (``mm``: its
    :func:`minimax_table`, if already computed)."""
    _need_columns(table)
    mm = minimax_table(table) if mm is None else mm
    spec = raw.get("check", {})
    checks = []
    if "t_slope" in spec:
        checks.append(check_t_slope(mm, spec["t_slope"]))
    if "k_flat" in spec:
        checks += check_k_flat(mm, spec["k_flat"])
    for one in _tables(spec, "needle"):
        checks += check_needle(mm, one)
    for one in _tables(spec, "m_slope"):
        checks.append(check_m_slope(mm, one))
    return checks


def minimax_rows(mm: list[dict]) -> list[dict]:
    """The minimax table without its private arrays (for ``minimax.csv``)."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in mm]


checks_markdown = claims_markdown
