"""The theorem checks of issue 3 (Spec 1 §5) on a finished bandit sweep.

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

import json
from pathlib import Path

import numpy as np

from ..metrics import power_law_fit
from ..sweep import MANIFEST, RESULTS, _atomic_write, read_table
from ..tables import markdown_table
from . import theory
from .runner import DEFAULTS, REQUIRED

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
    return {"claim": claim, "measured": text, "value": float(value), "ci_low": float(ci[0]),
            "ci_high": float(ci[1]), "holds": bool(holds), "where": where, "role": role,
            "why": why}


def _missing(claim, spec) -> dict:
    return _result(claim, spec, "no data", np.nan, (np.nan, np.nan), False,
                   f"selection {spec} not in the sweep")


def run_checks(results_dir) -> tuple[list[dict], list[dict]]:
    """Minimax table and claims of a finished sweep; writes ``minimax.csv``, ``checks.csv`` and
    ``checks.md`` into ``results_dir``."""
    results_dir = Path(results_dir)
    man = _manifest(results_dir)
    table = read_table(results_dir / RESULTS)
    mm = minimax_table(table)
    spec = man["config"].get("check", {})
    checks = []
    if "t_slope" in spec:
        checks.append(check_t_slope(mm, spec["t_slope"]))
    if "k_flat" in spec:
        checks += check_k_flat(mm, spec["k_flat"])
    for one in _tables(spec, "needle"):
        checks += check_needle(mm, one)
    for one in _tables(spec, "m_slope"):
        checks.append(check_m_slope(mm, one))
    _write_csv(results_dir / "minimax.csv",
               [{k: v for k, v in r.items() if not k.startswith("_")} for r in mm])
    _write_csv(results_dir / "checks.csv", checks)
    _atomic_write(results_dir / "checks.md", checks_markdown(checks) + "\n")
    return mm, checks


def checks_markdown(checks: list[dict]) -> str:
    """The claims, a verdict line, then the diagnostics (measured, not counted)."""
    def cells(c):
        return [c["claim"], c["measured"], f"[{c['ci_low']:.2f}, {c['ci_high']:.2f}]",
                "yes" if c["holds"] else "NO", c["where"]]
    claims = [c for c in checks if c.get("role", "claim") == "claim"]
    diags = [c for c in checks if c.get("role", "claim") == "diagnostic"]
    n_ok = sum(c["holds"] for c in claims)
    text = (markdown_table(["claim", "measured", "95% CI", "holds", "where"],
                           [cells(c) for c in claims])
            + f"\n\n**{n_ok} of {len(claims)} claims hold.**")
    if diags:
        text += ("\n\nDiagnostics and controls (measured against the same threshold, not "
                 "claims of the theorems; the last column says what each shows):\n\n"
                 + markdown_table(["diagnostic", "measured", "95% CI", "meets threshold",
                                   "where", "why"],
                                  [cells(c) + [c["why"]] for c in diags]))
    return text


def _write_csv(path: Path, rows: list[dict]) -> None:
    from ..sweep import _csv_text, _fmt

    if not rows:
        _atomic_write(path, "")
        return
    header = list(rows[0])
    _atomic_write(path, _csv_text(header, [[_fmt(r.get(h, "")) for h in header]
                                           for r in rows]))


def _manifest(results_dir: Path) -> dict:
    p = results_dir / MANIFEST
    if not p.is_file():
        raise ValueError(f"{results_dir} has no {MANIFEST}; give a sweep's output directory")
    man = json.loads(p.read_text())
    if man.get("status") != "complete":
        raise ValueError(f"sweep in {results_dir} is not complete; rerun it to finish")
    return man


# ---------------------------------------------------------------- figures

def make_figures(results_dir: Path) -> list[Path]:
    """``figures/bandit_theorems.png`` in ``results_dir``: (a) minimax proxy vs T, (b) vs K on
    the LLM-like family, (c) vs K on the needle family, (d) vs m; bands are the bootstrap
    intervals, dashed lines the theory shapes through the last point."""
    from .. import plotting

    mm, _ = run_checks(results_dir)
    spec = _manifest(results_dir)["config"].get("check", {})
    fig, axes = plotting.subplots(2, 2)
    lbl = {r: r for r in ("ucb1", "kl-ucb", "thompson", "uniform", "outcome-ucb")}

    ax = axes[0][0]
    s = spec.get("t_slope", {})
    sel = _filters(s, ("family", "K", "m"))
    for learner in sorted({r["learner"] for r in _select(mm, **sel)}):
        rows = sorted(_largest_T(_select(mm, learner=learner, **sel)), key=lambda r: r["t"])
        rows = [r for r in rows if r["t"] >= 16]
        if len(rows) < 2:
            continue
        tail = [r for r in rows if r["t"] >= s.get("t_min", 1)]
        fit = _try_fit([r["t"] for r in tail], tail)
        _band(ax, [r["t"] for r in rows], rows, lbl[learner], fit)
        if learner == s.get("learner"):
            T = np.array([r["t"] for r in rows], float)
            cur = theory.minimax_outcome(rows[0]["m"], T)
            plotting.theory_line(ax, T, theory.scale_to(cur, cur[-1], rows[-1]["regret"]),
                                 "sqrt(m T log T)")
    ax.set(xlabel="T", ylabel="minimax-proxy regret",
           title=f"(a) regret vs T ({s.get('family', '')}, K={s.get('K')}, m={s.get('m')})")

    s = spec.get("k_flat", {})
    ax = axes[0][1]
    sel = _filters(s, ("family", "m"))
    for learner, T in sorted({(r["learner"], r["T"]) for r in _select(mm, **sel)}):
        rows = sorted([r for r in _select(mm, learner=learner, T=T, **sel)
                       if r["t"] == r["T"]], key=lambda r: r["K"])
        if len(rows) < 2:
            continue
        _band(ax, [r["K"] for r in rows], rows, lbl[learner], _try_fit([r["K"] for r in rows],
                                                                        rows))
        if learner == "ucb1":
            K = np.array([r["K"] for r in rows], float)
            cur = theory.minimax_arm(K, T)
            plotting.theory_line(ax, K, theory.scale_to(cur, cur[0], rows[0]["regret"]),
                                 "sqrt(K T log T)")
    ax.set(xlabel="K (arms)", ylabel="minimax-proxy regret at T",
           title=f"(b) LLM-like family, m={s.get('m')}")

    # (c) the lower bound: the first needle check (all its learners), then the outcome-level
    # learner of the others (minimax proxy at longer horizons); fits over K log T <= frac T.
    ax = axes[1][0]
    for i, s in enumerate(_tables(spec, "needle")):
        tag = "verifiable" if s.get("reward") == "deterministic" else "proxy"
        for learner in s.get("learners", []) if i == 0 else ["outcome-ucb"]:
            rows = _needle_rows(mm, s, learner)
            if learner not in s.get("learners", []) or len(rows) < 2:
                continue
            fit_rows = _needle_fit_rows(rows, s)
            fit = _try_fit([r["K"] for r in fit_rows], fit_rows) if len(fit_rows) > 1 else None
            _band(ax, [r["K"] for r in rows], rows, f"{lbl[learner]} {tag} T={rows[0]['T']}",
                  fit)
            if i == 0 and learner == "outcome-ucb":
                K = np.array([r["K"] for r in rows], float)
                cur = theory.needle(K, rows[0]["T"])
                plotting.theory_line(ax, K, theory.scale_to(cur, cur[-1], rows[-1]["regret"]),
                                     "min(T, K)")
    ax.set(xlabel="K (arms)", ylabel="regret at T", title="(c) needle family, m=2")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right")  # seven series: keep the lines visible

    ax = axes[1][1]
    series: dict = {}
    for s in _tables(spec, "m_slope"):
        series[(s.get("learner"), s.get("K"))] = s  # the last range of a series gives its fit
    for (learner, K), s in series.items():
        rows = _m_rows(mm, s, in_range=False)
        if len(rows) < 2:
            continue
        tail = _m_rows(mm, s)
        arms = _arms_label(K)
        _band(ax, [r["m"] for r in rows], rows,
              f"{lbl[learner]} {arms} (fit m in [{tail[0]['m']}, {tail[-1]['m']}])",
              _try_fit([r["m"] for r in tail], tail) if len(tail) > 1 else None)
        if learner == "outcome-ucb":
            m = np.array([r["m"] for r in rows], float)
            cur = theory.minimax_outcome(m, rows[0]["T"])
            plotting.theory_line(ax, m, theory.scale_to(cur, cur[-1], rows[-1]["regret"]),
                                 "sqrt(m T log T)")
    fam = next(iter(series.values()), {}).get("family", "")
    ax.set(xlabel="m (outcomes)", ylabel="minimax-proxy regret at T",
           title=f"(d) regret vs m ({fam})")
    path = results_dir / "figures" / "bandit_theorems.png"
    plotting.save(fig, path)
    return [path, _gap_figure(results_dir, spec.get("t_slope", {}))]


def _band(ax, xs, rows, label, fit) -> None:
    from .. import plotting

    plotting.loglog_band(ax, xs, [r["regret"] for r in rows], [r["ci_low"] for r in rows],
                         [r["ci_high"] for r in rows], label, fit=fit)


def _gap_figure(results_dir: Path, s: dict) -> Path:
    """Mean regret vs t at fixed gaps (the ``t_slope`` group): gap-dependent regret grows like
    ``log T``; dashed: ``sum_{suboptimal} log t / gap`` scaled through the last point."""
    from .. import plotting

    table = read_table(results_dir / RESULTS)
    fig, axes = plotting.subplots(1, 1, size=(6.0, 4.2))
    ax = axes[0][0]
    sel = np.ones(len(table["t"]), bool)
    for k in ("family", "K", "m"):
        if k in s:
            sel &= table[k] == s[k]
    sel &= table["learner"] == s.get("learner", "outcome-ucb")
    if sel.any():
        sel &= table["T"] == table["T"][sel].max()
        gaps = sorted(set(table["gap"][sel]))
        for g in gaps[::max(1, len(gaps) // 4)]:
            one = sel & (table["gap"] == g)
            ts = np.array(sorted(set(table["t"][one])))
            ts = ts[ts >= 16]
            y = np.array([table["regret"][one & (table["t"] == t)].mean() for t in ts])
            if len(ts) < 2 or y[-1] <= 0:
                continue
            ax.plot(ts, y, marker="o", ms=3, label=f"gap {g:g}")
            m = int(s.get("m", 2))
            cur = theory.gap_dependent(np.full(m - 1, g), ts)
            ax.plot(ts, theory.scale_to(cur, cur[-1], y[-1]), ls="--", color="0.4", lw=1)
        ax.set_xscale("log")
    ax.set(xlabel="t", ylabel="mean pseudo-regret",
           title=f"gap-dependent regret ({s.get('learner', '')}, {s.get('family', '')}, "
                 f"K={s.get('K')}, m={s.get('m')}); dashed: (m-1) log t / gap, scaled")
    ax.title.set_fontsize(8)
    path = results_dir / "figures" / "bandit_gap_dependent.png"
    plotting.save(fig, path)
    return path
