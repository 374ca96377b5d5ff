"""The theorem-check experiment (issue 3): sweep -> minimax table and claims -> figure.

``run_reduced()`` is the step of ``obandits main`` (a few minutes on 2 cores); the full check
is ``obandits sweep experiments/bandit/theorems.toml`` followed by ``obandits bandit-check``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..sweep import load_config, run_sweep, summary
from .check import make_figures

ROOT = Path(__file__).resolve().parents[2]
REDUCED = ROOT / "experiments" / "bandit" / "reduced.toml"
FULL = ROOT / "experiments" / "bandit" / "theorems.toml"


def run_config(config: str | Path, out: str | Path | None = None, *, workers: int | None = None,
               figure: str | Path | None = None, progress: bool = True) -> str:
    """Run (or resume) a theorem-check sweep, write its tables and figure, copy the figure to
    ``figure`` if given; returns the printed report."""
    cfg = load_config(config)
    out = Path(out) if out else Path("results") / cfg.name
    print(f"sweep {cfg.name}: {len(cfg.cells)} cells x {cfg.reps} reps -> {out}", flush=True)
    run_sweep(cfg, out, workers=workers, progress=progress)
    fig, gap_fig = make_figures(out)
    if figure is not None:
        figure = Path(figure)
        figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fig, figure)
        shutil.copyfile(gap_fig, figure.with_name(figure.stem + "_gaps.png"))
    checks = (out / "checks.md").read_text()
    text = (f"{summary(cfg, out)}\n\nTheorem checks ({out / 'checks.csv'}):\n\n{checks}\n"
            f"figure: {figure or fig}")
    print("\n" + text)
    return text


def run_reduced() -> str:
    """The reduced theorem check of ``obandits main``."""
    return run_config(REDUCED, Path("results") / "bandit-reduced",
                      figure=ROOT / "figures" / "bandit_reduced.png")
