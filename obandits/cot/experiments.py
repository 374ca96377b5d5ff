"""The model of the Spec 2 §4 experiments: what one seed of one configuration computes.

A configuration (:class:`ExperimentConfig`) fixes the chain, the pretraining, the instances and
the budgets; a method (:class:`MethodSpec`, the rows of table (a)) is the base model, an RL run
(:mod:`.posttrain`), the closed-form KL tilt, or a selection rule (:mod:`.select`). Every seed
pretrains one model that all methods of that seed start from (paired comparison); pretraining,
instances and each method's RL or selection run have their own random stream from
:mod:`obandits.seeding`, keyed by ``(root_seed, "{stream}/...")`` and the seed, never by the
order of work. Policy metrics are exact (layer DP and exact ``p_q``); selection rules are
measured on a pool of selected CoTs (Monte Carlo, unbiased pass@K).

The experiments themselves -- (a) table, (b) forgetting curves, (c) sensitivity, (d) outcome
bonuses -- are sweeps of :mod:`.runner` (configs in ``experiments/cot/``); tables, claims and
figures come from their results tables (:mod:`.analysis`, :mod:`.figures`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from .. import _validate as v
from ..bonuses import METHODS as BONUS_METHODS_ALLOWED
from ..options import option
from ..seeding import rep_generators, rep_states
from .chain import (
    ChainConfig,
    TreeChain,
    build_chain,
    coverage,
    is_easy,
    kl_tilted_policy,
    paper_config,
)
from .instances import Instances, exact_pass_at_k, make_instances, mc_pass_at_k
from .learner import PretrainConfig, policy, pretrain, support_error
from .posttrain import RLConfig, post_train
from .select import SelectConfig, select_pool

KINDS = ("rl", "kl-closed", "select", "base")


@dataclass(frozen=True)
class MethodSpec:
    """One row of the tables: the base model (``kind='base'``), an RL run (``rl`` = the
    algorithm, with the outcome bonus ``bonus`` inside GRPO, and the remedies ``reject`` /
    ``kl`` switched on at the configuration's settings), the closed-form KL tilt
    (``'kl-closed'``), or a selection rule (``'select'``, ``select`` = its method)."""

    name: str
    kind: str = "rl"
    rl: str = ""
    bonus: str = "none"
    reject: bool = False
    kl: bool = False
    select: str = ""

    def __post_init__(self) -> None:
        v.choice("kind", self.kind, KINDS)
        v.choice("bonus", self.bonus, BONUS_METHODS_ALLOWED)


PAPER_METHODS = (
    MethodSpec("base", "base"),
    MethodSpec("REINFORCE", rl="reinforce"),
    MethodSpec("RAFT", rl="raft"),
    MethodSpec("PPO", rl="ppo"),
    MethodSpec("GRPO", rl="grpo"),
    MethodSpec("REINFORCE+reject", rl="reinforce", reject=True),
    MethodSpec("GRPO+reject", rl="grpo", reject=True),
    MethodSpec("REINFORCE+KL", rl="reinforce", kl=True),
    MethodSpec("GRPO+KL", rl="grpo", kl=True),
    MethodSpec("KL closed form", "kl-closed"),
    MethodSpec("ORM best-of-N", "select", select="orm-bon"),
    MethodSpec("soft best-of-N", "select", select="soft-bon"),
    MethodSpec("PRM best-of-N", "select", select="prm-bon"),
    MethodSpec("DPRM sampling", "select", select="dprm"),
)
BONUS_METHODS = (
    MethodSpec("GRPO+UCB-Con", rl="grpo", bonus="ucb-con"),
    MethodSpec("GRPO+Batch", rl="grpo", bonus="batch"),
)
RL_ONLY = tuple(m for m in PAPER_METHODS if m.kind == "rl")
METHODS = {m.name: m for m in (*PAPER_METHODS, *BONUS_METHODS)}
METRICS = ("easy", "hard", "invalid", "pass_all", "pass_rare")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one experiment needs (defaults: the paper's configuration, Spec 2 §1-4).

    ``rl`` is the base :class:`RLConfig`: a method sets its algorithm, its bonus method (the
    other bonus fields, ``rl.bonus.c`` ..., are the configuration's) and switches the remedies
    on at ``reject`` / ``kl_beta``.
    """

    chain: ChainConfig = field(default_factory=paper_config,
                               metadata={"help": "the tree Markov chain"})
    pretrain: PretrainConfig = field(default_factory=PretrainConfig,
                                     metadata={"help": "pretraining schedule"})
    rl: RLConfig = field(default_factory=RLConfig, metadata={"help": "post-training"})
    select: SelectConfig = field(default_factory=SelectConfig,
                                 metadata={"help": "selection rules"})
    train_task: int = option(0, "task RL trains on (0 = TASK1)")
    n_train: int = option(200, "training instances of the training task")
    n_eval: int = option(2000, "evaluation instances per task")
    k: int = option(30, "K of pass@K")
    eval_temperature: float = option(0.5, "sampling temperature of pass@K (coverage is "
                                          "measured at 1)")
    reject: int = option(5, "rejection threshold of the +reject methods (paper: 5)")
    kl_beta: float = option(1.0, "KL strength of the +KL methods and the closed form")
    kl_tau: float = option(0.5, "tau of the closed-form KL tilt")
    reps: int = option(5, "seeds")
    root_seed: int = option(0, "root seed")

    def __post_init__(self) -> None:
        v.int_scalar("train_task", self.train_task, min_value=0,
                     max_value=len(self.chain.tasks) - 1)
        v.int_scalar("n_train", self.n_train, min_value=1)
        v.int_scalar("n_eval", self.n_eval, min_value=1)
        v.int_scalar("k", self.k, min_value=1)
        if self.select.pool < self.k:
            raise ValueError(f"select.pool must be >= k (pass@K needs K samples per instance), "
                             f"got pool={self.select.pool} < k={self.k}")
        v.finite_scalar("eval_temperature", self.eval_temperature, min_value=0.0,
                        strict_min=True)
        v.int_scalar("reject", self.reject, min_value=1)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0, strict_min=True)
        v.finite_scalar("kl_tau", self.kl_tau, min_value=0.0)
        v.int_scalar("reps", self.reps, min_value=1)
        v.int_scalar("root_seed", self.root_seed, min_value=0)

    def rl_for(self, spec: MethodSpec) -> RLConfig:
        """The :class:`RLConfig` of an RL method under this configuration."""
        return replace(self.rl, method=spec.rl, bonus=replace(self.rl.bonus, method=spec.bonus),
                       reject=self.reject if spec.reject else 0,
                       kl_beta=self.kl_beta if spec.kl else 0.0)


# ------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------


def _has_solvable(inst, subset) -> bool:
    mask = inst.solvable if subset is None else (inst.solvable & subset)
    return bool(mask.any())


def _safe_pass(chain, inst, Q, k, subset=None):
    """pass@K, or None when no instance of this kind was drawn (other errors propagate)."""
    return exact_pass_at_k(chain, inst, Q, k, subset) if _has_solvable(inst, subset) else None


def _safe_mc(chain, inst, pool, k, subset=None):
    return mc_pass_at_k(inst, chain, pool, k, subset) if _has_solvable(inst, subset) else None


def policy_metrics(chain: TreeChain, evals: list[Instances], theta: np.ndarray, k: int,
                   temperature: float) -> dict:
    """Exact coverage (T=1) and pass@K (at ``temperature``) of a policy on every task."""
    Q1, Qt = policy(theta), policy(theta, temperature)
    out = {}
    for t, inst in enumerate(evals):
        e, h, i = coverage(chain, t, Q1)
        out[t] = dict(easy=e, hard=h, invalid=i, pass_all=_safe_pass(chain, inst, Qt, k),
                      pass_rare=_safe_pass(chain, inst, Qt, k, inst.rare_only))
    return out


def select_metrics(chain: TreeChain, evals: list[Instances], theta: np.ndarray,
                   cfg: SelectConfig, k: int, temperature: float, states) -> dict:
    """Coverage and pass@K of a selection rule from pools (candidates at T=1 for coverage and
    at ``temperature`` for pass@K)."""
    out = {}
    for t, inst in enumerate(evals):
        pool1 = select_pool(chain, t, theta, cfg, states[2 * t], 1.0)
        poolt = select_pool(chain, t, theta, cfg, states[2 * t + 1], temperature)
        g = chain.tasks[t][1]
        val = pool1[:, -1] == g
        easy = is_easy(chain, pool1)
        out[t] = dict(easy=float(np.mean(val & easy)), hard=float(np.mean(val & ~easy)),
                      invalid=float(np.mean(~val)), pass_all=_safe_mc(chain, inst, poolt, k),
                      pass_rare=_safe_mc(chain, inst, poolt, k, inst.rare_only))
    return out


# ------------------------------------------------------------------------------------------
# One seed: the pretrained model (memoised per process), then every method
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SeedContext:
    """What every method of one seed shares: the chain, the pretrained model, the training
    and evaluation instances. Read only (the memo hands the same object to later cells)."""

    chain: TreeChain
    theta0: np.ndarray
    train: Instances
    evals: tuple
    pretrain_error: float


_CONTEXTS: OrderedDict = OrderedDict()
MEMO_SIZE = 32
PRETRAIN_CALLS = [0]  # pretrainings run in this process (tests check the memo with it)


def _stream(root_seed: int, key: str, seed: int) -> np.ndarray:
    """Stream ``seed`` of ``(root_seed, key)`` (the same whatever the number of seeds)."""
    return rep_states(root_seed, key, seed + 1)[seed]


def seed_context(cfg: ExperimentConfig, seed: int, stream: str) -> SeedContext:
    """The pretrained model and instances of ``seed``, computed once per process: the memo key
    is everything they depend on (chain, pretraining, task, instance counts, root seed,
    stream, seed), so a cell of another configuration never reuses them. A worker running
    several cells of one configuration (the methods of table (a)) pretrains each seed once."""
    key = (cfg.chain, cfg.pretrain, cfg.train_task, cfg.n_train, cfg.n_eval, cfg.root_seed,
           stream, seed)
    ctx = _CONTEXTS.get(key)
    if ctx is not None:
        _CONTEXTS.move_to_end(key)
        return ctx
    chain = build_chain(cfg.chain)
    theta0, _ = pretrain(chain, cfg.pretrain, _stream(cfg.root_seed, f"{stream}/pretrain", seed),
                         trace=False)
    PRETRAIN_CALLS[0] += 1
    theta0.flags.writeable = False
    gen = rep_generators(cfg.root_seed, f"{stream}/instances", seed + 1)[seed]
    train = make_instances(chain, cfg.train_task, cfg.n_train, gen)
    evals = tuple(make_instances(chain, t, cfg.n_eval, gen) for t in range(len(chain.tasks)))
    ctx = SeedContext(chain, theta0, train, evals,
                      float(support_error(chain, policy(theta0))))
    _CONTEXTS[key] = ctx
    while len(_CONTEXTS) > MEMO_SIZE:
        _CONTEXTS.popitem(last=False)
    return ctx


def clear_memo() -> None:
    """Forget the memoised pretrained models (benchmarks that time pretraining)."""
    _CONTEXTS.clear()


def run_seed(cfg: ExperimentConfig, methods, seed: int, stream: str = "paper",
             curves: bool = False) -> dict:
    """All ``methods`` on one seed: ``{"final": {method: {task: metrics}}, "curves": {method:
    {"iters": [...], "theta": [...], task: {metric: [...]}}}, "theta": {method: final logits},
    "pretrain_error"}`` (``theta`` for the base model and RL methods);
    ``final[method]["rejected"]`` counts an RL run's rejected instances. ``curves``: the metrics
    of every RL snapshot
    (``cfg.rl.snap_every``), for the forgetting curves."""
    ctx = seed_context(cfg, seed, stream)
    chain, evals = ctx.chain, list(ctx.evals)
    theta0 = np.array(ctx.theta0)  # a writable copy for the kernels
    res = {"final": {}, "curves": {}, "theta": {}, "pretrain_error": ctx.pretrain_error}
    for spec in methods:
        if spec.kind == "base":
            res["theta"][spec.name] = theta0
            res["final"][spec.name] = policy_metrics(chain, evals, theta0, cfg.k,
                                                     cfg.eval_temperature)
        elif spec.kind == "kl-closed":
            Qk = kl_tilted_policy(chain, cfg.train_task, policy(theta0), cfg.kl_tau,
                                  cfg.kl_beta)
            res["final"][spec.name] = policy_metrics(chain, evals, np.log(Qk), cfg.k,
                                                     cfg.eval_temperature)
        elif spec.kind == "select":
            sc = replace(cfg.select, method=spec.select)
            sts = rep_states(cfg.root_seed, f"{stream}/select/{spec.name}/{seed}",
                             2 * len(chain.tasks))
            res["final"][spec.name] = select_metrics(chain, evals, theta0, sc, cfg.k,
                                                     cfg.eval_temperature, sts)
        else:
            st = _stream(cfg.root_seed, f"{stream}/rl/{spec.name}", seed)
            run = post_train(chain, theta0, ctx.train, cfg.rl_for(spec), st)
            res["theta"][spec.name] = run.theta
            res["final"][spec.name] = policy_metrics(chain, evals, run.theta, cfg.k,
                                                     cfg.eval_temperature)
            res["final"][spec.name]["rejected"] = run.rejected
            if curves:
                cur = {"iters": run.snap_iters.tolist(), "theta": list(run.snaps)}
                per = [policy_metrics(chain, evals, th, cfg.k, cfg.eval_temperature)
                       for th in run.snaps]
                for t in range(len(evals)):
                    cur[t] = {m: [p[t][m] for p in per] for m in METRICS}
                res["curves"][spec.name] = cur
    return res


def run_seeds(cfg: ExperimentConfig, methods, stream: str = "paper", curves: bool = False,
              progress: bool = True) -> list[dict]:
    """:func:`run_seed` for seeds ``0 .. cfg.reps - 1``."""
    from tqdm import tqdm

    it = range(cfg.reps)
    if progress:
        it = tqdm(it, desc=f"cot {stream}", unit="seed", leave=False)
    return [run_seed(cfg, methods, s, stream, curves) for s in it]
