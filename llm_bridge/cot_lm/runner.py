"""The ``cot-lm`` sweep runner: a network and the tabular learner side by side (issue 23).

A cell is one method (:data:`~llm_bridge.cot_lm.posttrain.METHODS`) x one configuration; for
each seed ``rep`` it

1. takes the chain, the pretrained tabular model and the instances of
   :func:`obandits.cot.experiments.seed_context` (streams ``(root_seed, "{stream}/...")``, as
   the ``cot`` runner: a ``cot`` sweep with the same parameters gives the same tabular numbers);
2. runs the tabular method (:func:`obandits.cot.run_seed`, its RL stream) and evaluates its
   policy at every snapshot;
3. takes the pretrained network of the same chain and seed from the cache (pretraining it once
   if needed, :func:`llm_bridge.cot_lm.network.pretrained`), post-trains it through TRL on the
   same training instances, and evaluates it exactly (or by sampling) at every snapshot;

and writes both as rows of one table (``model = network | tabular``), the metrics computed by
the same functions (:mod:`obandits.cot.pathdist`). The TOML keys are the ``cot`` runner's for
the chain and the tabular side, ``net_*`` for the network. ``cache`` and ``torch_threads`` do
not enter a cell's key (they do not change its numbers).

Columns, one row per seed x model x task x snapshot: ``rep``, ``model``, ``task``, ``iter``
(steps done: TRL steps for the network, RL iterations for the table), ``frac`` (``iter`` over
the run's length), ``easy``, ``hard``, ``invalid``, ``malformed``, ``tv``, ``distinct``,
``pass_all``, ``pass_rare`` (at ``k``), ``pass_all@j`` / ``pass_rare@j`` for j = 1..30,
``rejected_share``, ``pretrain_tv``, ``exact`` (1: exact evaluation; 0: sampled). Timings are
not columns (a resumed sweep's table equals an uninterrupted one byte for byte): the manifest
has each cell's seconds, ``python -m bench cot_lm`` the step's parts.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

from obandits import _validate as v
from obandits.bonuses import BonusConfig
from obandits.cot import DEFAULTS as COT_DEFAULTS
from obandits.cot import MethodSpec, run_seed
from obandits.cot import validate_cell as validate_cot
from obandits.cot.experiments import seed_context
from obandits.cot.pathdist import PASS_KS
from obandits.cot.runner import config as cot_config
from obandits.runners import Runner

from . import analysis, figures
from .evaluate import network_metrics, tabular_metrics
from .network import LMPretrainConfig, NetConfig
from .params import DEFAULTS, NET_KEYS, NOT_IN_KEY
from .posttrain import METHODS, LMRLConfig, check_method

COLUMNS = ("easy", "hard", "invalid", "malformed", "tv", "distinct", "pass_all", "pass_rare",
           *(f"pass_{w}@{j}" for w in ("all", "rare") for j in PASS_KS))


def tabular_spec(name: str) -> MethodSpec:
    """The tabular method paired with a network method of the same name."""
    net = METHODS[name]
    if net is None:
        return MethodSpec(name, "base")
    return MethodSpec(name, rl="ppo" if net.scale_rewards == "none" else "grpo",
                      bonus=net.bonus, reject=net.reject, kl=net.kl)


# What the network side imports (the trl extra); torch is imported lazily, so without them the
# runner still loads (a sweep can name it) and is refused here, before any work.
NEEDS = ("torch", "transformers", "trl", "datasets")


def missing_packages() -> list[str]:
    """The packages of :data:`NEEDS` that are not installed."""
    return [m for m in NEEDS if importlib.util.find_spec(m) is None]


def validate_cell(params: dict) -> dict:
    """Fill defaults and check every parameter (ValueError naming it) before any work."""
    missing = missing_packages()
    if missing:
        raise ValueError(f"the cot-lm runner trains a network through TRL and needs the trl "
                         f"extra (missing: {', '.join(missing)}): pip install 'obandits[trl]'")
    allowed = sorted({"method", *DEFAULTS})
    for k in sorted(set(params) - set(allowed)):
        from obandits.sweep import did_you_mean

        raise ValueError(f"unknown cot-lm parameter {k!r}{did_you_mean(k, allowed)}; "
                         f"allowed: {allowed}")
    if "method" not in params:
        raise ValueError(f"cot-lm cell needs 'method' (one of {list(METHODS)})")
    p = {**DEFAULTS, **params}
    check_method(p["method"])
    net = METHODS[p["method"]]
    if net is not None and net.reject and net.bonus != "none":  # pragma: no cover - no such name
        raise ValueError("rejection with an outcome bonus has no tabular counterpart")
    # the tabular side: the cot runner's validation (its method list has no UCB / UCB-Mean
    # rows, so a method it knows stands in; the tabular spec is built from ours)
    validate_cot({k: x for k, x in p.items() if k in COT_DEFAULTS} | {"method": "GRPO"})
    net_config(p), pretrain_config(p), rl_config(p)
    v.int_scalar("max_exact", p["max_exact"], min_value=1)
    v.int_scalar("n_samples", p["n_samples"], min_value=1)
    v.int_scalar("torch_threads", p["torch_threads"], min_value=1)
    if not isinstance(p["cache"], str):
        raise ValueError(f"cache must be a folder path (a string), got {p['cache']!r}")
    v.choice("device", p["device"], ("cpu", "cuda", "auto"))
    return p


def _sub(p: dict, cls):
    """The config ``cls`` from the cell's ``net_*`` keys; an error names the key, not the
    field."""
    keys = {f: k for k, (c, f) in NET_KEYS.items() if c is cls}
    try:
        return cls(**{f: p[k] for f, k in keys.items()})
    except ValueError as exc:
        msg = str(exc)
        for f, k in sorted(keys.items(), key=lambda fk: -len(fk[0])):
            if msg.startswith((f + " ", f + "=")):
                raise ValueError(k + msg[len(f):]) from None
        raise


def net_config(p: dict) -> NetConfig:
    return _sub(p, NetConfig)


def pretrain_config(p: dict) -> LMPretrainConfig:
    return _sub(p, LMPretrainConfig)


def rl_config(p: dict) -> LMRLConfig:
    return _sub(p, LMRLConfig)


def cell_key(params: dict) -> dict:
    """A cell's key: its parameters less the ones that do not change its numbers."""
    return {k: x for k, x in params.items() if k not in NOT_IN_KEY}


def _rows(cols: dict, base: dict, metrics: dict) -> None:
    for t, m in metrics.items():
        row = {**base, "task": t, **{c: m[c] for c in COLUMNS}}
        for k, x in row.items():
            cols.setdefault(k, []).append(x)


def run_cell(params: dict, root_seed: int, cell_key_: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` seeds of one method, network and table (module doc)."""
    import torch

    from .network import device_type, load, pretrained
    from .posttrain import train

    p = validate_cell(params)
    reps = v.int_scalar("reps", reps, min_value=1)
    torch.set_num_threads(int(p["torch_threads"]))
    _quiet()
    cfg = cot_config({**p, "method": "GRPO"}, reps, int(root_seed))
    name = p["method"]
    spec = tabular_spec(name)
    rl = rl_config(p)
    exact = int(n_completions_of(cfg.chain) <= p["max_exact"])
    if not exact:
        print(f"cot-lm: {n_completions_of(cfg.chain)} completions per start (M^(L-1)) exceed "
              f"max_exact={p['max_exact']}: the network is evaluated by sampling "
              f"({p['n_samples']} per start, column exact = 0)", file=sys.stderr, flush=True)
    cols: dict[str, list] = {}
    nan = float("nan")
    k, temp = cfg.k, cfg.eval_temperature
    kw = dict(max_exact=p["max_exact"], n_samples=p["n_samples"])
    for rep in range(reps):
        # the tabular side (seed_context is memoised: run_seed and we share it)
        res = run_seed(cfg, [spec], rep, p["stream"], curves=bool(p["curves"]))
        ctx = seed_context(cfg, rep, p["stream"])
        chain, evals = ctx.chain, list(ctx.evals)
        base_tab = tabular_metrics(chain, np.array(ctx.theta0), evals, k, temp)
        tab_tv = base_tab[0]["tv"]
        fin = res["final"][name]
        rej = fin.get("rejected")
        tab_share = nan if rej is None or not spec.reject else rej / cfg.rl.iters
        last = cfg.rl.iters if spec.kind == "rl" else 0
        if spec.kind == "rl" and p["curves"]:
            cur = res["curves"][name]
            for it, th in zip(cur["iters"], cur["theta"]):
                if it < last:
                    _rows(cols, _base(rep, "tabular", it, last, nan, tab_tv, 1),
                          tabular_metrics(chain, th, evals, k, temp))
        _rows(cols, _base(rep, "tabular", last, last, tab_share, tab_tv, 1),
              tabular_metrics(chain, res["theta"][name], evals, k, temp))
        # the network side
        folder, meta = pretrained(chain, net_config(p), pretrain_config(p), int(root_seed),
                                  p["stream"], rep, p["cache"] or None, device=p["device"])
        if METHODS[name] is None:
            model, _ = load(folder)
            model.to(device_type(p["device"]))
            _rows(cols, _base(rep, "network", 0, 0, nan, meta["tv"], exact),
                  network_metrics(chain, model, evals, k, temp, seed=rep, **kw))
            continue
        snaps: list = []

        def on_eval(step, model, snaps=snaps, rep=rep, chain=chain, evals=evals):
            if p["curves"]:
                snaps.append((step, network_metrics(chain, model, evals, k, temp,
                                                    seed=1000 * rep + step, **kw)))

        bonus = BonusConfig(c=p["c"], b0=p["b0"], count_mode=p["count_mode"])
        seed = int(np.random.SeedSequence([int(root_seed), rep]).generate_state(1)[0])
        out = train(folder, chain, ctx.train, name, rl, kl_beta=cfg.kl_beta, reject=cfg.reject,
                    bonus=bonus, bonus_outcome=p["bonus_outcome"], seed=seed, on_eval=on_eval,
                    device=p["device"])
        for step, m in snaps:
            _rows(cols, _base(rep, "network", step, rl.steps, nan, meta["tv"], exact), m)
        _rows(cols, _base(rep, "network", rl.steps, rl.steps, out["rejected_share"], meta["tv"],
                          exact),
              network_metrics(chain, out["model"], evals, k, temp, seed=1000 * rep + rl.steps,
                              **kw))
    return {k: np.asarray(x) for k, x in cols.items()}


def n_completions_of(chain_cfg) -> int:
    return chain_cfg.M ** (chain_cfg.L - 1)


def _base(rep, model, it, last, share, tv, exact) -> dict:
    return {"rep": rep, "model": model, "iter": it, "frac": it / last if last else 0.0,
            "rejected_share": share, "pretrain_tv": tv, "exact": exact}


def _quiet() -> None:
    """TRL's and transformers' per-step warnings and weight-loading bars say nothing here."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(trl|transformers|torch)")
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


RUNNER = Runner(name="cot-lm", validate=validate_cell, run_cell=run_cell,
                summarise=analysis.summarise, figures=figures.from_table,
                check=analysis.claims, key=cell_key)
