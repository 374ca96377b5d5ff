"""The cot runner of :mod:`obandits.sweep` (``[sweep] runner = "cot"``): :data:`RUNNER`.

A cell is one method (a name of :data:`~obandits.cot.experiments.METHODS`: the rows of the
paper's table (a) and the two outcome-bonus rows) x one configuration; it runs ``reps`` seeds.
Seed ``r`` uses the streams ``(root_seed, "{stream}/...")`` of the experiment model
(:func:`~obandits.cot.experiments.run_seed`), not the cell key: every method of a
configuration starts from the same pretrained model (paired comparison), which a worker
pretrains once per seed and reuses across its cells
(:func:`~obandits.cot.experiments.seed_context`). The experiments of Spec 2 §4 are the configs
``experiments/cot/{paper,forgetting,sensitivity,bonuses}.toml``.

Columns, one row per seed x task (x RL snapshot when ``curves``): ``rep``, ``task``, ``iter``
(RL iterations done: the final row of an RL method has ``iter = iters``, its snapshots fewer;
0 for methods without RL), ``easy``, ``hard``, ``invalid`` (exact coverage at temperature 1),
``pass_all``, ``pass_rare`` (pass@k at ``eval_temperature``; NaN when that seed drew no
instance of the kind -- left out of the means by :mod:`obandits.cot.analysis`), ``rejected``
(RL rejections; NaN for methods without RL and for snapshots), ``pretrain_error``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..bonuses import BonusConfig
from ..runners import Runner
from . import analysis
from . import figures as _figures
from .chain import ChainConfig, paper_config, two_task_config
from .experiments import METHODS, METRICS, ExperimentConfig, run_seed
from .learner import PretrainConfig
from .params import (  # noqa: F401  (the runner's public names, as before)
    BONUS_KEYS,
    CHAIN_KEYS,
    DEFAULTS,
    EXPERIMENT_KEYS,
    HELP,
    PRETRAIN_KEYS,
    RENAMED,
    RL_KEYS,
    SELECT_KEYS,
)
from .posttrain import RLConfig
from .select import SelectConfig


def validate_cell(params: dict) -> dict:
    """Fill defaults and check every parameter (ValueError naming it); returns the cell."""
    allowed = sorted({"method", *DEFAULTS})
    for k in sorted(set(params) - set(allowed)):
        if k in RENAMED:
            raise ValueError(f"cot parameter {k!r} is called {RENAMED[k]!r} here; rename it")
        from ..sweep import did_you_mean

        raise ValueError(f"unknown cot parameter {k!r}{did_you_mean(k, allowed)}; "
                         f"allowed: {allowed}")
    if "method" not in params:
        raise ValueError(f"cot cell needs 'method' (one of {list(METHODS)})")
    p = {**DEFAULTS, **params}
    v.choice("method", p["method"], tuple(METHODS))
    if not isinstance(p["stream"], str) or not p["stream"]:
        raise ValueError(f"stream must be a non-empty string, got {p['stream']!r}")
    if not isinstance(p["curves"], (bool, np.bool_)):
        raise ValueError(f"curves must be true or false, got {p['curves']!r}")
    config(p, 1, 0)  # the dataclasses validate every field
    return p


def chain_config(p: dict) -> ChainConfig:
    """The paper's chain at L=4, M0=M=2, else its two tasks at any depth."""
    if p["L"] == 4 and p["M"] == 2 and p["M0"] == 2:
        return paper_config(eps=p["eps"], C_size=p["C_size"])
    return two_task_config(L=p["L"], M0=p["M0"], M=p["M"], C_size=p["C_size"], eps=p["eps"])


def config(p: dict, reps: int, root_seed: int) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of a cell; RL snapshots every ``min(25, iters // 4)``."""
    it = v.int_scalar("iters", p["iters"], min_value=1)
    bonus = BonusConfig(**{k: p[k] for k in BONUS_KEYS})
    rl = RLConfig(**{k: p[k] for k in RL_KEYS}, bonus=bonus,
                  snap_every=max(1, min(25, it // 4)))
    return ExperimentConfig(
        chain=chain_config(p), pretrain=PretrainConfig(**{k: p[k] for k in PRETRAIN_KEYS}),
        rl=rl, select=SelectConfig(**{f: p[k] for k, f in SELECT_KEYS.items()}),
        **{k: p[k] for k in EXPERIMENT_KEYS}, reps=reps, root_seed=root_seed)


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` seeds of one method (streams as described in the module doc)."""
    p = validate_cell(params)
    reps = v.int_scalar("reps", reps, min_value=1)
    cfg = config(p, reps, int(root_seed))
    spec = METHODS[p["method"]]
    curves = bool(p["curves"]) and spec.kind == "rl"
    cols: dict[str, list] = {}

    def add(rep, t, it, metrics, rejected, perr):
        row = {"rep": rep, "task": t, "iter": it, **{m: _num(metrics[m]) for m in METRICS},
               "rejected": _num(rejected), "pretrain_error": perr}
        for k, x in row.items():
            cols.setdefault(k, []).append(x)

    for rep in range(reps):
        res = run_seed(cfg, [spec], rep, p["stream"], curves)
        final = res["final"][spec.name]
        perr = res["pretrain_error"]
        last = cfg.rl.iters if spec.kind == "rl" else 0
        for t in (k for k in final if isinstance(k, int)):
            if curves:
                cur = res["curves"][spec.name]
                for j, it in enumerate(cur["iters"]):
                    if it < last:  # the snapshot at `iters` is the final row
                        add(rep, t, it, {m: cur[t][m][j] for m in METRICS}, None, perr)
            add(rep, t, last, final[t], final.get("rejected"), perr)
    return {k: np.asarray(x) for k, x in cols.items()}


RUNNER = Runner(name="cot", validate=validate_cell, run_cell=run_cell,
                summarise=analysis.summarise, figures=_figures.from_table,
                check=analysis.claims)
