"""Curves of one or several LLM training logs (``log.jsonl`` of :mod:`llm_bridge.train`).

``python -m llm_bridge.plot RUN_DIR_OR_LOG ... --out fig.png`` (labels: the method of each log).
Panels: training reward, distinct answers per group on unsolved prompts, token entropy of
incorrect generations, training-time discovery (distinct answers so far), and held-out pass@k
against k (last evaluation, solid; first evaluation, dotted).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from obandits.options import option


def read_log(path, *, require: tuple[str, ...] = (), hint: str = "") -> list[dict]:
    """Records of a run's ``log.jsonl`` (or of the one in a run directory). A line that is not
    a JSON object holding the ``require`` keys (cut by a full disk, edited) is a ValueError
    naming the file and the line, followed by ``hint``."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"log not found: {path}")
    out = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if not isinstance(rec, dict) or any(k not in rec for k in require):
                raise ValueError(f"{path}:{lineno}: not a log record (cut or edited "
                                 f"line){hint}")
            out.append(rec)
    return out


def _series(records, key):
    pts = [(r["step"], r[key]) for r in records if r["kind"] == "train" and r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_runs(runs: dict[str, list[dict]], out) -> Path:
    """Draw the panels for ``{label: records}`` into ``out`` (PNG); one legend, right of the
    last panel (the panels share their runs' colours)."""
    from obandits.plotting import legend_right, pyplot, write

    plt = pyplot()

    panels = [("reward", "training reward (pass@1)"),
              ("distinct_unsolved", "distinct answers / group (unsolved)"),
              ("entropy_incorrect", "token entropy, incorrect (nats)"),
              ("distinct_so_far", "distinct answers discovered so far")]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.0 * (len(panels) + 1), 3.4))
    for i, (label, records) in enumerate(runs.items()):
        color = f"C{i}"
        for ax, (key, title) in zip(axes, panels):
            x, y = _series(records, key)
            if x:
                ax.plot(x, y, color=color, label=label, marker="." if len(x) < 30 else None)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step")
        evals = [r for r in records if r["kind"] == "eval"]
        if evals:
            ax = axes[-1]
            for rec, style in ((evals[-1], "-"), (evals[0], ":")):
                ks = sorted(int(k) for k in rec["pass@k"])
                ax.plot(ks, [rec["pass@k"][str(k)] for k in ks], style, color=color, marker="o",
                        ms=3, label=f"{label} (step {rec['step']})")
                if len(evals) == 1:
                    break
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k")
            ax.set_title("held-out pass@k", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    # the pass@k panel's entries name each run and its evaluation steps; else the first curves'
    legend_right(axes[-1], *max((ax.get_legend_handles_labels() for ax in axes[::-1]),
                                key=lambda hl: len(hl[0])))
    return write(fig, out, dpi=110)


@dataclass(frozen=True)
class PlotOptions:
    """The flags of ``python -m llm_bridge.plot`` besides the run paths."""

    out: str = field(metadata={"help": "output PNG"})
    debug: bool = option(False, "show tracebacks")


def main(argv=None) -> int:
    from obandits.options import OneLineParser, add_arguments

    p = OneLineParser(prog="python -m llm_bridge.plot", description=__doc__.splitlines()[0])
    p.add_argument("logs", nargs="+", help="run directories or log.jsonl files")
    add_arguments(p, PlotOptions)
    args = p.parse_args(argv)
    try:
        runs = {}
        for path in args.logs:
            recs = read_log(path)
            label = next((r["method"] for r in recs if "method" in r), str(path))
            runs[label if label not in runs else f"{label} ({path})"] = recs
        print(plot_runs(runs, args.out))
    except (OSError, ValueError) as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"llm_bridge.plot: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
