"""Every figure's layout (issue 26, point 6): no legend covers a panel and none runs off the
figure, the suptitle sits clear of the panels, and every ``key=value`` that a title or a legend
writes has its key said in words in the figure (``key: ...`` anywhere, or an axis label
``key (...)``). Each figure is drawn by its own function from committed results (``obandits
plot`` on a copy) or from a tiny table, and checked the moment it is written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

ROOT = Path(__file__).resolve().parents[1]


def _overlap(a, b) -> float:
    """The area (pixels) two window extents share."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _inside(box, frame, tol: float = 2.0) -> bool:
    return (box.x0 >= frame.x0 - tol and box.y0 >= frame.y0 - tol and box.x1 <= frame.x1 + tol
            and box.y1 <= frame.y1 + tol)


def _name(ax) -> str:
    return repr(ax.get_title() or ax.get_ylabel())


def layout_problems(fig) -> list[str]:
    """What is wrong with the drawn figure's legends, suptitle and terms (empty: nothing)."""
    r = fig.canvas.get_renderer()
    out = []
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        box = leg.get_window_extent(r)
        out += [f"the legend of {_name(ax)} covers the panel {_name(other)}"
                for other in fig.axes if _overlap(box, other.get_window_extent(r)) > 1]
        if not _inside(box, fig.bbox):
            out.append(f"the legend of {_name(ax)} runs off the figure")
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        box = sup.get_window_extent(r)
        if not _inside(box, fig.bbox):
            out.append("the suptitle runs off the figure")
        out += [f"the suptitle covers the panel {_name(ax)}" for ax in fig.axes
                if any(_overlap(box, part.get_window_extent(r)) > 1
                       for part in (ax, ax.title, ax.yaxis.label))]
    # key=value terms of the suptitle, panel titles and legends; each key said in words
    named = ([sup.get_text()] if sup is not None else []) + [ax.get_title() for ax in fig.axes]
    named += [t.get_text() for leg in legends for t in leg.get_texts()]
    words = [t.get_text() for t in fig.findobj(Text)]
    labels = [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    for key in dict.fromkeys(re.findall(r"([A-Za-z_]\w*)=", "\n".join(named))):
        k = re.escape(key)
        if not (any(re.search(rf"(^|[\s(;]){k}:\s", t) for t in words)
                or any(re.match(rf"{k} \(", t) for t in labels)):
            out.append(f"{key}=... is not explained in the figure")
    return out


@pytest.fixture
def drawn(monkeypatch):
    """``[(path, problems)]`` of every figure written while the test runs."""
    seen = []
    save = Figure.savefig

    def savefig(self, fname, *args, **kw):
        save(self, fname, *args, **kw)
        seen.append((Path(fname).name, layout_problems(self)))

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


def _check(drawn, n_min: int = 1) -> None:
    assert len(drawn) >= n_min, f"expected at least {n_min} figures, got {drawn}"
    bad = {name: problems for name, problems in drawn if problems}
    assert not bad, bad


def _plot_committed(rel: str, tmp_path) -> None:
    from obandits.sweep import plot_dir

    copy = tmp_path / "run"
    shutil.copytree(ROOT / rel, copy)
    plot_dir(copy)


@pytest.mark.parametrize("rel", ["experiments/rlsim/results/compare",
                                 "experiments/cot/results/paper",
                                 "experiments/cot/results/sensitivity",
                                 "experiments/cot/results/bonuses",
                                 "docs/data/bu2025/preset"])
def test_figures_of_committed_results(rel, tmp_path, drawn):
    _plot_committed(rel, tmp_path)
    _check(drawn)


@pytest.mark.parametrize("name", ["forgetting", "remedies", "outcome"])
def test_cot_lm_figures(name, tmp_path, drawn):
    """Legend right of the last column, suptitle in words; the committed results keep the
    final rows only, so only the pass@k figure is drawn per configuration."""
    import json

    from llm_bridge.cot_lm.figures import from_table
    from obandits.results import read_table

    src = ROOT / "experiments/cot_lm/results" / name
    raw = json.loads((src / "manifest.json").read_text())["config"]
    from_table(read_table(src / "results.csv"), raw, tmp_path)
    _check(drawn, 2 if name == "forgetting" else 1)


def _bandit_table(cells, reps: int = 2) -> dict:
    """A results table of the given cells with a smooth made-up regret ~ sqrt(m t) / gap."""
    cols: dict[str, list] = {}
    for cell in cells:
        p = cell.params
        ts = 2 ** np.arange(int(np.log2(p["T"])) + 1)
        for rep in range(reps):
            reg = np.sqrt(p["m"] * ts) * (1 + 0.05 * rep) * (0.5 + p["gap"]) + ts / p["K"]
            for t, y in zip(ts, reg):
                for k, x in {**p, "rep": rep, "t": int(t), "regret": float(y)}.items():
                    cols.setdefault(k, []).append(x)
    return {k: np.array(v) for k, v in cols.items()}


def test_bandit_figures(tmp_path, drawn):
    from obandits.bandit.figures import make_figures
    from obandits.resources import path
    from obandits.sweep import load_config

    cfg = load_config(path("experiments/bandit/reduced.toml"))
    cells = [c for c in cfg.cells if c.params["gap"] in (0.01, 0.16, 1.0)]
    make_figures(_bandit_table(cells), cfg.raw, tmp_path)
    _check(drawn, 2)


def test_rlsim_regret_figure(tmp_path, drawn):
    from obandits.rlsim.figures import regret_figure

    rng = np.random.default_rng(0)
    reg = {name: np.cumsum(rng.random((3, 64)), 1) for name in ("none", "ucb-con", "ucb1",
                                                                 "outcome-ucb")}
    regret_figure(reg, tmp_path / "r.png", "GRPO learners vs UCB1 / outcome-UCB, needle K=64, m=4")
    _check(drawn)


def test_llm_training_curves(tmp_path, drawn):
    from llm_bridge.plot import plot_runs

    def run(shift):
        train = [{"kind": "train", "step": s, "reward": 0.1 * s + shift, "distinct_unsolved": 3,
                  "entropy_incorrect": 1.5, "distinct_so_far": 8 * s} for s in (1, 2, 3)]
        evals = [{"kind": "eval", "step": s, "pass@k": {"1": 0.1 + shift, "2": 0.2, "4": 0.3}}
                 for s in (0, 3)]
        return train + evals

    plot_runs({"grpo": run(0.0), "ucb-con": run(0.05)}, tmp_path / "c.png")
    _check(drawn)


def test_the_check_sees_a_legend_on_the_data_and_an_unexplained_term(tmp_path, drawn):
    """The checks themselves: an inside legend and a bare ``q=3`` are both reported."""
    from obandits.plotting import subplots, write

    fig, axes = subplots()
    axes[0][0].plot([0, 1], [0, 1], label="line")
    axes[0][0].legend(loc="center")
    fig.suptitle("something at q=3")
    write(fig, tmp_path / "bad.png")
    (_, problems), = drawn
    assert any("covers the panel" in p for p in problems)
    assert "q=... is not explained in the figure" in problems
