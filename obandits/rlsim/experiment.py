"""The simulated analogues of the paper's experiments (Spec 1 §4, claims C1-C4).

:func:`run_comparison` trains every method (plain GRPO and the four bonuses) and the base-model
sampling baseline on ``reps`` independently drawn models, with common random numbers across
methods; :func:`summarise` turns the runs into mean ± std tables, :func:`claims` into a
verdict per claim, :func:`sensitivity` repeats the verdicts over a grid of model parameters, and
:func:`bandit_regret` runs the same GRPO learners on outcome-based bandit instances.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .. import _validate as v
from ..bonuses import METHODS, BonusConfig
from ..seeding import cell_sequence
from ..tables import markdown_table
from .model import ModelConfig, build_model, from_bandit_instance
from .trainer import RunResult, TrainConfig, run_training

BASE = "base"
LABEL = {"none": "GRPO", "ucb": "UCB", "ucb-mean": "UCB-Mean", "ucb-con": "UCB-Con",
         "batch": "Batch", BASE: "base sampling"}


@dataclass(frozen=True)
class ExperimentConfig:
    """A comparison: ``methods`` x ``reps`` runs plus base sampling at the same budget.

    Attributes:
        model: generative model parameters (its ``seed`` is replaced by each run's model seed).
        train: the training run (its ``bonus.method`` is replaced by each method).
        methods: bonus methods to train (``none`` is plain GRPO).
        c: bonus scale for every bonus method (paper 0.2).
        b0: UCB-Con baseline (paper 0.5 on DAPO, 1 on MATH).
        reps: independent models and sampling streams (>= 1; claims need >= 8).
        root_seed: every model seed and stream derives from it.
        early_frac: the early checkpoint is the first at or after this fraction of training.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: tuple[str, ...] = METHODS
    c: float = 0.2
    b0: float = 0.5
    reps: int = 8
    root_seed: int = 0
    early_frac: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ValueError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        methods = tuple(self.methods)
        if not methods:
            raise ValueError("methods must not be empty")
        for m in methods:
            v.choice("methods entry", m, METHODS)
        object.__setattr__(self, "methods", methods)
        BonusConfig(c=self.c, b0=self.b0)  # validates c and b0
        v.int_scalar("reps", self.reps, min_value=1)
        v.int_scalar("root_seed", self.root_seed, min_value=0)
        v.finite_scalar("early_frac", self.early_frac, min_value=0.0, max_value=1.0)

    def model_seed(self, rep: int) -> int:
        return int(cell_sequence(self.root_seed, f"rlsim/model/{rep}").generate_state(1)[0])

    def early_index(self) -> int:
        steps = self.train.eval_steps()
        return int(np.searchsorted(steps, self.early_frac * self.train.steps))


def _run_one(cfg: ExperimentConfig, method: str, rep: int) -> RunResult:
    model = build_model(replace(cfg.model, seed=cfg.model_seed(rep)))
    bonus = replace(cfg.train.bonus, method="none" if method == BASE else method, c=cfg.c,
                    b0=cfg.b0)
    return run_training(model, replace(cfg.train, bonus=bonus), seed=cfg.root_seed, rep=rep,
                        learn=method != BASE)


def run_comparison(cfg: ExperimentConfig, *, workers: int | None = None,
                   progress: bool = True) -> dict[str, list[RunResult]]:
    """Every method and the base baseline on every seed -> ``{method: [run per seed]}``.

    Runs go to a thread pool (the kernel releases the GIL); results do not depend on
    ``workers``. A tqdm bar shows progress.
    """
    if not isinstance(cfg, ExperimentConfig):
        raise ValueError(f"cfg must be an ExperimentConfig, got {type(cfg).__name__}")
    workers = v.int_scalar("workers", workers or min(2, os.cpu_count() or 1), min_value=1)
    names = (*cfg.methods, BASE)
    jobs = [(m, r) for r in range(cfg.reps) for m in names]
    out: dict[str, list] = {m: [None] * cfg.reps for m in names}
    from tqdm import tqdm

    # Compile (or load the cache) once before threads race for it.
    _run_one(replace(cfg, train=replace(cfg.train, steps=1, n_evals=1)), cfg.methods[0], 0)
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(jobs), disable=not progress,
                                                   desc="rlsim runs", leave=False) as bar:
        futs = {pool.submit(_run_one, cfg, m, r): (m, r) for m, r in jobs}
        for fut in futs:
            m, r = futs[fut]
            out[m][r] = fut.result()
            bar.update()
    return out


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def _stack(runs: list[RunResult], name: str) -> np.ndarray:
    return np.stack([np.asarray(getattr(r, name), dtype=np.float64) for r in runs])


def per_seed(runs: list[RunResult], early: int) -> dict[str, np.ndarray]:
    """Scalar measurements per seed (arrays of length reps, or (reps, len(ks)))."""
    d_hard = _stack(runs, "distinct_hard")
    n_hard = np.array([max(r.n_hard, 1) for r in runs], float)
    ent_s, ent_c = _stack(runs, "ent_sum").sum(1), _stack(runs, "ent_cnt").sum(1)
    gd, gc = _stack(runs, "grp_dist").sum(1), _stack(runs, "grp_cnt").sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "solved": _stack(runs, "solved")[:, -1],
            "solved_early": _stack(runs, "solved")[:, early],
            "solved_auc": _stack(runs, "solved").mean(1),
            "distinct_all": _stack(runs, "distinct_all")[:, -1],
            "distinct_hard_per_problem": d_hard[:, -1] / n_hard,
            "distinct_unsolved_per_problem": (_stack(runs, "distinct_unsolved")[:, -1]
                                              / np.maximum(_stack(runs, "n_unsolved")[:, -1], 1)),
            "solved_hard": _stack(runs, "solved_hard")[:, -1] / n_hard,
            "train_pass1": _stack(runs, "train_pass1")[:, -1],
            "test_early": _stack(runs, "test_pass")[:, early],
            "test_late": _stack(runs, "test_pass")[:, -1],
            "ent_correct": ent_s[:, 0] / ent_c[:, 0],
            "ent_incorrect": ent_s[:, 1] / ent_c[:, 1],
            "ent_all": ent_s.sum(1) / ent_c.sum(1),
            "dist_solved": gd[:, 0] / gc[:, 0],
            "dist_unsolved": gd[:, 1] / gc[:, 1],
            "dist_all": gd.sum(1) / gc.sum(1),
        }
    return out


def _ms(x) -> str:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if not len(x):
        return "-"
    return f"{x.mean():.3f} ± {x.std(ddof=1) if len(x) > 1 else 0.0:.3f}"


def summarise(results: dict[str, list[RunResult]], cfg: ExperimentConfig) -> dict[str, str]:
    """Markdown tables (mean ± std over seeds): discovery, pass@k, Table 1, Table 2."""
    early = cfg.early_index()
    ps = {m: per_seed(r, early) for m, r in results.items()}
    ks = results[next(iter(results))][0].ks
    names = list(results)
    disc = markdown_table(
        ["method", "solved (train)", "solved early", "distinct answers (all)",
         "distinct / base-hard problem", "base-hard solved frac", "train pass@1"],
        [[LABEL[m], _ms(ps[m]["solved"]), _ms(ps[m]["solved_early"]),
          _ms(ps[m]["distinct_all"]), _ms(ps[m]["distinct_hard_per_problem"]),
          _ms(ps[m]["solved_hard"]), _ms(ps[m]["train_pass1"])] for m in names])
    tables = {"discovery": disc}
    for when in ("early", "late"):
        tables[f"pass_{when}"] = markdown_table(
            ["method", *[f"pass@{k}" for k in ks]],
            [[LABEL[m], *[_ms(ps[m][f"test_{when}"][:, i]) for i in range(len(ks))]]
             for m in names])
    tables["entropy"] = markdown_table(
        ["method", "correct", "incorrect", "all"],
        [[LABEL[m], _ms(ps[m]["ent_correct"]), _ms(ps[m]["ent_incorrect"]),
          _ms(ps[m]["ent_all"])] for m in names])
    tables["distinct"] = markdown_table(
        ["method", "solved", "unsolved", "all"],
        [[LABEL[m], _ms(ps[m]["dist_solved"]), _ms(ps[m]["dist_unsolved"]),
          _ms(ps[m]["dist_all"])] for m in names])
    return tables


# --------------------------------------------------------------------------------------------
# Claims C1-C4 (Spec 1 §4)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One directional comparison: ``mean(a - b) > 0`` over seeds (paired)."""

    claim: str
    text: str
    diff_mean: float
    diff_std: float
    n: int

    @property
    def verdict(self) -> str:
        """``holds`` (mean difference > 2 standard errors), ``direction only`` (> 0 but not
        significant), ``no effect`` (identical on every seed: common random numbers make a
        method that cannot act here reproduce the other exactly), ``fails`` (< 0, or 0 with
        some spread)."""
        se = self.diff_std / np.sqrt(max(self.n, 1))
        if self.diff_mean == 0.0 and self.diff_std == 0.0:
            return "no effect"
        if self.n < 2:  # one seed has no standard error: never call it significant
            return "direction only" if self.diff_mean > 0 else "fails"
        if self.diff_mean > 2 * se and self.diff_mean > 0:
            return "holds"
        return "direction only" if self.diff_mean > 0 else "fails"


def _check(claim, text, a, b) -> Check:
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    return Check(claim, text, float(d.mean()) if len(d) else float("nan"),
                 float(d.std(ddof=1)) if len(d) > 1 else 0.0, len(d))


def claims(results: dict[str, list[RunResult]], cfg: ExperimentConfig) -> list[Check]:
    """The directional checks that make up C1-C4 (each ``a - b > 0`` is the claim's
    direction); methods missing from ``results`` are skipped."""
    early = cfg.early_index()
    ps = {m: per_seed(r, early) for m, r in results.items()}
    have = set(ps)
    out: list[Check] = []
    g, b, u, um, uc, bt = "none", BASE, "ucb", "ucb-mean", "ucb-con", "batch"
    if {g, b} <= have:
        out.append(_check("C1", "distinct answers per base-hard problem: base - GRPO",
                          ps[b]["distinct_hard_per_problem"], ps[g]["distinct_hard_per_problem"]))
        out.append(_check("C1", "distinct answers per problem unsolved so far: base - GRPO",
                          ps[b]["distinct_unsolved_per_problem"],
                          ps[g]["distinct_unsolved_per_problem"]))
        out.append(_check("C1", "training problems solved: base - GRPO", ps[b]["solved"],
                          ps[g]["solved"]))
    if b in have:
        m = cfg.model.n_answers
        out.append(_check("C2", f"answers per problem (m={m}) minus distinct discovered by "
                                f"base sampling (per problem)",
                          np.full(cfg.reps, float(m)),
                          ps[b]["distinct_all"] / cfg.model.n_train))
    ks = results[next(iter(results))][0].ks
    if {u, g} <= have:
        out.append(_check("C3", "UCB training discovery (mean solved over training) - GRPO",
                          ps[u]["solved_auc"], ps[g]["solved_auc"]))
    for meth in (um, uc):
        if {meth, g} <= have:
            for i, k in enumerate(ks):
                out.append(_check("C3", f"{LABEL[meth]} - GRPO, late test pass@{k}",
                                  ps[meth]["test_late"][:, i], ps[g]["test_late"][:, i]))
    if {uc, u, um} <= have:
        for other in (u, um):
            out.append(_check("C3", f"UCB-Con - {LABEL[other]}, late test pass@k averaged "
                                    f"over k", ps[uc]["test_late"].mean(1),
                              ps[other]["test_late"].mean(1)))
    if g in have:
        kk = len(ks) - 1
        out.append(_check("C3", f"GRPO over-optimisation: early - late test pass@{ks[kk]}",
                          ps[g]["test_early"][:, kk], ps[g]["test_late"][:, kk]))
        if uc in have:
            out.append(_check("C3", f"UCB-Con mitigates: (late - early) - GRPO's (late - early) "
                                    f"at pass@{ks[kk]}",
                              ps[uc]["test_late"][:, kk] - ps[uc]["test_early"][:, kk],
                              ps[g]["test_late"][:, kk] - ps[g]["test_early"][:, kk]))
    if {bt, uc} <= have:
        out.append(_check("C4", "training discovery (mean solved over training): UCB-Con - Batch",
                          ps[uc]["solved_auc"], ps[bt]["solved_auc"]))
        for col, lab in (("dist_unsolved", "unsolved"), ("dist_all", "all")):
            out.append(_check("C4", f"distinct answers per group ({lab}): Batch - UCB-Con",
                              ps[bt][col], ps[uc][col]))
        out.append(_check("C4", "entropy on incorrect samples: Batch - UCB-Con",
                          ps[bt]["ent_incorrect"], ps[uc]["ent_incorrect"]))
    if {bt, g} <= have:
        out.append(_check("C4", "distinct answers per group (unsolved): Batch - GRPO",
                          ps[bt]["dist_unsolved"], ps[g]["dist_unsolved"]))
        out.append(_check("C4", "entropy on incorrect samples: Batch - GRPO",
                          ps[bt]["ent_incorrect"], ps[g]["ent_incorrect"]))
        kk = len(ks) - 1
        for other in [m for m in cfg.methods if m != bt]:
            out.append(_check("C4", f"late test pass@{ks[kk]}: Batch - {LABEL[other]}",
                              ps[bt]["test_late"][:, kk], ps[other]["test_late"][:, kk]))
    return out


def claims_table(checks: list[Check]) -> str:
    return markdown_table(["claim", "check (a - b > 0 is the paper's direction)",
                           "mean diff ± std (seeds)", "verdict"],
                          [[c.claim, c.text, f"{c.diff_mean:+.4f} ± {c.diff_std:.4f}",
                            c.verdict] for c in checks])


def claim_verdicts(checks: list[Check]) -> dict[str, str]:
    """One word per claim: ``holds`` if every check holds, ``fails`` if every check fails,
    otherwise ``partial``."""
    out = {}
    for cl in sorted({c.claim for c in checks}):
        vs = [c.verdict for c in checks if c.claim == cl]
        out[cl] = ("holds" if all(x == "holds" for x in vs) else
                   "fails" if all(x in ("fails", "no effect") for x in vs) else "partial")
    return out


# --------------------------------------------------------------------------------------------
# Sensitivity over model parameters
# --------------------------------------------------------------------------------------------


def sensitivity(cfg: ExperimentConfig, shares=(0.0, 0.5, 1.0, 2.0),
                difficulties=(-1.0, -3.0, -5.0), *, workers: int | None = None,
                progress: bool = True) -> list[dict]:
    """Claims C1-C4 over a grid of sharing strength x difficulty (everything else as ``cfg``).

    Returns one row per cell: ``share``, ``difficulty_mean``, per-claim verdicts, and the checks.
    """
    rows = []
    from tqdm import tqdm

    grid = [(s, d) for d in difficulties for s in shares]
    for s, d in tqdm(grid, desc="sensitivity cells", disable=not progress):
        v.finite_scalar("share", s, min_value=0.0)
        c = replace(cfg, model=replace(cfg.model, share=float(s), difficulty_mean=float(d)))
        res = run_comparison(c, workers=workers, progress=False)
        chk = claims(res, c)
        rows.append({"share": s, "difficulty_mean": d, "verdicts": claim_verdicts(chk),
                     "checks": chk})
    return rows


SENSITIVITY_KEYS = (
    ("C1 hard distinct", "distinct answers per base-hard problem: base - GRPO"),
    ("C1 solved", "training problems solved: base - GRPO"),
    ("C3 UCB disc.", "UCB training discovery (mean solved over training) - GRPO"),
    ("C3 Con-GRPO p@1", "UCB-Con - GRPO, late test pass@1"),
    ("C3 Con-GRPO p@32", "UCB-Con - GRPO, late test pass@32"),
    ("C3 overopt.", "GRPO over-optimisation: early - late test pass@32"),
    ("C4 Con-Batch disc.", "training discovery (mean solved over training): UCB-Con - Batch"),
    ("C4 dist. unsolved", "distinct answers per group (unsolved): Batch - UCB-Con"),
    ("C4 ent. incorrect", "entropy on incorrect samples: Batch - UCB-Con"),
    ("C4 p@32 vs Con", "late test pass@32: Batch - UCB-Con"),
)
_MARK = {"holds": "✓", "direction only": "~", "fails": "✗", "no effect": "="}


def sensitivity_table(rows: list[dict]) -> str:
    """Per cell (share, difficulty): the key checks of each claim as ``diff mark`` with mark
    ✓ holds (> 2 s.e.), ~ right direction only, ✗ fails, = identical on every seed."""
    headers = ["share", "difficulty", *[k for k, _ in SENSITIVITY_KEYS]]
    out = []
    for r in rows:
        by_text = {c.text: c for c in r["checks"]}
        line = [r["share"], r["difficulty_mean"]]
        for _, text in SENSITIVITY_KEYS:
            c = by_text.get(text)
            line.append(f"{c.diff_mean:+.3g} {_MARK[c.verdict]}" if c else "-")
        out.append(line)
    return markdown_table(headers, out, digits=1)


# --------------------------------------------------------------------------------------------
# Bandit instances (Spec 1 §5): the same GRPO learners on one unshared problem
# --------------------------------------------------------------------------------------------


def bandit_regret(instance, *, methods=METHODS, horizon: int = 4096, n_rollouts: int = 8,
                  lr: float = 1.0, c: float = 0.2, b0: float = 0.5, reps: int = 8,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Cumulative pseudo-regret ``R_t = sum_{s<=t} (mu* - mu[phi(k_s)])`` of GRPO learners
    on an outcome-based bandit instance (any object with ``K, m, phi, mu, p0, reward``).

    One step pulls ``n_rollouts`` arms (a group) from the softmax policy, so the learner plays
    ``horizon // n`` steps. Returns ``{method: (reps, horizon // n * n) array}``, the regret
    after each pull (pulls within a step share the step's policy; the per-step regret is spread
    evenly over its pulls).
    """
    model = from_bandit_instance(instance)
    horizon = v.int_scalar("horizon", horizon, min_value=1)
    n = v.int_scalar("n_rollouts", n_rollouts, min_value=1, max_value=horizon)
    steps = horizon // n
    out = {}
    for meth in methods:
        cfg = TrainConfig(bonus=BonusConfig(method=meth, c=c, b0=b0), n_rollouts=n,
                          batch_prompts=1,
                          steps=steps, lr_theta=lr, lr_w=0.0, n_evals=1, ks=(1,))
        reg = np.stack([run_training(model, cfg, seed=seed, rep=r,
                                     stream_key="rlsim/bandit").regret for r in range(reps)])
        out[meth] = np.cumsum(np.repeat(reg / n, n, axis=1), axis=1)
    return out


def reference_regret(instance, *, horizon: int = 4096, reps: int = 8, seed: int = 0,
                     learners: tuple[str, ...] = ("ucb1", "outcome-ucb")) -> dict[str, np.ndarray]:
    """Cumulative pseudo-regret ``(reps, horizon)`` of the bandit simulator's compiled learners
    (``obandits.bandit``: arm-level UCB1, outcome-level UCB) on the same instance, the
    reference next to which :func:`regret_comparison` shows the GRPO learners."""
    from ..bandit.instances import BanditInstance
    from ..bandit.learners import LearnerConfig, run_learner
    from ..seeding import rep_states

    horizon = v.int_scalar("horizon", horizon, min_value=1)
    reps = v.int_scalar("reps", reps, min_value=1)
    inst = instance if isinstance(instance, BanditInstance) else BanditInstance(
        int(instance.K), int(instance.m), np.asarray(instance.phi), np.asarray(instance.mu),
        None if instance.p0 is None else np.asarray(instance.p0), instance.reward)
    ckpt = np.arange(1, horizon + 1)
    return {name: run_learner(LearnerConfig(name), [inst] * reps, horizon, ckpt,
                              rep_states(seed, f"rlsim/bandit/{name}", reps))
            for name in learners}


def regret_comparison(own: dict[str, np.ndarray], others: dict[str, np.ndarray] | None = None,
                      at: tuple[int, ...] | None = None) -> str:
    """A markdown table of mean ± std cumulative regret at a few horizons for our GRPO learners
    (``own``, from :func:`bandit_regret`) next to other learners' regret arrays (``others``,
    e.g. UCB1 and outcome-UCB from ``obandits.bandit``; each ``(reps, T)`` cumulative
    pseudo-regret on the same instance). Horizons beyond an array's length show ``-``."""
    allr = {**{f"GRPO[{LABEL[k]}]": x for k, x in own.items()}, **(others or {})}
    for name, x in allr.items():
        if np.asarray(x).ndim != 2:
            raise ValueError(f"regret of {name!r} must be (reps, T), got shape "
                             f"{np.shape(x)}")
    T = max(np.shape(x)[1] for x in allr.values())
    at = at or tuple(sorted({max(1, T // 16), max(1, T // 4), T}))
    rows = [[name, *[_ms(np.asarray(x)[:, t - 1]) if t <= np.shape(x)[1] else "-"
                     for t in at]] for name, x in allr.items()]
    return markdown_table(["learner", *[f"R({t})" for t in at]], rows)


def needle_instance(K: int = 64, m: int = 4, *, best_arms: int = 1, seed: int = 0,
                    reward: str = "bernoulli"):
    """``K`` arms, ``m`` outcomes with ``mu = linspace(0.9, 0.1, m)``; ``best_arms`` arms map
    to the best outcome (a "needle"), the rest uniformly at random to the others; uniform
    ``p0``. Deterministic in ``seed``."""
    K = v.int_scalar("K", K, min_value=2)
    m = v.int_scalar("m", m, min_value=2)
    best_arms = v.int_scalar("best_arms", best_arms, min_value=1, max_value=K - 1)
    rng = np.random.default_rng(cell_sequence(v.int_scalar("seed", seed, min_value=0),
                                              "rlsim/needle"))
    phi = np.concatenate([np.zeros(best_arms, np.int64),
                          1 + rng.integers(0, m - 1, size=K - best_arms)])
    phi = phi[rng.permutation(K)]
    mu = np.linspace(0.9, 0.1, m)
    if reward == "deterministic":
        mu = (np.arange(m) == 0).astype(float)
    from ..bandit.instances import BanditInstance

    return BanditInstance(K, m, phi, mu, np.full(K, 1.0 / K), reward)
