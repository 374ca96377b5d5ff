"""The rlsim runner of :mod:`obandits.sweep` (``[sweep] runner = "rlsim"``): :data:`RUNNER`.

A cell is one method (a bonus method, ``none`` = plain GRPO, or ``base`` = base-model
sampling) x one model/training configuration; it runs ``reps`` repetitions. Repetition ``r``
uses the model seed and sampling stream of today's ``obandits rlsim compare`` with
``root_seed`` (``cell_sequence(root_seed, "rlsim/model/r")`` and stream ``r`` of
``(root_seed, "rlsim/train")``), *not* the cell key: every method of a sweep sees the same
models and streams (common random numbers, which the paired claims C1-C4 rely on), and the
numbers are bit-identical to ``rlsim compare`` for the same seeds.

Columns (one row per repetition x evaluation checkpoint): ``rep``, ``checkpoint``, ``step``,
the :class:`~obandits.rlsim.trainer.RunResult` series, ``n_hard``, and test pass@k as
``test_pass_k{k}`` (one column per ``k`` of ``ks``). The claims and figures are computed from
this table alone (:mod:`obandits.rlsim.analysis`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import _validate as v
from ..bonuses import METHODS
from ..runners import Runner
from . import analysis
from . import figures as _figures
from .experiment import BASE, _run_one
from .params import (  # noqa: F401  (the runner's public names, as before)
    BONUS_KEYS,
    DEFAULTS,
    MODEL_KEYS,
    PAIRS,
    REQUIRED,
    SERIES,
    TRAIN_KEYS,
    _config,
    _ks,
)


def validate_cell(params: dict) -> dict:
    """Fill defaults and check every parameter (ValueError naming it); returns the cell."""
    allowed = sorted(set(REQUIRED) | set(DEFAULTS))
    unknown = sorted(set(params) - set(allowed))
    renamed = {"n": "n_rollouts", "beta_kl": "kl_beta", "seeds": "reps", "n_seeds": "reps"}
    for k in unknown:
        if k in renamed:
            raise ValueError(f"rlsim parameter {k!r} is now {renamed[k]!r}; rename it")
    if unknown:
        from ..sweep import did_you_mean

        raise ValueError(f"unknown rlsim parameters {unknown}"
                         f"{did_you_mean(unknown[0], allowed)}; allowed: {allowed}")
    if "method" not in params:
        raise ValueError(f"rlsim cell needs 'method' (one of {[*METHODS, BASE]})")
    p = {**DEFAULTS, **params}
    v.choice("method", p["method"], (*METHODS, BASE))
    p["ks"] = ",".join(str(k) for k in _ks(p["ks"]))
    _config(p)  # the dataclasses validate every field
    return p


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` runs of the cell's method (seeds as ``rlsim compare``, see the module doc)."""
    p = validate_cell(params)
    v.int_scalar("reps", reps, min_value=1)
    cfg = replace(_config(p), root_seed=int(root_seed), reps=int(reps))
    cols: dict[str, list] = {}
    for rep in range(reps):
        r = _run_one(cfg, p["method"], rep)
        e = len(r.steps)
        row = {"rep": np.full(e, rep), "checkpoint": np.arange(e), "step": r.steps,
               "n_hard": np.full(e, r.n_hard)}
        row |= {s: np.asarray(getattr(r, s), float) for s in SERIES}
        for s in PAIRS:
            a = np.asarray(getattr(r, s), float)
            row |= {f"{s}0": a[:, 0], f"{s}1": a[:, 1]}
        row |= {f"test_pass_k{k}": r.test_pass[:, i] for i, k in enumerate(r.ks)}
        for k, a in row.items():
            cols.setdefault(k, []).append(np.asarray(a))
    return {k: np.concatenate(a) for k, a in cols.items()}


def summarise(table: dict, raw: dict | None = None) -> str:
    """Claims C1-C4 per configuration (markdown)."""
    return analysis.report(table)


RUNNER = Runner(name="rlsim", validate=validate_cell, run_cell=run_cell, summarise=summarise,
                figures=_figures.from_table, check=analysis.claims)
