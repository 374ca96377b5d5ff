"""A minimal sweep runner for tests: no validate_cell, so cells keep only the names they set."""

import numpy as np

from obandits.seeding import rep_generators


def run_cell(params, root_seed, cell_key, reps):
    gens = rep_generators(root_seed, cell_key, reps)
    return {"rep": np.arange(reps), "val": np.array([g.random() for g in gens])}
