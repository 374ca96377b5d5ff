"""Figures of a ``cot-lm`` sweep, from its results table alone: pass@k curves (k = 1..30) of the
network (solid) and the tabular learner (dashed) after training, and the rare-CoT share during
training against the fraction of the run done (each model's own steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from obandits.cot.pathdist import PASS_KS
from obandits.plotting import legend_right, pyplot, suptitle, write

from .analysis import MODELS, _series, _stat, configs, final_rows, labels, train_task

STYLE = {"network": "-", "tabular": "--"}


def _colors(methods):
    cmap = pyplot().get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def pass_figure(table: dict, rows: np.ndarray, title: str, path: Path) -> Path:
    """Mean pass@k against k, per method (colour) and model (line style); a panel per task and
    instance kind (all, rare-only)."""
    plt = pyplot()
    rows = rows & final_rows(table)
    lab = labels(table)
    methods = list(dict.fromkeys(lab[rows].tolist()))
    col = _colors(methods)
    tasks = sorted(set(np.asarray(table["task"]).astype(int)[rows].tolist()))
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.2 * len(tasks), 7.6), squeeze=False)
    for j, t in enumerate(tasks):
        for i, kind in enumerate(("all", "rare")):
            ax = axes[i, j]
            for m in methods:
                for model in MODELS:
                    ys = [_stat(_series(table, rows, lab, m, model, t,
                                        f"pass_{kind}@{k}").values())[0] for k in PASS_KS]
                    if np.all(np.isnan(ys)):
                        continue
                    ax.plot(PASS_KS, ys, STYLE[model], color=col[m], lw=1.4,
                            label=f"{m} ({model})")
            ax.set_xscale("log")
            ax.set_xlabel("k")
            ax.set_ylabel(f"pass@k, {'all' if kind == 'all' else 'rare-only'} instances")
            ax.set_title(f"TASK{t + 1}" + (" (trained)" if t == train_task(table, rows) else ""))
            ax.grid(alpha=0.3)
    legend_right(axes[0, -1])
    suptitle(fig, title, "solid: network (TRL), dashed: tabular; mean over seeds", words=WORDS)
    return write(fig, path, dpi=90)


def share_figure(table: dict, rows: np.ndarray, title: str, path: Path) -> Path:
    """Rare-CoT share (hard paths, temperature 1) against the fraction of training done, per
    method and model, with a band of one standard deviation over seeds."""
    plt = pyplot()
    lab = labels(table)
    methods = [m for m in dict.fromkeys(lab[rows].tolist()) if m != "base"]
    col = _colors(methods)
    tasks = sorted(set(np.asarray(table["task"]).astype(int)[rows].tolist()))
    frac = np.asarray(table["frac"], float)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.9), squeeze=False)
    for j, t in enumerate(tasks):
        ax = axes[0, j]
        for m in methods:
            for model in MODELS:
                xs = sorted(set(frac[rows & (lab == m)
                                     & (np.asarray(table["model"]) == model)].tolist()))
                st = [_stat(_series(table, rows & (frac == x), lab, m, model, t,
                                    "hard").values()) for x in xs]
                if not xs or all(s[2] == 0 for s in st):
                    continue
                mu, sd = np.array([s[0] for s in st]), np.array([s[1] for s in st])
                ax.plot(xs, mu, STYLE[model], color=col[m], lw=1.4, label=f"{m} ({model})")
                ax.fill_between(xs, mu - sd, mu + sd, color=col[m], alpha=0.12)
        ax.set_xlabel("fraction of post-training done")
        ax.set_ylabel("rare-CoT share (valid, with a low edge)")
        ax.set_title(f"TASK{t + 1}" + (" (trained)" if t == train_task(table, rows) else ""))
        ax.grid(alpha=0.3)
    legend_right(axes[0, -1])
    suptitle(fig, title, "solid: network (TRL), dashed: tabular; band: ±1 sd over seeds",
             words=WORDS)
    return write(fig, path, dpi=90)


# What the key=value terms of titles and legends mean (obandits.plotting.glossary).
WORDS = {"L": "layers of the chain", "M0": "start states", "M": "states per later layer",
         "eps": "low-edge weight", "c": "outcome-bonus scale", "b0": "UCB-Con baseline",
         "kl_beta": "KL strength (TRL's beta)", "reject": "fresh CoTs drawn to reject an instance",
         "bonus_outcome": "what the bonus counts (final state or whole path)"}
# Plain words for the configuration parameters a title may show (others print as key=value).
GLOSS = {"train_task": lambda x: f"trained on TASK{int(float(x)) + 1}",
         "net_steps": lambda x: f"network: {x} TRL steps"}


def _title(table: dict, rows: np.ndarray, raw: dict | None, params: dict) -> str:
    """The sweep's name, its chain (L layers, M0 start states, M states per later layer,
    low-edge weight eps) and the configuration, in words where :data:`GLOSS` has them."""
    first = int(np.flatnonzero(rows)[0])
    chain = ", ".join(f"{k}={table[k][first]}" for k in ("L", "M0", "M", "eps") if k in table)
    name = ((raw or {}).get("sweep") or {}).get("name", "cot-lm")
    conf = [GLOSS[k](x) if k in GLOSS else f"{k}={x}" for k, x in params.items()]
    return "; ".join([f"{name}: chain {chain}", *conf])


def from_table(table: dict, raw: dict, out_dir) -> list[Path]:
    """Both figures per configuration into ``out_dir/figures/``."""
    out = Path(out_dir) / "figures"
    paths = []
    cfgs = configs(table)
    for i, (params, rows) in enumerate(cfgs):
        tag = "" if len(cfgs) == 1 else f"_{i}"
        title = _title(table, rows, raw, params)
        paths.append(pass_figure(table, rows, title, out / f"cot_lm_pass{tag}.png"))
        frac = np.asarray(table["frac"], float)[rows]
        if not np.any((frac > 0) & (frac < 1)):  # curves = false, or final rows only
            print(f"cot-lm: no snapshot during training in {title!r}: no rare-share curve "
                  f"drawn (run with curves = true, or plot the full table)")
            continue
        paths.append(share_figure(table, rows, title, out / f"cot_lm_rare_share{tag}.png"))
    return paths
