"""An example sweep runner shipped as its own package (docs/pipeline.md §5).

A cell flips a coin of bias ``p`` ``T`` times per repetition and reports the share of heads;
the claim is that the share is within 3 standard errors of ``p``.
"""

import numpy as np

from obandits.runners import Runner
from obandits.seeding import rep_generators
from obandits.tables import markdown_table

DEFAULTS = {"p": 0.5, "T": 100}


def validate(params: dict) -> dict:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"coin cell: unknown parameter(s) {sorted(unknown)}; allowed: "
                         f"{sorted(DEFAULTS)}")
    out = {**DEFAULTS, **params}
    p, t = out["p"], out["T"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a number in [0, 1], got {p!r}")
    if isinstance(t, bool) or not isinstance(t, int) or t < 1:
        raise ValueError(f"T must be an integer >= 1, got {t!r}")
    return {"p": float(p), "T": t}


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict:
    gens = rep_generators(root_seed, cell_key, reps)
    heads = np.array([g.binomial(params["T"], params["p"]) for g in gens])
    return {"rep": np.arange(reps), "share": heads / params["T"]}


def summarise(table: dict, raw_config: dict) -> str:
    rows = [[p, float(np.mean(table["share"][table["p"] == p]))] for p in np.unique(table["p"])]
    return markdown_table(["p", "mean share"], rows)


def check(table: dict, raw_config: dict) -> list[dict]:
    out = []
    for p in np.unique(table["p"]):
        sel = table["p"] == p
        share, t = table["share"][sel], table["T"][sel]
        se = np.sqrt(p * (1 - p) / t.min() / sel.sum()) or 1e-12
        out.append({"claim": f"p={p}", "text": "mean share within 3 s.e. of p",
                    "value": float(share.mean()), "ci": None,
                    "holds": bool(abs(share.mean() - p) <= 3 * se), "where": "results.csv"})
    return out


RUNNER = Runner(name="coin", validate=validate, run_cell=run_cell, summarise=summarise,
                figures=lambda table, raw_config, out_dir: [], check=check)
