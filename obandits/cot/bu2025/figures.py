"""The figure of a ``bu2025`` sweep, from its results table (and the authors' csv) alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis import CONVENTIONS, variants_in
from .authors import read_authors
from .cells import METRICS, TASKS
from .compare import cells_by_row, matched, mean_ci

# Panel titles: each metric in words (the metric column's values are the authors' names).
METRIC_WORDS = {"pass_at_k": "pass@30", "easy": "easy-CoT share", "hard": "hard (rare) CoT share",
                "invalid": "invalid-CoT share"}


def figures(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Authors vs preset vs clean: mean and 95% interval of every metric, per task (the
    authors' bars over the seeds the preset ran; none when no seed is common); one legend right
    of the top row, a suptitle naming the sweep and saying what each source is."""
    from ...plotting import legend_right, pyplot, run_name, suptitle, write

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
            ax.set_title(f"{task}: {METRIC_WORDS.get(metric, metric)}", fontsize=9)
            ax.set_xticks(np.arange(len(strategies)), strategies, rotation=45, ha="right",
                          fontsize=7)
            ax.set_ylim(0, 1)
    legend_right(axes[0][-1])
    seeds = len(set(np.asarray(table["seed"]).tolist())) if "seed" in table else None
    suptitle(fig, f"{run_name(raw, 'bu2025', seeds)}: Bu et al.'s table per strategy, mean and "
                  f"95% interval over seeds (the authors' bars: their runs on the seeds both "
                  f"sides ran)",
             "authors' script: their multi_task_tmc.py; variant bu2025: our preset under their "
             "conventions; variant clean: our preset with every cleaner definition; easy / hard: "
             "a correct CoT on high edges only / with a low edge; invalid: a wrong CoT")
    return [write(fig, Path(out_dir) / "bu2025_side_by_side.png")]
