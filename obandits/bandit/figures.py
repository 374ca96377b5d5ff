"""Figures of a bandit theorem-check sweep, drawn from its results table alone (the minimax
proxy and fits come from :mod:`obandits.bandit.analysis`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import theory
from .analysis import (
    _arms_label,
    _filters,
    _largest_T,
    _m_rows,
    _need_columns,
    _needle_fit_rows,
    _needle_rows,
    _select,
    _tables,
    _try_fit,
    minimax_table,
)

# The cell parameters a title or legend writes as key=value, in words (plotting.suptitle).
WORDS = {"K": "arms", "m": "outcomes (answers)", "T": "horizon (pulls)"}


def make_figures(table: dict, raw: dict, results_dir: Path,
                 mm: list[dict] | None = None) -> list[Path]:
    """``figures/bandit_theorems.png`` in ``results_dir`` from a results table: (a) minimax
    proxy vs T, (b) vs K on the LLM-like family, (c) vs K on the needle family, (d) vs m;
    bands are the bootstrap intervals, dashed lines the theory shapes through the last point.
    Legends sit right of their panels; the suptitle names the sweep and says its terms."""
    from .. import plotting

    results_dir = Path(results_dir)
    _need_columns(table)
    mm = minimax_table(table) if mm is None else mm
    spec = raw.get("check", {})
    fig, axes = plotting.subplots(2, 2, size=(8.2, 4.0))
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
    ax.set(xlabel="T (horizon)", ylabel="minimax-proxy regret",
           title=f"(a) regret vs T ({s.get('family', '')} family, K={s.get('K')}, "
                 f"m={s.get('m')})")

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
           title=f"(d) regret vs m ({fam} family)")
    for ax in axes.flat:
        plotting.legend_right(ax, fontsize=6.5)
    run = plotting.run_name(raw, "bandit sweep", unit="repetitions")
    plotting.suptitle(fig, f"{run}: minimax-proxy regret (the largest mean regret over the gap "
                           f"grid) of each learner",
                      "band: 95% bootstrap interval; slope: fitted log-log slope [95% interval]; "
                      "dashed: theory shape through one point; verifiable: reward 1 on the "
                      "needle's outcome, 0 otherwise; proxy: minimax proxy over Bernoulli gaps",
                      words=WORDS)
    path = results_dir / "figures" / "bandit_theorems.png"
    plotting.save(fig, path)
    return [path, _gap_figure(table, results_dir, spec.get("t_slope", {}), run)]


def _band(ax, xs, rows, label, fit) -> None:
    from .. import plotting

    plotting.loglog_band(ax, xs, [r["regret"] for r in rows], [r["ci_low"] for r in rows],
                         [r["ci_high"] for r in rows], label, fit=fit)


def _gap_figure(table: dict, results_dir: Path, s: dict, run: str) -> Path:
    """Mean regret vs t at fixed gaps (the ``t_slope`` group): gap-dependent regret grows like
    ``log T``; dashed: ``sum_{suboptimal} log t / gap`` scaled through the last point."""
    from .. import plotting

    fig, axes = plotting.subplots(1, 1, size=(7.0, 4.2))
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
    ax.set(xlabel="t (pulls so far)", ylabel="mean pseudo-regret",
           title=f"gap-dependent regret of {s.get('learner', '')} ({s.get('family', '')} "
                 f"family, K={s.get('K')}, m={s.get('m')})")
    ax.title.set_fontsize(9)
    plotting.suptitle(fig, run, "gap: the best outcome's mean reward minus the others'; "
                                "dashed: (m-1) log t / gap, scaled through the last point",
                      words=WORDS)
    path = results_dir / "figures" / "bandit_gap_dependent.png"
    plotting.save(fig, path)
    return path
