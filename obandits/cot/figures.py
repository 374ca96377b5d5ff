"""Figures of the cot sweeps, from the results table alone (:mod:`.analysis` computes what
they show): coverage bars (table (a)), forgetting curves (snapshots during RL), and the
rare-CoT mass kept against each parameter that varies (sensitivity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import legend_right, run_name, suptitle, write
from ..plotting import pyplot as _plt
from .analysis import aggregate, configs, curves, final_rows, knobs
from .params import HELP

MIN_COVERAGE_ROWS = 4  # fewer methods (a sensitivity cell) are shown by the sensitivity figure
RARE = "rare CoT: a correct CoT with a low (rare) edge"


def _task(t: int, train_task: int) -> str:
    return f"TASK{t + 1}" + (" (trained)" if t == train_task else "")


def coverage_figure(agg: dict, tasks, train_task: int, path, run: str = "cot") -> Path:
    """Stacked easy / hard / invalid coverage (temperature 1) per method, one panel per task;
    ``run`` names the sweep in the title."""
    plt = _plt()
    names = list(agg)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 0.32 * len(names) + 1.5),
                             sharey=True, squeeze=False)
    for ax, t in zip(axes[0], tasks):
        left = np.zeros(len(names))
        for m, col in zip(("easy", "hard", "invalid"), ("tab:blue", "tab:red", "0.7")):
            w = np.array([agg[n][t][m][0] if t in agg[n] and agg[n][t][m][0] is not None
                          else 0.0 for n in names])
            ax.barh(names, w, left=left, color=col, label=m)
            left += w
        ax.set_title(_task(t, train_task))
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of CoTs sampled at temperature 1")
        ax.invert_yaxis()
    legend_right(axes[0][-1], fontsize=8)
    suptitle(fig, f"{run}: coverage after RL on TASK{train_task + 1}, mean over seeds",
             "easy: a correct CoT on high edges only; hard: a correct CoT with a low (rare) "
             "edge; invalid: a CoT that misses the task's answer", words=HELP)
    return write(fig, path, dpi=80)


def curves_figure(cur: dict, k, train_task: int, path, run: str = "cot") -> Path:
    """Rare-CoT mass (temperature 1) and rare-only pass@K against RL iterations, per task
    (mean ± std over seeds); ``run`` names the sweep in the title."""
    plt = _plt()
    tasks = sorted(next(iter(cur.values())))
    fig, axes = plt.subplots(2, len(tasks), figsize=(6 * len(tasks), 7), squeeze=False)
    for col, t in enumerate(tasks):
        for row, key, lab in ((0, "hard", "rare-CoT mass at temperature 1"),
                              (1, "pass_rare", f"pass@{k} on rare-only instances")):
            ax = axes[row, col]
            for name, per in cur.items():
                x, m, s = per[t][key]
                ax.plot(x, m, label=name, lw=1.3)
                ax.fill_between(x, m - s, m + s, alpha=0.15)
            ax.set_xlabel("RL iterations")
            ax.set_ylabel(lab)
            ax.set_title(_task(t, train_task))
    legend_right(axes[0, -1])
    suptitle(fig, f"{run}: rare CoTs during RL on TASK{train_task + 1}; band: ±1 sd over "
                  f"seeds", f"{RARE}; rare-only instance: one that only rare CoTs solve",
             words=HELP)
    return write(fig, path, dpi=80)


def sensitivity_figure(kn: dict, path, run: str = "cot") -> Path:
    """Rare-CoT mass kept (trained / base) against each varying parameter (mean ± std); ``run``
    names the sweep in the title."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(kn), figsize=(5.8 * len(kn), 3.6), squeeze=False)
    for ax, (knob, rows) in zip(axes[0], kn.items()):
        for meth in dict.fromkeys(r["label"] for r in rows):
            for t in sorted({r["task"] for r in rows if r["label"] == meth}):
                sel = [r for r in rows if r["label"] == meth and r["task"] == t]
                x = [float(r["params"][knob]) for r in sel]
                ys = [np.array([v for v in r["ratio"].values() if np.isfinite(v)])
                      for r in sel]
                y = np.array([a.mean() if len(a) else np.nan for a in ys])
                e = np.array([a.std(ddof=1) if len(a) > 1 else 0.0 for a in ys])
                ax.errorbar(x, y, yerr=e, marker="o", ms=3, capsize=2,
                            ls="-" if t == 0 else "--", label=f"{meth}, TASK{t + 1}")
        if knob == "kl_beta":
            ax.set_xscale("log")
        ax.axhline(1.0, color="0.6", lw=0.8)
        ax.set_xlabel(f"{knob}: {HELP[knob]}" if HELP.get(knob) else knob, fontsize=8)
        ax.set_ylabel("rare-CoT mass kept (trained / base)")
        legend_right(ax, fontsize=6)
    suptitle(fig, f"{run}: rare-CoT mass kept after RL against one parameter at a time (the "
                  f"others at their usual values); mean ± 1 sd over seeds; grey line: all kept",
             RARE, words=HELP)
    return write(fig, path, dpi=80)


def from_table(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Every figure the table supports, into ``out_dir``: ``cot_coverage[-i].png`` per
    configuration with at least :data:`MIN_COVERAGE_ROWS` methods, ``cot_forgetting[-i].png``
    (curves) per configuration with snapshots, ``cot_sensitivity.png`` when a parameter
    varies."""
    out_dir = Path(out_dir)
    paths = []
    run = run_name(raw, "cot")
    fin = final_rows(table)
    n_cov = n_cur = 0
    for params, rows in configs(table):
        tt = int(params.get("train_task", 0))
        agg = aggregate(table, rows)
        if len(agg) >= MIN_COVERAGE_ROWS:
            tasks = sorted(set(table["task"][rows & fin].tolist()))
            name = "cot_coverage" + (f"-{n_cov}" if n_cov else "") + ".png"
            paths.append(coverage_figure(agg, tasks, tt, out_dir / name, run))
            n_cov += 1
        cur = curves(table, rows)
        if cur:
            name = "cot_forgetting" + (f"-{n_cur}" if n_cur else "") + ".png"
            paths.append(curves_figure(cur, params.get("k", 30), tt, out_dir / name, run))
            n_cur += 1
    kn = knobs(table)
    if kn:
        paths.append(sensitivity_figure(kn, out_dir / "cot_sensitivity.png", run))
    return paths
