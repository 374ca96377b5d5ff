"""Figures of the rlsim experiment (simulated analogues of the paper's Figs. 2-6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import legend_right, run_name, suptitle, write
from ..plotting import pyplot as _plt
from .analysis import groups
from .experiment import BASE, LABEL
from .trainer import RunResult

COLORS = {"none": "C1", "ucb": "C2", "ucb-mean": "C4", "ucb-con": "C3", "batch": "C5",
          BASE: "C0"}
# What a title's key=value terms mean (plotting.suptitle adds the ones a figure uses).
WORDS = {"share": "strength of trace sharing across problems (0: independent problems)",
         "difficulty": "mean logit of the base model's chance of a correct answer (lower: "
                       "harder problems)",
         "K": "arms (traces)", "m": "outcomes (answers)"}


def _band(ax, x, ys, color, label, ls="-"):
    ys = np.asarray(ys, float)
    mu, sd = ys.mean(0), ys.std(0)
    ax.plot(x, mu, color=color, ls=ls, label=label)
    ax.fill_between(x, mu - sd, mu + sd, color=color, alpha=0.15, lw=0)


def discovery_figure(results: dict[str, list[RunResult]], path, methods=("none", BASE),
                     title="", hard_q: float = 0.01) -> Path:
    """Solved problems and distinct answers discovered vs samples drawn (paper Fig. 2/3)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for m in methods:
        if m not in results:
            continue
        runs = results[m]
        x = runs[0].samples
        col = COLORS[m]
        _band(axes[0], x, [r.solved for r in runs], col, LABEL[m])
        _band(axes[1], x, [r.distinct_all for r in runs], col, LABEL[m])
        _band(axes[2], x, [r.distinct_hard / max(r.n_hard, 1) for r in runs], col,
              LABEL[m] + " (base-hard)", ls="--")
        _band(axes[2], x, [r.distinct_unsolved / np.maximum(r.n_unsolved, 1) for r in runs],
              col, LABEL[m] + " (unsolved so far)", ls=":")
    axes[0].set_ylabel("training problems solved so far")
    axes[1].set_ylabel("distinct answers discovered (all problems)")
    axes[2].set_ylabel("distinct answers per problem")
    for ax in axes:
        ax.set_xlabel("samples drawn")
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()  # the methods' colours
    styles = [("--", "right: base-hard problems"), (":", "right: problems unsolved so far")]
    legend_right(axes[2], handles + [Line2D([], [], color="0.3", ls=ls) for ls, _ in styles],
                 labels + [lab for _, lab in styles])
    suptitle(fig, title, f"band: ±1 sd over seeds; base-hard: a training problem whose base "
                         f"model samples a correct answer with probability below {hard_q:g}",
             words=WORDS)
    return write(fig, path, dpi=90)


def passk_figure(results: dict[str, list[RunResult]], early: int, path, title="") -> Path:
    """Test pass@k vs k at the early and the late checkpoint (paper Figs. 4-6), as the
    difference to GRPO's (mean ± std over seeds) and, on the left, absolute values."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ks = np.array(results[next(iter(results))][0].ks)
    for m, runs in results.items():
        tp = np.stack([r.test_pass for r in runs])  # (seeds, E, K)
        col = COLORS[m]
        axes[0].plot(ks, tp[:, -1].mean(0), "o-", color=col, label=LABEL[m], ms=3)
        if "none" in results and m not in ("none", BASE):  # base is on the left panel
            g = np.stack([r.test_pass for r in results["none"]])
            for ax, idx, _when in ((axes[1], early, "early"), (axes[2], -1, "late")):
                d = tp[:, idx] - g[:, idx]
                ax.errorbar(ks, d.mean(0), yerr=d.std(0), color=col, marker="o", ms=3,
                            capsize=2, label=LABEL[m])
    axes[0].set_ylabel("test pass@k (late checkpoint)")
    axes[1].set_ylabel(f"test pass@k - GRPO's, early (checkpoint {early + 1})")
    axes[2].set_ylabel("test pass@k - GRPO's, late (end)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.axhline(0, color="k", lw=0.8)
    legend_right(axes[2], *axes[0].get_legend_handles_labels())  # every method's colour
    suptitle(fig, title, "left: mean over seeds; middle, right: difference to GRPO's, mean ± "
                         "1 sd over seeds", words=WORDS)
    return write(fig, path, dpi=90)


def regret_figure(regrets: dict[str, np.ndarray], path, title="") -> Path:
    """Cumulative pseudo-regret vs pulls on log-log axes, mean ± std over repetitions."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    spare = iter(f"C{i}" for i in range(10) if f"C{i}" not in COLORS.values())
    for name, reg in regrets.items():
        t = np.arange(1, reg.shape[1] + 1)
        col = COLORS.get(name) or next(spare)  # a learner of its own colour
        _band(ax, t, reg, col, LABEL.get(name, name))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pulls T")
    ax.set_ylabel("cumulative pseudo-regret")
    ax.grid(alpha=0.3)
    legend_right(ax, fontsize=8)
    suptitle(fig, title, "band: ±1 sd over repetitions", words=WORDS)
    return write(fig, path, dpi=90)


def from_table(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Discovery and pass@k figures per configuration, from an rlsim results table alone."""
    out_dir = Path(out_dir)
    paths = []
    for i, (params, runs, cfg, reps) in enumerate(groups(table)):
        tag = "" if i == 0 else f"-{i}"
        title = (f"{run_name(raw, 'rlsim', reps)}; model share={params['share']}, "
                 f"difficulty={params['difficulty_mean']}")
        have = [m for m in (*COLORS,) if m in runs]
        if {"none", BASE} <= set(runs):
            paths.append(discovery_figure(runs, out_dir / f"rlsim_discovery{tag}.png",
                                          ("none", BASE), "RL vs base sampling, " + title,
                                          cfg.train.hard_q))
        paths.append(discovery_figure(runs, out_dir / f"rlsim_training{tag}.png", have,
                                      "training discovery per method, " + title,
                                      cfg.train.hard_q))
        if "none" in runs:
            paths.append(passk_figure(runs, cfg.early_index(), out_dir / f"rlsim_passk{tag}.png",
                                      "test pass@k per method, " + title))
    return paths
