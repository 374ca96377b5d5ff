"""Figure helpers shared by experiments: log-log curves with a band, a theory line, the fitted
slope in the legend. Matplotlib with the Agg backend (files only, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def subplots(rows: int = 1, cols: int = 1, size: tuple[float, float] = (5.0, 3.8)):
    """A grid of axes (always 2-D indexable) sized ``size`` per panel."""
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                             squeeze=False)
    return fig, axes


def loglog_band(ax, x, y, lo=None, hi=None, label: str = "", fit=None, **kw):
    """Mean curve ``y`` against ``x`` on log-log axes with a shaded ``[lo, hi]`` band; ``fit``
    (a :class:`obandits.metrics.PowerLawFit`) adds ``slope b [b_low, b_high]`` to the label."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if fit is not None:
        label = f"{label}: slope {fit.b:.2f} [{fit.b_low:.2f}, {fit.b_high:.2f}]"
    keep = y > 0  # log axes: non-positive points cannot be drawn
    (line,) = ax.plot(x[keep], y[keep], marker="o", ms=3, label=label, **kw)
    if lo is not None and hi is not None:
        lo_, hi_ = np.asarray(lo, float), np.asarray(hi, float)
        ok = keep & (lo_ > 0)
        ax.fill_between(x[ok], lo_[ok], hi_[ok], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return line


def theory_line(ax, x, y, label: str):
    """A dashed grey theory curve."""
    ax.plot(x, y, ls="--", color="0.4", lw=1, label=f"theory {label}")


def write(fig, path: str | Path, dpi: int = 110) -> Path:
    """Tight layout, write ``path`` (parents created), close the figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Legends, grid and minor-label clean-up on every axis, then :func:`write`."""
    from matplotlib.ticker import NullFormatter

    for ax in fig.axes:
        ax.xaxis.set_minor_formatter(NullFormatter())  # crowded labels within one decade
        ax.yaxis.set_minor_formatter(NullFormatter())
        if ax.get_legend() is None and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)  # axes that placed their own legend keep it
        ax.grid(True, which="both", alpha=0.25)
    return write(fig, path, dpi)


def curves_vs_t(ax, table, *, by: str = "learner", y: str = "regret", x: str = "t") -> None:
    """Mean ``y`` against ``x`` for each value of ``by``, with a band of two standard errors
    over the rows at each point (repetitions, and cells sharing that value); ``table`` is a
    sweep's tidy table, a dict of arrays or a pandas DataFrame."""
    cols = {k: np.asarray(table[k]) for k in (by, x, y)}
    for key in sorted(set(cols[by].tolist()), key=str):
        sel = cols[by] == key
        xs = np.array(sorted(set(cols[x][sel].tolist())), float)
        vals = [cols[y][sel & (cols[x] == t)].astype(float) for t in xs]
        mean = np.array([v.mean() for v in vals])
        se = np.array([v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in vals])
        loglog_band(ax, xs, mean, mean - 2 * se, mean + 2 * se, label=str(key))
    ax.set(xlabel=x, ylabel=f"mean {y}")
