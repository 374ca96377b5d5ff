"""Bu et al.'s own configuration of the Markov-CoT experiment (issue 14; Spec 2 with §4's
correction).

The authors' script is ``multi_task_tmc.py`` of github:DakeBU/Distribution-Bias-of-Post-training
(commit 6049bf5); line numbers ``l.N`` below refer to that file. :class:`Bu2025Config` holds
their ``PARAMS`` (l.1542-1565) with every policy sampling at temperature 1 (their ``PARAMS``
temperature 0.5 is never read; the 0.5 passed at l.1295-1339 is the ``tau`` of the KL tilt and
of ORM-TAS / DPRM), the conventions they score with, and switches for their quirks (off by
default; :meth:`Bu2025Config.authors` turns them on for an exact reproduction).

Their chain depends on ``--seed``: ``TMC.__init__`` (l.45-117) reseeds NumPy's global
generator and draws each state's high successors. Here the chain is an explicit edge list
(default: the seed-42 chain of their published run); :func:`authors_high_edges` replays their
selection rule for any seed, so a run can match the chain their script builds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ... import _validate as v
from ...options import option
from ..chain import TreeChain, chain_from_edges

#: Row names of their fine-tuned models, in their table's order (l.1562, l.1628-1651).
FINETUNE_METHODS = ("REINFORCE", "RAFT", "PPO", "Reinforce-rej")
RL_VARIANTS = ("authors", "group")
PPO_POTENTIALS = ("mc", "exact")
SCORINGS = ("sampled", "exact")
DENOMINATORS = ("all", "solvable")
BASE_STARTS = ("random", "task")

#: The chain their published run (seed 42) builds: high edges (layer, state, next). Layer 2
#: state 0 has two forced high edges (TASK1's 0000 and TASK2's 1001), hence P = 1/2, 1/2 there.
SEED42_HIGH_EDGES = ((0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 1), (2, 0, 0), (2, 0, 1), (2, 1, 0))


def _forced_high(l: int, s: int, L: int) -> list[int]:
    """Successors forced high at state ``s`` of layer ``l`` (their l.75-89): TASK1's easy CoT
    0...0 and TASK2's easy CoT 1 0...0 1."""
    forced = [0] if s == 0 else []
    if l == 0 and s == 1:
        forced.append(0)
    elif l >= 1 and s == 0:
        forced.append(1 if l == L - 2 else 0)
    return forced


def authors_high_edges(seed: int, L: int = 4, M0: int = 2, M: int = 2, C_size: int = 1
                       ) -> tuple[tuple[int, int, int], ...]:
    """The high edges ``(layer, state, next)`` of the chain their ``TMC(L, M0, M, C_size, seed)``
    builds (l.45-117), by replaying its draws with NumPy's legacy ``RandomState(seed)`` in the
    same order: per state (layers in order, states in order) ``C_size`` successors without
    replacement; then for each forced successor not drawn, one random non-forced drawn
    successor is removed (one more draw, when there is one) and the forced one added (l.91-101).

    With the paper's shape (L=4, M0=M=2, C_size=1) only the high successors of (1, 1) and
    (2, 1) depend on the seed, so there are four possible chains."""
    seed = v.int_scalar("seed", seed, min_value=0, max_value=2**32 - 1)
    L = v.int_scalar("L", L, min_value=3, max_value=64)
    M0 = v.int_scalar("M0", M0, min_value=2)
    M = v.int_scalar("M", M, min_value=2)
    C_size = v.int_scalar("C_size", C_size, min_value=1, max_value=M)
    rs = np.random.RandomState(seed)
    sizes = [M0] + [M] * (L - 1)
    edges = []
    for l in range(L - 1):
        for s in range(sizes[l]):
            high = {int(x) for x in rs.choice(sizes[l + 1], C_size, replace=False)}
            forced = _forced_high(l, s, L)
            for t in forced:
                if t not in high:
                    if len(high) >= C_size:
                        candidates = list(high - set(forced))
                        if candidates:
                            high.remove(int(rs.choice(candidates)))
                    high.add(t)
            edges.extend((l, s, j) for j in sorted(high))
    return tuple(edges)


@dataclass(frozen=True)
class Bu2025Config:
    """The authors' configuration (their ``PARAMS``, l.1542-1565, temperature 1), conventions
    and quirk switches; validated on construction (``ValueError`` naming the field)."""

    # --- chain (l.45-117)
    L: int = option(4, "layers of the tree (path length)")
    M0: int = option(2, "states in layer 0 (one start state per task)")
    M: int = option(2, "states in every later layer")
    C_size: int = option(1, "high successors drawn per state; a high edge weighs 1/C_size (l.105)")
    low_weight: float = option(0.1, "weight of a low edge before normalisation (their fixed 0.1, "
                                     "l.108)")
    high_edges: tuple = option(SEED42_HIGH_EDGES, "explicit high edges (layer, state, next); "
                               "default: the chain of their seed-42 run")
    chain_from_seed: bool = option(False, "build the chain their script builds for `seed` "
                                   "(authors_high_edges(seed)) instead of `high_edges`")
    seed: int = option(42, "seed of the run (their --seed); with chain_from_seed also the chain's")
    # --- pretraining (l.253-266, l.372-450)
    init_scale: float = option(0.1, "learner init: theta = randn * init_scale (l.261)")
    T1: int = option(2000, "pretraining phase 1: SGD steps, one true-chain path each, at eta")
    T2: int = option(500, "pretraining phase 2: SGD steps at eta / 2")
    eta: float = option(0.05, "pretraining step size")
    # --- fine-tuning on TASK1 instances (l.452-651)
    finetune_methods: tuple = option(FINETUNE_METHODS, "fine-tuned rows, among "
                                     + ", ".join(FINETUNE_METHODS))
    finetune_iterations: int = option(1000, "fine-tuning iterations (one instance each)")
    finetune_lr: float = option(0.05, "fine-tuning step size")
    finetune_beta: float = option(1.0, "their finetune_beta: the KL tilt's beta of GRPO-KL "
                                  "(passed to Reinforce-rej, unused there)")
    clip_eps: float = option(0.2, "their epsilon_clip: 'PPO' scales its step by 1 +- clip_eps "
                             "(l.573-577); the group variant's ratio clip")
    rej_threshold: int = option(5, "Reinforce-rej: skip an instance the current model solves "
                                "within this many samples (l.579-608)")
    rl_variant: str = option("authors", "fine-tuning rules: 'authors' (one CoT per iteration, "
                             "their update formulas) or 'group' (obandits.cot.posttrain: groups "
                             "of n_rollouts, ppo_epochs, ratio clip)", choices=RL_VARIANTS)
    n_rollouts: int = option(8, "group variant: CoTs per iteration")
    ppo_epochs: int = option(2, "group variant: gradient steps per group for PPO")
    ppo_potential: str = option("mc", "their PPO's Q: 'mc' = Monte-Carlo potential with N true-"
                                "chain completions (l.618-651), 'exact' = its expectation",
                                choices=PPO_POTENTIALS)
    # --- evaluation (l.1243-1340)
    K: int = option(30, "samples per instance for pass@K and coverage")
    N: int = option(15, "best-of-N candidates and Monte-Carlo completions per potential (every "
                    "reward-model call of their run passes N)")
    mc_budget: int = option(1000, "RewardModel's Monte-Carlo budget (l.1547, l.1615); their run "
                            "never uses it since every call passes N")
    tau: float = option(0.5, "the 0.5 passed as 'temperature' to GRPO-KL's tilt, ORM-TAS, "
                        "DPRM-BoN and DPRM (l.1295-1339)")
    temperature: float = option(1.0, "sampling temperature of every policy when scored (their "
                                "PARAMS' 0.5 is never read); training always samples at 1")
    num_trials: int = option(200, "question instances per task (test) and for fine-tuning")
    scoring: str = option("sampled", "'sampled' as their script does, or 'exact' in "
                          "expectation", choices=SCORINGS)
    denominator: str = option("all", "pass@K over 'all' instances (theirs) or the 'solvable' "
                              "ones", choices=DENOMINATORS)
    base_start: str = option("random", "'Base' row: true chain from a uniformly 'random' start "
                             "(theirs) or from the task's start", choices=BASE_STARTS)
    # --- their quirks (off by default; Bu2025Config.authors() turns them on)
    quirk_orm_bon_all: bool = option(False, "ORM-BoN with N < K returns all N candidates "
                                     "(no selection), as their argsort[:K] does (l.785-800)")
    quirk_task1_reward: bool = option(False, "ORM-TAS / ORM-BoN / PRM-BoN / DPRM-BoN / DPRM "
                                      "score TASK2's CoTs with TASK1's reward (l.1334-1339)")
    quirk_mc_cache: bool = option(False, "draw one Monte-Carlo estimate per (prefix, N, task) and "
                                  "reuse it for the whole run, as their RewardModel cache does "
                                  "(l.962-964, l.992-994)")

    def __post_init__(self) -> None:
        v.int_scalar("L", self.L, min_value=3, max_value=64)
        v.int_scalar("M0", self.M0, min_value=2)
        v.int_scalar("M", self.M, min_value=2)
        v.int_scalar("C_size", self.C_size, min_value=1, max_value=self.M)
        v.finite_scalar("low_weight", self.low_weight, min_value=0.0, strict_min=True)
        v.int_scalar("seed", self.seed, min_value=0, max_value=2**32 - 1)
        v.finite_scalar("init_scale", self.init_scale, min_value=0.0)
        v.int_scalar("T1", self.T1, min_value=0)
        v.int_scalar("T2", self.T2, min_value=0)
        if self.T1 + self.T2 < 1:
            raise ValueError(f"T1 + T2 (pretraining steps) must be >= 1, got T1={self.T1}, "
                             f"T2={self.T2}")
        v.finite_scalar("eta", self.eta, min_value=0.0, strict_min=True)
        methods = self.finetune_methods
        if isinstance(methods, str) or not isinstance(methods, (tuple, list)):
            raise ValueError(f"finetune_methods must be a tuple of names among "
                             f"{FINETUNE_METHODS}, got {methods!r}")
        for i, m in enumerate(methods):
            v.choice(f"finetune_methods[{i}]", m, FINETUNE_METHODS)
        if len(set(methods)) != len(methods):
            raise ValueError(f"finetune_methods must not repeat a name, got {methods!r}")
        object.__setattr__(self, "finetune_methods", tuple(methods))
        v.int_scalar("finetune_iterations", self.finetune_iterations, min_value=1)
        v.finite_scalar("finetune_lr", self.finetune_lr, min_value=0.0, strict_min=True)
        v.finite_scalar("finetune_beta", self.finetune_beta, min_value=0.0, strict_min=True)
        v.finite_scalar("clip_eps", self.clip_eps, min_value=0.0, strict_min=True, max_value=1.0)
        v.int_scalar("rej_threshold", self.rej_threshold, min_value=1)
        v.choice("rl_variant", self.rl_variant, RL_VARIANTS)
        v.int_scalar("n_rollouts", self.n_rollouts, min_value=1)
        v.int_scalar("ppo_epochs", self.ppo_epochs, min_value=1)
        v.choice("ppo_potential", self.ppo_potential, PPO_POTENTIALS)
        v.int_scalar("K", self.K, min_value=1)
        v.int_scalar("N", self.N, min_value=1)
        v.int_scalar("mc_budget", self.mc_budget, min_value=1)
        v.finite_scalar("tau", self.tau, min_value=0.0, strict_min=True)
        v.finite_scalar("temperature", self.temperature, min_value=0.0, strict_min=True)
        v.int_scalar("num_trials", self.num_trials, min_value=1)
        v.choice("scoring", self.scoring, SCORINGS)
        v.choice("denominator", self.denominator, DENOMINATORS)
        v.choice("base_start", self.base_start, BASE_STARTS)
        for f in ("chain_from_seed", "quirk_orm_bon_all", "quirk_task1_reward", "quirk_mc_cache"):
            if not isinstance(getattr(self, f), (bool, np.bool_)):
                raise ValueError(f"{f} must be True or False, got {getattr(self, f)!r}")
        try:
            edges = tuple(tuple(int(x) for x in e) for e in self.high_edges)
        except (TypeError, ValueError):
            raise ValueError(f"high_edges must be a sequence of (layer, state, next) integer "
                             f"triples, got {self.high_edges!r}") from None
        object.__setattr__(self, "high_edges", edges)
        build_chain(self)  # the edge list must make a valid tree for these L, M0, M

    @classmethod
    def authors(cls, **overrides) -> Bu2025Config:
        """Their script exactly: every quirk on, the chain their ``seed`` builds."""
        kw = dict(chain_from_seed=True, quirk_orm_bon_all=True, quirk_task1_reward=True,
                  quirk_mc_cache=True)
        return cls(**{**kw, **overrides})

    def with_(self, **changes) -> Bu2025Config:
        """A validated copy with some fields changed."""
        names = {f.name for f in fields(self)}
        for k in changes:
            if k not in names:
                raise ValueError(f"Bu2025Config has no field {k!r}; fields: {sorted(names)}")
        return replace(self, **changes)

    def chain_edges(self) -> tuple[tuple[int, int, int], ...]:
        """The high edges used: ``high_edges``, or their seed's with ``chain_from_seed``."""
        if self.chain_from_seed:
            return authors_high_edges(self.seed, self.L, self.M0, self.M, self.C_size)
        return self.high_edges


#: The two tasks of their script (l.63-66): TASK1 = (0 -> 0), TASK2 = (1 -> 1).
TASKS = ((0, 0), (1, 1))


def build_chain(cfg: Bu2025Config) -> TreeChain:
    """Their chain as a :class:`TreeChain`: high edges weigh ``1/C_size``, low ones
    ``low_weight``, normalised per state (l.102-117); tasks TASK1 = (0 -> 0), TASK2 = (1 -> 1).
    Raises ``ValueError`` naming ``high_edges`` when the list does not make a valid tree."""
    return chain_from_edges(cfg.chain_edges(), L=cfg.L, M0=cfg.M0, M=cfg.M, tasks=TASKS,
                            high_weight=1.0 / cfg.C_size, low_weight=cfg.low_weight)
