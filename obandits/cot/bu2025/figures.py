"""The figure of a ``bu2025`` sweep, from its results table (and the authors' csv) alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis import CONVENTIONS, variants_in
from .authors import read_authors
from .cells import METRICS, TASKS
from .compare import cells_by_row, matched, mean_ci


def figures(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Authors vs preset vs clean: mean and 95% interval of every metric, per task (the
    authors' bars over the seeds the preset ran; none when no seed is common)."""
    from ...plotting import pyplot, write

    plt = pyplot()
    authors = read_authors(raw)
    sources = [("authors' script", matched(table, authors)[1])] if authors is not None else []
    sources += [(f"variant {v}", cells_by_row(table, v)) for _, v in CONVENTIONS
                if v in variants_in(table)]
    sources = [(label, rows) for label, rows in sources if rows]  # no common seed: no bars
    keys = list(sources[0][1]) if sources else []
    strategies = list(dict.fromkeys(k[0] for k in keys))
    fig, axes = plt.subplots(len(METRICS), len(TASKS), figsize=(13, 12), squeeze=False)
    width = 0.8 / max(1, len(sources))
    for i, metric in enumerate(METRICS):
        for j, task in enumerate(TASKS):
            ax = axes[i][j]
            for s, (label, rows) in enumerate(sources):
                stats = [mean_ci(list(rows.get((st, task, metric), {}).values()))
                         for st in strategies]
                m = np.array([x[0] for x in stats])
                err = np.array([[x[0] - x[1], x[2] - x[0]] for x in stats]).T
                ax.bar(np.arange(len(strategies)) + (s - (len(sources) - 1) / 2) * width, m,
                       width, yerr=np.nan_to_num(err), capsize=2, label=label)
            ax.set_title(f"{task} {metric}", fontsize=9)
            ax.set_xticks(np.arange(len(strategies)), strategies, rotation=45, ha="right",
                          fontsize=7)
            ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=7)
    return [write(fig, Path(out_dir) / "bu2025_side_by_side.png")]
