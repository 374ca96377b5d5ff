"""Scoring of Bu et al.'s table (issue 14): pass@K and coverage of their 11 strategies on both
tasks, sampled as their script does and exactly in expectation.

Line numbers ``l.N`` refer to ``multi_task_tmc.py`` of DakeBU/Distribution-Bias-of-Post-training
at commit 6049bf5. The reward model and the samplers' rules are in
:mod:`obandits.cot.bu2025.rewards` and :mod:`obandits.cot.bu2025.samplers`, the exact
moments' kernels in :mod:`obandits.cot.bu2025.moments`.

Their evaluation (``evaluate_all_tasks``, l.1261-1423): for each strategy and task, pass@K =
(instances with one of the K sampled CoTs in the instance's correct set) / ``num_trials``
(l.1356-1365: all instances, even those with no correct CoT); coverage = easy / hard / invalid
shares of ``num_trials`` fresh calls' paths (l.1368-1384: K paths a call, or what the sampler
returns). Instances: each valid CoT is correct with probability ``Rex`` (l.1243-1259,
:func:`obandits.cot.instances.make_instances`), drawn once per task and shared by the rows.

Every strategy is reduced to a *plan*: the distribution of the paths one call returns.
Given the call's shared randomness (the frozen reward-model cache, or ORM-TAS's candidate set)
its K paths are i.i.d. from a path distribution ``q``; so "one of K paths in ``C``" is
``Bernoulli(1 - (1 - q(C))^K)`` and coverage counts are multinomial: sampled scoring draws
these (the same distribution as their loops, without drawing paths one by one). Exact scoring
averages over everything: ``E[(1 - q(C))^K]`` over the random set ``C`` (independent leaves)
and the shared randomness, by moments up the prefix tree (:func:`mix_moments_nb`): with
``r = 1 - q(C) = sum_a pi_a r_a`` at every node, ``E[r^n]`` follows from the children's moments
by binomial convolution, all terms non-negative. The K draws share ``C``, so this is not
``1 - (1 - p)^K``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ... import _validate as v
from ...nbrng import state_from_sequence
from ..chain import TreeChain, is_easy, rex
from ..instances import make_instances
from ..learner import policy
from .moments import _binom, leaf_moments, mix_moments, mix_moments_nb
from .rewards import (
    dprm_exact_table,
    dprm_mc_table,
    mc_potential_table,
    potential_exact_table,
    prefixes_at,
)
from .samplers import (
    bon_distribution,
    bon_top_sample,
    markov_node_policies,
    node_realisations,
    table_node_policies,
    tas_candidate_sets,
    tas_distribution,
    tree_leaf_probs,
)

#: Their table's rows, in their order (l.1271-1304).
STRATEGIES = ("Base Model", "REINFORCE", "RAFT", "PPO", "Reinforce-rej", "GRPO-KL", "ORM-TAS",
              "ORM-BoN", "PRM-BoN", "DPRM-BoN", "DPRM")
MODELS = ("REINFORCE", "RAFT", "PPO", "Reinforce-rej")
METRICS = ("pass_at_k", "easy", "hard", "invalid")
MODES = ("sampled", "exact")


@dataclass(frozen=True)
class EvalSettings:
    """What scoring reads; field names and defaults as :class:`obandits.cot.bu2025.Bu2025Config`
    (any object with these attributes converts by :meth:`from_config`)."""

    K: int = 30                 # paths per instance / per coverage call (l.1544)
    N: int = 15                 # BoN candidates and Monte-Carlo completions (l.1545; l.736: 15)
    tau: float = 0.5            # the 'temperature' 0.5 of l.1295-1339 (a reward scale)
    temperature: float = 1.0    # sampling temperature of the models (theirs: 1, l.268-276)
    finetune_beta: float = 1.0  # GRPO-KL's beta (their default 1.0, l.720)
    num_trials: int = 200       # instances per task, and coverage calls (l.1556)
    denominator: str = "all"    # pass@K over 'all' instances (theirs) or 'solvable' ones
    base_start: str = "random"  # Base and ORM proposals: 'random' start (theirs) or the task's
    quirk_orm_bon_all: bool = False   # ORM-BoN returns the top min(N, K) of N (l.785-800)
    quirk_task1_reward: bool = False  # TASK1's reward selects TASK2's CoTs (l.1334-1339)
    quirk_mc_cache: bool = False      # one frozen MC value per prefix for the run (l.962-964)
    mc_noise: bool = True       # reward-model values carry Monte-Carlo noise (N completions)

    def __post_init__(self) -> None:
        v.int_scalar("K", self.K, min_value=1, max_value=500)
        v.int_scalar("N", self.N, min_value=1)
        v.finite_scalar("tau", self.tau, min_value=0.0, strict_min=True, max_value=200.0)
        v.finite_scalar("temperature", self.temperature, min_value=0.0, strict_min=True)
        v.finite_scalar("finetune_beta", self.finetune_beta, min_value=0.0, strict_min=True)
        v.int_scalar("num_trials", self.num_trials, min_value=1)
        v.choice("denominator", self.denominator, ("all", "solvable"))
        v.choice("base_start", self.base_start, ("random", "task"))
        for f in ("quirk_orm_bon_all", "quirk_task1_reward", "quirk_mc_cache", "mc_noise"):
            if not isinstance(getattr(self, f), (bool, np.bool_)):
                raise ValueError(f"{f} must be True or False, got {getattr(self, f)!r}")

    @classmethod
    def from_config(cls, cfg, **overrides) -> EvalSettings:
        """Settings from any config carrying some of these fields (e.g. ``Bu2025Config``)."""
        if isinstance(cfg, cls) and not overrides:
            return cfg
        kw = {f.name: getattr(cfg, f.name) for f in fields(cls) if hasattr(cfg, f.name)}
        return cls(**{**kw, **overrides})


# ------------------------------------------------------------------------------------------
# Paths of the whole tree
# ------------------------------------------------------------------------------------------


def all_paths(chain: TreeChain) -> np.ndarray:
    """Every path ``(M0 * M^(L-1), L)``; index ``start * M^(L-1) + code`` (code: states at
    layers 1..L-1 as base-M digits)."""
    return np.concatenate([prefixes_at(chain, s, chain.L - 1)
                           for s in range(int(chain.n_states[0]))])


def path_classes(chain: TreeChain, task: int) -> np.ndarray:
    """0 = valid easy, 1 = valid hard, 2 = invalid for ``task`` (l.1374-1380)."""
    paths = all_paths(chain)
    s, g = chain.tasks[task]
    valid = (paths[:, 0] == s) & (paths[:, -1] == g)
    return np.where(valid, np.where(is_easy(chain, paths), 0, 1), 2)


def _embed(chain: TreeChain, start: int, leaf_q: np.ndarray) -> np.ndarray:
    n = chain.M ** (chain.L - 1)
    q = np.zeros(int(chain.n_states[0]) * n)
    q[start * n:(start + 1) * n] = leaf_q
    return q


# ------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Paths of one call: ``k`` of them, i.i.d. given the call's shared randomness, which is
    one of: nothing (``q``), a per-call mixture (``mix_w``, ``mix_q``), or a frozen random
    tree policy from ``start`` (``tree[d][c] = (weights, pis)``, exact scoring with the cache
    quirk); ``top`` = their ORM-BoN with N > K (sampled only)."""

    k: int
    q: np.ndarray | None = None
    mix_w: np.ndarray | None = None
    mix_q: np.ndarray | None = None
    tree: list | None = None
    start: int = 0
    top: tuple | None = None

    def mean_q(self, chain: TreeChain) -> np.ndarray:
        """Distribution of one returned path (what coverage measures)."""
        if self.q is not None:
            return self.q
        if self.mix_q is not None:
            return self.mix_w @ self.mix_q
        if self.tree is not None:
            pis = [np.stack([w @ p for w, p in level]) for level in self.tree]
            return _embed(chain, self.start, tree_leaf_probs(pis))
        raise ValueError("this plan (their ORM-BoN with N > K) has no closed form; use "
                         "sampled scoring")


class _Builder:
    """Makes each strategy's plan for one task; shares frozen reward tables across strategies
    and tasks like their ``RewardModel`` cache (keys as l.962 / l.992)."""

    def __init__(self, chain, st: EvalSettings, Qs: dict, mode: str, state: np.ndarray,
                 tables: dict, rng: np.random.Generator):
        self.chain, self.st, self.Qs, self.mode = chain, st, Qs, mode
        self.state, self.tables, self.rng = state, tables, rng
        self.dists: dict = {}  # Monte-Carlo value distributions, shared by the rows
        self.tas: dict = {}    # ORM-TAS candidate-set distributions per proposal

    def proposal(self, task: int) -> np.ndarray:
        """The true chain from a uniformly random start (their tm.sample_path, l.221-231) or
        from the task's start."""
        c = self.chain
        starts = (range(int(c.n_states[0])) if self.st.base_start == "random"
                  else [c.tasks[task][0]])
        leaf = [tree_leaf_probs(markov_node_policies(c.P, s)) for s in starts]
        return sum(_embed(c, s, lq) for s, lq in zip(starts, leaf)) / len(leaf)

    def table(self, kind: str, task: int, start: int, lam: float) -> np.ndarray:
        key = (kind, task, start, self.st.N) + ((lam,) if kind == "dprm" else ())
        need = (self.chain.L, self.chain.M ** (self.chain.L - 1))
        if key in self.tables and np.shape(self.tables[key]) != need:
            raise ValueError(f"tables[{key!r}] must be a {need} prefix table, got shape "
                             f"{np.shape(self.tables[key])}")
        if key not in self.tables:
            if not self.st.mc_noise:
                self.tables[key] = (dprm_exact_table(self.chain, task, start, lam)
                                    if kind == "dprm"
                                    else potential_exact_table(self.chain, task, start))
            elif kind == "dprm":
                self.tables[key] = dprm_mc_table(self.chain, task, start, self.st.N, lam,
                                                 self.state)
            else:
                self.tables[key] = mc_potential_table(self.chain, task, start, self.st.N,
                                                      self.state)
        return self.tables[key]

    def stepwise(self, rule: str, reward_task: int, task: int, lam: float, strength: float,
                 Q_base=None) -> Plan:
        """A step-by-step sampler from the task's start (l.725-746, l.837-936)."""
        c, st = self.chain, self.st
        start = c.tasks[task][0]
        kind = "dprm" if lam > 0 else "potential"
        if st.quirk_mc_cache and self.mode == "sampled":
            pis = table_node_policies(c, rule, self.table(kind, reward_task, start, lam), start,
                                      strength, Q_base)
            return Plan(st.K, q=_embed(c, start, tree_leaf_probs(pis)))
        tree = []
        for d in range(c.L - 1):
            level = []
            for code in range(c.M ** d):
                base = None if Q_base is None else Q_base[d, code % c.M if d else start, :c.M]
                level.append(node_realisations(c, rule, reward_task, start, d, code, st.N, lam,
                                               strength, base, st.mc_noise, self.dists,
                                               mean_only=not st.quirk_mc_cache))
            tree.append(level)
        plan = Plan(st.K, tree=tree, start=start)
        if not st.quirk_mc_cache:  # fresh values every step: i.i.d. paths from the mean policy
            return Plan(st.K, q=plan.mean_q(c))
        return plan

    def build(self, name: str, task: int) -> Plan:
        c, st = self.chain, self.st
        rt = 0 if st.quirk_task1_reward else task
        s0 = c.tasks[task][0]
        if name == "Base Model":  # l.1272, l.1308
            return Plan(st.K, q=self.proposal(task))
        if name in MODELS:  # l.1279-1291 / l.1315-1327, predict_proba at T=1 (l.268-276)
            return Plan(st.K, q=_embed(c, s0, tree_leaf_probs(
                markov_node_policies(self.Qs[name], s0))))
        if name == "GRPO-KL":  # l.1295 / l.1331: the evaluated task's potentials
            return self.stepwise("tilt", task, task, 0.0, st.tau / st.finetune_beta,
                                 self.Qs["pretrained"])
        if name == "PRM-BoN":  # l.1301 / l.1337
            return self.stepwise("argmax", rt, task, 0.0, 1.0)
        if name == "DPRM-BoN":  # l.1302 / l.1338
            return self.stepwise("argmax", rt, task, st.tau, 1.0)
        if name == "DPRM":  # l.1303 / l.1339: exp(tau * DPRM) = E[exp(tau Rex)]
            return self.stepwise("soft", rt, task, st.tau, st.tau)
        rewards = rex(c, rt, all_paths(c))
        q = self.proposal(task)
        if name == "ORM-TAS":  # l.1299 / l.1335
            key = q.tobytes()
            if key not in self.tas:
                self.tas[key] = tas_candidate_sets(q, st.N)
            w, mq = tas_distribution(q, rewards, st.N, st.tau, self.tas[key])
            return Plan(st.K, mix_w=w, mix_q=mq)
        if name == "ORM-BoN":  # l.1300 / l.1336
            if not st.quirk_orm_bon_all:
                return Plan(st.K, q=bon_distribution(q, rewards, st.N))
            if st.N <= st.K:  # argsort[::-1][:K] keeps all N candidates: no selection
                return Plan(st.N, q=q)
            return Plan(st.K, top=(q, rewards))
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def exact_miss(chain: TreeChain, plan: Plan, p_correct: np.ndarray) -> float:
    """``E[(1 - q(C))^k]``: probability that none of the ``k`` paths of one call is correct,
    over the instance's random set and the call's shared randomness."""
    k = plan.k
    binom = _binom(k)
    leaves = leaf_moments(p_correct, k)
    if plan.q is not None:
        return float(mix_moments_nb(np.ones(1), plan.q[None, :], leaves, binom)[k])
    if plan.mix_q is not None:
        return float(mix_moments_nb(plan.mix_w, plan.mix_q, leaves, binom)[k])
    if plan.tree is not None:
        n = chain.M ** (chain.L - 1)
        m = leaves[plan.start * n:(plan.start + 1) * n]
        for d in range(len(plan.tree) - 1, -1, -1):
            m = np.stack([mix_moments(w, p, m[i * chain.M:(i + 1) * chain.M], binom, d == 0)
                          for i, (w, p) in enumerate(plan.tree[d])])
        return float(m[0, k])
    raise ValueError("their ORM-BoN with N > K has no exact score here; use mode='sampled' "
                     "or N <= K")


# ------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------


def _shares(q: np.ndarray, cls: np.ndarray) -> np.ndarray:
    return np.bincount(cls, weights=q, minlength=3)


def _membership(chain: TreeChain, task: int, num_trials: int, rng: np.random.Generator
                ) -> np.ndarray:
    """Their test instances (l.1243-1259) as a boolean matrix (instances, all paths)."""
    inst = make_instances(chain, task, num_trials, rng)
    s, g = chain.tasks[task]
    n = chain.M ** (chain.L - 1)
    member = np.zeros((inst.n, int(chain.n_states[0]) * n), dtype=bool)
    rows = np.repeat(np.arange(inst.n), np.diff(inst.ptr))
    member[rows, s * n + inst.codes * chain.M + g] = True
    return member


def _sampled(chain, plan: Plan, member, cls, st: EvalSettings, rng) -> tuple[float, ...]:
    """pass@K and coverage drawn with the distribution of their loops (l.1356-1384)."""
    n_inst = len(member)
    if plan.top is not None:
        q, rewards = plan.top
        hit = bon_top_sample(q, rewards, st.N, st.K, n_inst, rng)
        solved = member[np.arange(n_inst)[:, None], hit].any(axis=1)
        cov = np.bincount(cls[bon_top_sample(q, rewards, st.N, st.K, st.num_trials, rng)]
                          .reshape(-1), minlength=3).astype(float)
    else:
        if plan.q is not None:
            qi = np.broadcast_to(plan.q, member.shape)
            cov = rng.multinomial(st.num_trials * plan.k, _shares(plan.q, cls))
        elif plan.mix_q is not None:
            w = plan.mix_w / plan.mix_w.sum()
            qi = plan.mix_q[rng.choice(len(w), size=n_inst, p=w)]
            sh = np.stack([_shares(x, cls) for x in plan.mix_q])
            picks = rng.choice(len(w), size=st.num_trials, p=w)
            cov = rng.multinomial(plan.k, np.clip(sh[picks], 0.0, 1.0)).sum(axis=0)
        else:
            raise ValueError("a frozen random tree is only scored exactly; sampled scoring "
                             "draws its reward tables instead")
        qc = np.minimum((member * qi).sum(axis=1), 1.0)
        solved = rng.random(n_inst) < -np.expm1(plan.k * np.log1p(-np.minimum(qc, 1 - 1e-16)))
    if st.denominator == "all":
        pk = solved.sum() / n_inst
    else:
        solvable = member.any(axis=1)
        if not solvable.any():
            raise ValueError("denominator='solvable' but no instance has a correct CoT; "
                             "raise num_trials")
        pk = solved[solvable].sum() / solvable.sum()
    cov = np.asarray(cov, dtype=float)
    return (float(pk),) + tuple(float(x) for x in cov / cov.sum())


def _exact(chain, plan: Plan, p_correct, cls, st: EvalSettings) -> tuple[float, ...]:
    """pass@K and coverage in expectation (module docstring)."""
    pk = 1.0 - exact_miss(chain, plan, p_correct)
    if st.denominator == "solvable":
        pk /= -np.expm1(np.sum(np.log1p(-np.minimum(p_correct, 1.0))))
    return (float(pk),) + tuple(float(x) for x in _shares(plan.mean_q(chain), cls))


def transition_arrays(policies: dict, kind: str, temperature: float) -> dict:
    """Policies as transition arrays: ``kind='theta'``: logits ``(L-1, Mx, M)`` sampled at
    ``temperature`` (their ``thetas[l]`` is the transpose: ``theta[l, s, a] = thetas[l][a, s]``);
    ``kind='probs'``: transition arrays already."""
    v.choice("policy_kind", kind, ("theta", "probs"))
    out = {}
    for name, arr in policies.items():
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 3:
            raise ValueError(f"policies[{name!r}] must be an (L-1, Mx, M) array, got shape "
                             f"{a.shape}")
        out[name] = policy(a, temperature) if kind == "theta" else a
    return out


def score(chain: TreeChain, cfg, policies: dict, rng: np.random.Generator,
          mode: str | None = None, strategies: tuple = STRATEGIES, policy_kind: str = "theta",
          tables: dict | None = None, **overrides) -> list[dict]:
    """Their table (l.1261-1445) for ``strategies`` x tasks: rows ``{strategy, task, pass_at_k,
    easy, hard, invalid, k}`` (fractions; ``k`` = paths per call).

    ``cfg``: :class:`EvalSettings` or any config with its fields (``Bu2025Config``);
    ``overrides`` change single fields. ``policies``: ``"pretrained"`` (GRPO-KL's base) and
    the fine-tuned models by row name, as thetas or transition arrays (``policy_kind``).
    ``mode``: ``"sampled"`` (as they do; default ``cfg.scoring``) or ``"exact"``. ``tables``:
    frozen reward tables shared with training (their cache; keys :func:`potential_key` /
    ``("dprm", task, start, N, tau)``), read and filled in place by sampled scoring with
    ``quirk_mc_cache``; exact scoring averages over the cache instead (each row on its own: the
    correlation of PPO's training with GRPO-KL / PRM-BoN through one cache does not move any
    row's expectation).

    Timing (paper sizes, warm, one core): sampled ~4 ms, exact ~6 ms for all 22 rows; their
    loops take ~1 min (bench/results/bu2025.md).
    """
    st = EvalSettings.from_config(cfg, **overrides)
    mode = v.choice("mode", mode if mode is not None else getattr(cfg, "scoring", "sampled"),
                    MODES)
    for i, name in enumerate(strategies):
        v.choice(f"strategies[{i}]", name, STRATEGIES)
    need = [m for m in strategies if m in MODELS] + (["pretrained"] if "GRPO-KL" in strategies
                                                     else [])
    missing = [m for m in need if m not in policies]
    if missing:
        raise ValueError(f"policies lacks {missing} (needed by the strategies scored); "
                         f"given: {sorted(policies)}")
    Qs = transition_arrays({m: policies[m] for m in need}, policy_kind, st.temperature)
    for m, Q in Qs.items():
        if Q.shape != chain.P.shape or not np.all(np.isfinite(Q)):
            raise ValueError(f"policies[{m!r}] must be a finite array of the chain's shape "
                             f"{chain.P.shape}, got shape {Q.shape}")
    state = state_from_sequence(np.random.SeedSequence(int(rng.integers(2**63))))
    b = _Builder(chain, st, Qs, mode, state, {} if tables is None else tables, rng)
    paths = all_paths(chain)
    rows = []
    for task in range(len(chain.tasks)):
        cls = path_classes(chain, task)
        p_correct = rex(chain, task, paths)
        member = _membership(chain, task, st.num_trials, rng) if mode == "sampled" else None
        for name in strategies:
            plan = b.build(name, task)
            vals = (_sampled(chain, plan, member, cls, st, rng) if mode == "sampled"
                    else _exact(chain, plan, p_correct, cls, st))
            rows.append(dict(strategy=name, task=f"TASK{task + 1}", k=plan.k,
                             **dict(zip(METRICS, vals))))
    return rows


def potential_key(chain: TreeChain, N: int, task: int = 0) -> tuple:
    """Key of a task's Monte-Carlo potential table in ``score(tables=...)``: pass bu-train's
    PPO table (``bu2025_train.ppo_table``) as ``{potential_key(chain, cfg.N): table}`` so that
    PPO, GRPO-KL and PRM-BoN on TASK1 read one cache, as in their run (l.629, l.736, l.894
    all call ``potential_reward(prefix, 15, "TASK1")``)."""
    return ("potential", task, chain.tasks[task][0], int(N))


def tidy(rows: list[dict]) -> list[dict]:
    """One row per (strategy, task, metric): ``{strategy, task, metric, value}``."""
    return [dict(strategy=r["strategy"], task=r["task"], metric=m, value=r[m])
            for r in rows for m in METRICS]
