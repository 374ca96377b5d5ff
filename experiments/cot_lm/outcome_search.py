"""Issue 23 (c), step 1: choose a chain where the tabular model predicts an outcome-bonus effect.

Runs ``outcome_search.toml`` (the ``cot`` runner; seconds) into ``runs/cot-lm/outcome-search``
and prints, per chain and bonus scale, each bonus method's effect on TASK1 pass@30 against GRPO
(paired by seed) with its standard error over seeds and the ratio of the two; a chain qualifies
when the effect exceeds 3 standard errors. The network run on the chosen chain is
``outcome.toml``. Usage: ``python experiments/cot_lm/outcome_search.py [--out DIR]``.
"""

import argparse
from pathlib import Path

import numpy as np

import obandits
from obandits.results import read_table
from obandits.tables import markdown_table

HERE = Path(__file__).parent
KNOBS = ("M", "eps", "c")


def effects(table: dict, metric: str = "pass_all", task: int = 0) -> list[list]:
    """Rows ``[M, eps, c, GRPO mean, method, effect, se, effect / se]``."""
    fin = np.asarray(table["task"]) == task
    rows = []
    for key in sorted(set(zip(*(table[k] for k in KNOBS)))):
        sel = fin & np.all([np.asarray(table[k]) == x for k, x in zip(KNOBS, key)], axis=0)

        def series(m, sel=sel):
            pick = sel & (np.asarray(table["method"]) == m)
            return dict(zip(table["rep"][pick].tolist(), table[metric][pick].tolist()))

        base = series("GRPO")
        for m in ("GRPO+UCB-Con", "GRPO+Batch"):
            other = series(m)
            d = np.array([other[r] - base[r] for r in sorted(set(base) & set(other))])
            se = d.std(ddof=1) / np.sqrt(len(d))
            rows.append([*key, f"{np.mean(list(base.values())):.3f}", m, f"{d.mean():+.4f}",
                         f"{se:.4f}", f"{d.mean() / se:+.1f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/cot-lm/outcome-search")
    args = ap.parse_args()
    obandits.run(str(HERE / "outcome_search.toml"), out=args.out)
    table = read_table(Path(args.out) / "results.csv")
    print(markdown_table([*KNOBS, "GRPO pass@30", "bonus", "effect", "se", "effect / se"],
                         effects(table)))


if __name__ == "__main__":
    main()
