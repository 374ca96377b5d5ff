"""Figure helpers shared by experiments: log-log curves with a band, a theory line, the fitted
slope in the legend, legends outside the axes, titles that say their terms in words. Matplotlib
with the Agg backend (files only, no display)."""

from __future__ import annotations

import re
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


def legend_right(ax, handles=None, labels=None, *, fontsize: float = 7, **kw):
    """A legend right of ``ax``, outside its axes and centred on its height, so that it covers
    no data when ``ax`` is in the figure's last column (:func:`write`'s tight layout makes room).
    Entries: ``ax``'s own, or ``handles`` and ``labels`` (one legend for panels that share their
    series). None when there is nothing to label."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, fontsize=fontsize, loc="center left",
                     bbox_to_anchor=(1.02, 0.5), **kw)


def glossary(texts, words: dict[str, str]) -> str:
    """``"key: meaning; ..."`` for each key of ``words`` that ``texts`` (titles, legend labels)
    write as ``key=value``, in order of first use; empty when none does. A figure adds it under
    its title so that no abbreviated parameter goes unexplained."""
    used = dict.fromkeys(k for t in texts for k in re.findall(r"([A-Za-z_]\w*)=", str(t))
                         if k in words)
    return "; ".join(f"{k}: {words[k]}" for k in used)


def run_name(raw: dict | None, default: str, reps: int | None = None,
             unit: str = "seeds") -> str:
    """``"NAME, R seeds"``: the sweep a figure comes from (its config's name, else ``default``)
    and its repetitions (``reps``, else the config's)."""
    sweep = (raw or {}).get("sweep") or {}
    reps = sweep.get("reps") if reps is None else reps
    return sweep.get("name", default) + (f", {reps} {unit.removesuffix('s') if reps == 1 else unit}"
                                         if reps else "")


def suptitle(fig, *lines: str, words: dict[str, str] | None = None, fontsize: float = 9):
    """The figure's title from ``lines`` (empty ones left out), then, given ``words``, the
    :func:`glossary` of what they, the panel titles and the legend labels write; each line is
    wrapped to the figure's width so that none runs off its edges, and the figure grows by the
    title's height, so that its panels keep theirs."""
    import textwrap

    if words:
        texts = [*lines, *(t for ax in fig.axes
                           for t in (ax.get_title(), *ax.get_legend_handles_labels()[1]))]
        texts += [t.get_text() for ax in fig.axes if ax.get_legend()
                  for t in ax.get_legend().get_texts()]
        lines = (*lines, glossary(texts, words))
    width = max(40, int(fig.get_figwidth() * 72 / (0.6 * fontsize)))  # characters per line
    text = "\n".join(textwrap.fill(x, width) for x in lines if x)
    fig.set_figheight(fig.get_figheight() + (text.count("\n") + 1) * 1.3 * fontsize / 72)
    return fig.suptitle(text, fontsize=fontsize)


def write(fig, path: str | Path, dpi: int = 110) -> Path:
    """Tight layout, write ``path`` (parents created), close the figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Legends (right of their axes, :func:`legend_right`), grid and minor-label clean-up on
    every axis, then :func:`write`."""
    from matplotlib.ticker import NullFormatter

    for ax in fig.axes:
        ax.xaxis.set_minor_formatter(NullFormatter())  # crowded labels within one decade
        ax.yaxis.set_minor_formatter(NullFormatter())
        if ax.get_legend() is None:
            legend_right(ax)  # axes that placed their own legend keep it
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
