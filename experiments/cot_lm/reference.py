"""Issue 23 (a)-(c): run (or resume) the cot-lm experiments and refresh their committed results.

For each experiment NAME in forgetting, remedies, outcome, budget: the sweep ``NAME.toml`` into
``runs/cot-lm/NAME`` (resumable), its claims and figures, then into
``experiments/cot_lm/results/NAME/``: ``results.csv`` with the rows after training and the
base model's (the full table with every snapshot stays in ``runs/``, 3-9 MB each), a
``manifest.json`` that records that table (so ``obandits check`` verifies and judges it),
``summary.md``, ``checks.md`` / ``checks.csv`` and the figures. docs/results-cot-lm.md quotes
these files.

Usage: ``python experiments/cot_lm/reference.py [NAME ...] [--workers N]``
"""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

import obandits
from llm_bridge.cot_lm.analysis import final_rows, summarise
from obandits.results import read_table, write_rows
from obandits.sweep import results_record

HERE = Path(__file__).parent
CONFIGS = "experiments/cot_lm"  # relative: the manifest records the path it was given
NAMES = ("forgetting", "remedies", "outcome", "budget")


def sweep(name: str, workers: int | None = None) -> None:
    """Run (or resume) the sweep ``name`` into ``runs/cot-lm/NAME``."""
    runs = Path("runs/cot-lm") / name
    obandits.run_sweep(obandits.load_config(f"{CONFIGS}/{name}.toml"), runs, workers=workers)


def publish(name: str) -> Path:
    """Check and plot the finished sweep ``name``; copy its reference files; returns their
    folder."""
    runs = Path("runs/cot-lm") / name
    obandits.check_dir(runs)
    pngs = obandits.plot_dir(runs)
    dest = HERE / "results" / name
    shutil.rmtree(dest / "figures", ignore_errors=True)  # no figure of an older grid stays
    (dest / "figures").mkdir(parents=True)
    table = read_table(runs / "results.csv")
    keep = final_rows(table)
    write_rows(dest / "results.csv", [{c: table[c][i] for c in table}
                                      for i in np.flatnonzero(keep)])
    (dest / "summary.md").write_text(summarise(table) + "\n")
    for f in ("checks.md", "checks.csv"):
        shutil.copyfile(runs / f, dest / f)
    # the manifest records the kept table, so `obandits check` verifies and judges it
    man = json.loads((runs / "manifest.json").read_text())
    man["results"] = results_record((dest / "results.csv").read_text())
    man["results_kept"] = ("the rows after training and the base model's; every snapshot: "
                           "python experiments/cot_lm/reference.py " + name)
    (dest / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    for png in pngs:
        shutil.copyfile(png, dest / "figures" / png.name)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"experiments to refresh (default: all of {', '.join(NAMES)})")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = ap.parse_args()
    bad = sorted(set(args.names) - set(NAMES))
    if bad:
        ap.error(f"NAME must be among {', '.join(NAMES)}; got {', '.join(bad)}")
    # every sweep before any file is copied: a manifest records the git revision, clean only
    # while nothing of experiments/cot_lm/results/ has changed yet
    for name in args.names or NAMES:
        sweep(name, args.workers)
    for name in args.names or NAMES:
        print(f"{name}: {publish(name)}")


if __name__ == "__main__":
    main()
