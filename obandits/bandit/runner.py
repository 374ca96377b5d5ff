"""The bandit runner of :mod:`obandits.sweep` (``[sweep] runner = "bandit"``): :data:`RUNNER`.

A cell is (family, K, m, gap, reward, family options, learner and its parameters, horizon T,
checkpoints per octave). Repetition ``i`` draws its own instance (e.g. a fresh needle position)
from ``rep_generators(root_seed, key + "#instance")[i]`` and runs the learner from the xoshiro
state ``rep_states(root_seed, key)[i]``. Rows: ``rep``, ``t`` (checkpoint), ``regret``
(pseudo-regret ``R_t``).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..runners import Runner
from ..seeding import rep_generators, rep_states
from ..tables import markdown_table
from . import analysis, figures
from .instances import FAMILIES, REWARDS, make_instance
from .learners import LEARNERS, LearnerConfig, checkpoints, run_learner
from .params import DEFAULTS, REQUIRED, key_params

MAX_WORK = 5e11  # pulls x arms per repetition beyond which a cell is refused (hours of CPU)


def validate_cell(params: dict) -> dict:
    """Fill defaults and check every parameter (ValueError naming it); returns the cell."""
    allowed = sorted(set(REQUIRED) | set(DEFAULTS))
    unknown = sorted(set(params) - set(allowed))
    if "c" in unknown:
        raise ValueError("bandit parameter 'c' is now 'klucb_c' (KL-UCB's log log t "
                         "coefficient); rename it")
    if unknown:
        from ..sweep import did_you_mean

        raise ValueError(f"unknown bandit parameters {unknown}"
                         f"{did_you_mean(unknown[0], allowed)}; allowed: {allowed}")
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise ValueError(f"bandit cell needs {missing}")
    p = {**DEFAULTS, **params}
    v.choice("family", p["family"], FAMILIES)
    v.choice("learner", p["learner"], LEARNERS)
    v.choice("reward", p["reward"], REWARDS)
    p["K"] = v.int_scalar("K", p["K"], min_value=1)
    p["m"] = v.int_scalar("m", p["m"], min_value=1, max_value=p["K"])
    p["T"] = v.int_scalar("T", p["T"], min_value=1)
    p["gap"] = v.finite_scalar("gap", p["gap"], min_value=0.0, max_value=1.0)
    for k in ("alpha", "klucb_c", "needle_frac", "zipf_s", "correct_mass"):
        p[k] = float(v.finite_scalar(k, p[k], min_value=0.0))
    p["checkpoints_per_octave"] = v.int_scalar("checkpoints_per_octave",
                                               p["checkpoints_per_octave"], min_value=1,
                                               max_value=64)
    LearnerConfig(p["learner"], p["alpha"], p["klucb_c"])
    if p["reward"] == "deterministic" and p["gap"] not in (0.0, 1.0):
        raise ValueError(f"deterministic (verifiable) rewards need mu in {{0, 1}}, i.e. gap 1 "
                         f"(or 0), got gap={p['gap']}")
    # Build one instance now so family constraints (needle m >= 2 ...) fail before any work.
    _instance(p, np.random.default_rng(0))
    arms = 1 if p["learner"] in ("uniform", "outcome-ucb") else p["K"]
    if float(p["T"]) * arms > MAX_WORK:
        raise ValueError(f"T * K = {float(p['T']) * arms:.3g} for learner {p['learner']} is "
                         f"beyond {MAX_WORK:.0e} per repetition; lower T or K")
    return p


def _instance(p: dict, rng):
    return make_instance(p["family"], p["K"], p["m"], p["gap"], rng, reward=p["reward"],
                         needle_frac=p["needle_frac"], zipf_s=p["zipf_s"],
                         correct_mass=p["correct_mass"])


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """Pseudo-regret of one cell: columns ``rep``, ``t``, ``regret`` (reps x checkpoints)."""
    p = validate_cell(params)
    insts = [_instance(p, g) for g in rep_generators(root_seed, cell_key + "#instance", reps)]
    ck = checkpoints(p["T"], p["checkpoints_per_octave"])
    reg = run_learner(LearnerConfig(p["learner"], p["alpha"], p["klucb_c"]), insts, p["T"], ck,
                      rep_states(root_seed, cell_key, reps))
    return {"rep": np.repeat(np.arange(reps), len(ck)), "t": np.tile(ck, reps),
            "regret": reg.ravel()}


def summary(table: dict, raw: dict | None = None) -> str:
    """Minimax proxy at each group's horizon (largest mean regret over gaps)."""
    analysis._need_columns(table)
    mm = analysis.minimax_table(table)
    last = [r for r in mm if r["t"] == r["T"]]
    last.sort(key=lambda r: (r["family"], r["learner"], r["m"], r["K"], r["T"]))
    rows = [[r["family"], r["learner"], r["K"], r["m"], r["T"], r["regret"], r["ci_low"],
             r["ci_high"], r["gap"]] for r in last]
    return ("Minimax proxy (max over gaps of mean pseudo-regret at T; 95% bootstrap CI):\n\n"
            + markdown_table(["family", "learner", "K", "m", "T", "regret", "ci_low", "ci_high",
                              "argmax gap"], rows, digits=2))


RUNNER = Runner(name="bandit", validate=validate_cell, run_cell=run_cell, summarise=summary,
                figures=figures.make_figures, check=analysis.claims, key=key_params)
