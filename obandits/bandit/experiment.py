"""The theorem-check experiment (issue 3): sweep -> minimax table and claims -> figure.

``run_reduced()`` is the step of ``obandits main`` (a few minutes on 2 cores, into the
git-ignored ``runs/``); ``run_reduced(reference=True)`` also refreshes the committed
``figures/bandit_reduced*.png``. The full check is ``obandits sweep
experiments/bandit/theorems.toml`` followed by ``obandits check`` (or ``bandit-check``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..results import RESULTS, read_table, write_rows
from ..sweep import check_dir, finished, load_config, run_sweep, summary, write_claims
from . import analysis, figures

ROOT = Path(__file__).resolve().parents[2]  # the checkout (figures/ of --reference)
# shipped as package data (obandits.resources)
REDUCED = "experiments/bandit/reduced.toml"
FULL = "experiments/bandit/theorems.toml"


def write_checks(out: Path) -> str:
    """``checks.csv``, ``checks.md`` and ``minimax.csv`` of a finished sweep, from its data
    files; returns the claims' markdown."""
    out = Path(out)
    done = finished(out)
    table = done[2]
    _, text = check_dir(out, done)
    write_rows(out / "minimax.csv", analysis.minimax_rows(analysis.minimax_table(table)))
    return text


def run_config(config: str | Path, out: str | Path | None = None, *,
               figure: str | Path | None = None, **options) -> str:
    """Run (or resume) a theorem-check sweep, write its tables and figure, copy the figure to
    ``figure`` if given; returns the printed report. ``options``: the keywords of
    :func:`obandits.sweep.run_sweep` (workers, threads, executor, scheduler, max_cells,
    max_work, yes, progress)."""
    cfg = load_config(config)
    out = Path(out) if out else Path("runs") / cfg.name
    print(f"sweep {cfg.name}: {len(cfg.cells)} cells x {cfg.reps} reps -> {out}", flush=True)
    run_sweep(cfg, out, **options)
    table = read_table(out / RESULTS)
    mm = analysis.minimax_table(table)
    claims = analysis.claims(table, cfg.raw, mm)
    write_rows(out / "minimax.csv", analysis.minimax_rows(mm))
    checks = write_claims(out, claims)
    fig, gap_fig = figures.make_figures(table, cfg.raw, out, mm)
    if figure is not None:
        figure = Path(figure)
        figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fig, figure)
        shutil.copyfile(gap_fig, figure.with_name(figure.stem + "_gaps.png"))
    text = (f"{summary(cfg, out, table)}\n\nTheorem checks ({out / 'checks.csv'}):\n\n"
            f"{checks}\n\nfigure: {figure or fig}")
    print("\n" + text)
    return text


def run_reduced(reference: bool = False, runs: str | Path = "runs") -> str:
    """The reduced theorem check of ``obandits main``, into ``runs/bandit-reduced``;
    ``reference=True`` also copies its figures to ``figures/bandit_reduced*.png``."""
    from ..resources import path

    return run_config(path(REDUCED), Path(runs) / "bandit-reduced",
                      figure=ROOT / "figures" / "bandit_reduced.png" if reference else None)
