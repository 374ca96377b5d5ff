"""Metrics of any model's distribution over completions of the tree chain (Spec 2 §4).

The tabular learner is Markov, so its metrics come from layer passes (:mod:`.chain`); a
network is not, so its metrics come from the distribution over whole completions. This module
computes the Spec 2 §4 metrics from such a distribution, for the tabular learner (its path
probabilities, :func:`policy_path_probs`) and for a network (``llm_bridge.cot_lm``) alike, so
both sides of a comparison go through the same functions.

A *completion* from start state ``s`` is the ``L-1`` later states; the ``M^(L-1)`` well-formed
completions are indexed by their code over layers ``1..L-1`` (base ``M``, most significant
first: the row order of :func:`obandits.cot.chain.enumerate_paths`). A model may also put mass
on malformed output (a wrong token for a layer, an end token too early): ``malformed`` is that
mass, counted as invalid.

A distribution is given either exactly (``q`` = probabilities, ``n = None``) or as sample
counts (``q`` = counts of each completion in ``n`` samples, ``malformed`` = count of malformed
samples); pass@K is then the unbiased estimator of :func:`obandits.metrics.pass_at_k`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import pass_at_k
from .chain import TreeChain, enumerate_paths, is_easy, path_prob
from .instances import Instances

PASS_KS = tuple(range(1, 31))  # pass@k curves: k = 1..30 (the paper's K = 30 last)


@dataclass(frozen=True)
class PathDist:
    """A distribution over the completions from one start state: ``q[code]`` (probabilities,
    or counts out of ``n`` samples) and the malformed mass (or count)."""

    start: int
    q: np.ndarray
    malformed: float
    n: int | None = None

    def __post_init__(self) -> None:
        q = np.asarray(self.q, float)
        if q.ndim != 1 or not np.all(np.isfinite(q)) or np.any(q < 0):
            raise ValueError(f"q must be a 1-D array of non-negative finite numbers, got shape "
                             f"{q.shape}")
        if not (np.isfinite(self.malformed) and self.malformed >= -1e-9):
            raise ValueError(f"malformed must be a non-negative number, got {self.malformed}")
        if self.n is not None and self.n < 1:
            raise ValueError(f"n (samples) must be >= 1, got {self.n}")

    @property
    def probs(self) -> np.ndarray:
        """Probabilities (exact, or the empirical frequencies)."""
        q = np.asarray(self.q, float)
        return q if self.n is None else q / self.n

    @property
    def malformed_mass(self) -> float:
        return max(float(self.malformed), 0.0) / (1 if self.n is None else self.n)


def n_completions(chain: TreeChain) -> int:
    """Well-formed completions from one start: ``M^(L-1)``."""
    return chain.M ** (chain.L - 1)


def policy_path_probs(chain: TreeChain, Q: np.ndarray, start: int) -> PathDist:
    """The exact :class:`PathDist` of a Markov policy ``Q`` (the tabular learner, or the chain
    itself with ``Q = chain.P``) from ``start``: ``prod_l Q(o_{l+1} | o_l)`` per completion."""
    return PathDist(start, path_prob(Q, enumerate_paths(chain, start)), 0.0)


def _task_ends(chain: TreeChain, task: int, d: PathDist) -> tuple[int, int]:
    s, g = chain.tasks[task]
    if d.start != s:
        raise ValueError(f"the distribution starts at {d.start}, task {task} at {s}")
    if len(d.q) != n_completions(chain):
        raise ValueError(f"q has {len(d.q)} entries, the chain {n_completions(chain)} "
                         f"completions per start")
    return s, g


def valid_probs(chain: TreeChain, task: int, d: PathDist) -> np.ndarray:
    """The distribution's mass (or count) on each valid CoT of ``task``, indexed by the valid
    code of :func:`obandits.cot.chain.valid_paths` (the target is the last digit)."""
    _, g = _task_ends(chain, task, d)
    return np.asarray(d.q, float).reshape(-1, chain.M)[:, g]


def coverage(chain: TreeChain, task: int, d: PathDist) -> dict[str, float]:
    """Easy / hard / invalid shares (Spec 2 §4) and the malformed share (part of invalid)."""
    s, g = _task_ends(chain, task, d)
    paths = enumerate_paths(chain, s)
    p = d.probs
    valid = paths[:, -1] == g
    easy = float(p[valid & is_easy(chain, paths)].sum())
    hard = float(p[valid].sum()) - easy
    return {"easy": easy, "hard": max(hard, 0.0), "invalid": max(1.0 - easy - hard, 0.0),
            "malformed": d.malformed_mass}


def success(chain: TreeChain, inst: Instances, d: PathDist) -> np.ndarray:
    """Per instance, the mass (or sample count) of the correct CoTs ``C_q``: exact ``p_q``
    (as :func:`obandits.cot.instances.success_probs`) or the number ``c_q`` of correct
    samples."""
    v = valid_probs(chain, inst.task, d)
    sums = np.concatenate([[0.0], np.cumsum(v[inst.codes])])
    return sums[inst.ptr[1:]] - sums[inst.ptr[:-1]]


def pass_curve(chain: TreeChain, inst: Instances, d: PathDist, ks=PASS_KS,
               subset: np.ndarray | None = None) -> np.ndarray | None:
    """Mean pass@k over the solvable instances in ``subset`` for each ``k``: exactly
    ``1 - (1 - p_q)^k`` (as :func:`obandits.cot.instances.exact_pass_at_k`), or the unbiased
    estimator from sample counts. None when no such instance was drawn."""
    mask = inst.solvable if subset is None else (inst.solvable & subset)
    if not mask.any():
        return None
    c = success(chain, inst, d)[mask]
    ks = np.asarray(ks, int)
    if d.n is None:
        p = np.clip(c, 0.0, 1.0 - 1e-16)
        return np.mean(-np.expm1(ks[:, None] * np.log1p(-p)[None, :]), axis=1)
    c = np.rint(c).astype(np.int64)
    return np.array([float(np.mean(pass_at_k(np.full(len(c), d.n), c, int(k)))) for k in ks])


def expected_distinct(chain: TreeChain, d: PathDist, k: int) -> float:
    """Expected number of distinct final states (the answers) among ``k`` samples,
    ``sum_a 1 - (1 - pi_a)^k`` with ``pi_a`` the final-state marginal; malformed output is not
    an answer. From counts, the unbiased estimator of each term."""
    pi = np.asarray(d.q, float).reshape(-1, chain.M).sum(axis=0)
    if d.n is None:
        return float(np.sum(-np.expm1(k * np.log1p(-np.clip(pi, 0.0, 1.0 - 1e-16)))))
    c = np.rint(pi).astype(np.int64)
    return float(np.sum(pass_at_k(np.full(len(c), d.n), c, min(k, d.n))))


def total_variation(chain: TreeChain, dists: list[PathDist]) -> float:
    """Total variation between the model's and the chain's path distributions, the start
    uniform over layer 0 (the pretraining data, Spec 2 §3): ``(1/2) sum |Q - P|`` with the
    malformed mass counted in full (the chain puts none there). ``dists``: one per start."""
    starts = sorted(d.start for d in dists)
    if starts != list(range(chain.config.M0)):
        raise ValueError(f"total_variation needs one distribution per layer-0 state "
                         f"0..{chain.config.M0 - 1}, got starts {starts}")
    tv = 0.0
    for d in dists:
        truth = path_prob(chain.P, enumerate_paths(chain, d.start))
        tv += 0.5 * (np.abs(d.probs - truth).sum() + d.malformed_mass)
    return float(tv / len(dists))
