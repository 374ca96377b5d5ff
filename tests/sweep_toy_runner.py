"""A minimal sweep runner for tests (registered as "toy" by the tests): no validation, so
cells keep only the names they set. ``fail = true`` in a cell raises; ``sleep`` waits;
``pid_dir`` names a directory where the process running the cell leaves a file named by its
pid."""

import os
import time
from pathlib import Path

import numpy as np

from obandits.runners import Runner
from obandits.seeding import rep_generators
from obandits.tables import markdown_table


def run_cell(params, root_seed, cell_key, reps):
    if params.get("fail"):
        raise RuntimeError(f"toy cell failed on purpose (K={params.get('K')})")
    if params.get("pid_dir"):
        (Path(params["pid_dir"]) / str(os.getpid())).touch()
    time.sleep(float(params.get("sleep", 0.0)))
    gens = rep_generators(root_seed, cell_key, reps)
    return {"rep": np.arange(reps), "val": np.array([g.random() for g in gens])}


def _summarise(table, raw):
    return markdown_table(["rows"], [[len(table["rep"])]])


RUNNER = Runner(name="toy", validate=dict, run_cell=run_cell, summarise=_summarise,
                figures=lambda table, raw, out: [])
