"""The cot runner of :mod:`obandits.sweep` (``[sweep] runner = "cot"``): :data:`RUNNER`.

A cell is one method of the paper's table (a) (Spec 2 §4; a name of
:data:`~obandits.cot.experiments.PAPER_METHODS` or ``BONUS_METHODS``) x one configuration; it
runs ``reps`` seeds. Seed ``r`` uses exactly the streams of ``obandits cot paper`` with
``root_seed`` (pretraining ``(root_seed, "{stream}/pretrain")`` rep ``r``, instances, and the
method's own RL or selection stream, ``stream`` = ``"paper"`` by default), not the cell key:
every method of a configuration starts from the same pretrained model (paired comparison), and
the numbers equal ``cot paper``'s for the same seeds. The price: each cell pretrains its own
copy of the seed's model (identical bits; cells run in parallel instead).

Columns, one row per seed x task: ``rep``, ``task``, ``easy``, ``hard``, ``invalid`` (exact
coverage at temperature 1), ``pass_all``, ``pass_rare`` (pass@k at ``eval_temperature``; NaN
when that seed drew no instance of the kind -- ``cot paper`` leaves those seeds out of the mean,
and so does :mod:`obandits.cot.analysis`), ``rejected`` (RL rejections; NaN for methods
without RL), ``pretrain_error``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..runners import Runner
from . import analysis
from . import figures as _figures
from .chain import paper_config, two_task_config
from .experiments import BONUS_METHODS, METRICS, PAPER_METHODS, ExperimentConfig, run_seed
from .learner import PretrainConfig
from .posttrain import RLConfig
from .select import SelectConfig

METHODS = {m.name: m for m in (*PAPER_METHODS, *BONUS_METHODS)}
# TOML key -> default; the shared names (n_rollouts, kl_beta) map onto RLConfig's fields.
DEFAULTS: dict = {
    "L": 4, "M0": 2, "M": 2, "C_size": 1, "eps": 0.1,
    "T1": PretrainConfig.T1, "T2": PretrainConfig.T2, "eta": PretrainConfig.eta,
    "iters": RLConfig.iters, "n_rollouts": RLConfig.n_rollouts, "lr": RLConfig.lr,
    "select_n": SelectConfig.n, "pool": SelectConfig.pool,
    "train_task": ExperimentConfig.train_task, "n_train": ExperimentConfig.n_train,
    "n_eval": ExperimentConfig.n_eval, "k": ExperimentConfig.k,
    "eval_temperature": ExperimentConfig.eval_temperature, "reject": ExperimentConfig.reject,
    "kl_beta": ExperimentConfig.kl_beta, "kl_tau": ExperimentConfig.kl_tau, "stream": "paper",
}
RENAMED = {"group": "n_rollouts", "beta": "kl_beta", "tau": "kl_tau", "seeds": "reps",
           "seed": "root_seed"}


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
    config(p, 1, 0)  # the dataclasses validate every field
    return p


def config(p: dict, reps: int, root_seed: int) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of a cell (as ``obandits cot`` builds it)."""
    if p["L"] == 4 and p["M"] == 2 and p["M0"] == 2:
        chain = paper_config(eps=p["eps"], C_size=p["C_size"])
    else:
        chain = two_task_config(L=p["L"], M0=p["M0"], M=p["M"], C_size=p["C_size"],
                                eps=p["eps"])
    it = v.int_scalar("iters", p["iters"], min_value=1)
    return ExperimentConfig(
        chain=chain, pretrain=PretrainConfig(T1=p["T1"], T2=p["T2"], eta=p["eta"]),
        rl=RLConfig(iters=it, n_rollouts=p["n_rollouts"], lr=p["lr"],
                    snap_every=max(1, min(25, it // 4))),
        select=SelectConfig(n=p["select_n"], pool=p["pool"]), train_task=p["train_task"],
        n_train=p["n_train"], n_eval=p["n_eval"], k=p["k"],
        eval_temperature=p["eval_temperature"], reject=p["reject"], kl_beta=p["kl_beta"],
        kl_tau=p["kl_tau"], seeds=reps, root_seed=root_seed)


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` seeds of one method (streams as ``cot paper``, see the module doc)."""
    p = validate_cell(params)
    reps = v.int_scalar("reps", reps, min_value=1)
    cfg = config(p, reps, int(root_seed))
    spec = METHODS[p["method"]]
    cols: dict[str, list] = {}
    for rep in range(reps):
        res = run_seed(cfg, [spec], rep, p["stream"])
        final = res["final"][spec.name]
        for t in (k for k in final if isinstance(k, int)):
            row = {"rep": rep, "task": t, **{m: _num(final[t][m]) for m in METRICS},
                   "rejected": _num(final.get("rejected")),
                   "pretrain_error": res["pretrain_error"]}
            for k, x in row.items():
                cols.setdefault(k, []).append(x)
    return {k: np.asarray(x) for k, x in cols.items()}


RUNNER = Runner(name="cot", validate=validate_cell, run_cell=run_cell,
                summarise=analysis.summarise, figures=_figures.from_table,
                check=analysis.claims)
