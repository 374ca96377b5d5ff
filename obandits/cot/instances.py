"""Question instances, the verifiable reward and pass@K (Spec 2 §2, §4).

An instance of task ``k`` draws its set of correct CoTs ``C_q``: each valid CoT independently
with probability ``Rex_k(o)``. Sets are stored in CSR form over path codes (see
:func:`obandits.cot.chain.valid_paths`), sorted, so the compiled kernels test membership by
bisection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as v
from ..metrics import pass_at_k
from .chain import TreeChain, is_easy, rex, valid_path_probs, valid_paths


@dataclass(frozen=True, eq=False)
class Instances:
    """Instances of one task: ``codes[ptr[i]:ptr[i+1]]`` are the sorted codes of ``C_{q_i}``.

    ``has_easy``: some easy CoT is correct; ``solvable``: ``C_q`` is not empty;
    ``rare_only``: solvable and no easy CoT is correct (only rare CoTs solve it).
    """

    task: int
    ptr: np.ndarray
    codes: np.ndarray
    has_easy: np.ndarray
    solvable: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ptr) - 1

    @property
    def rare_only(self) -> np.ndarray:
        return self.solvable & ~self.has_easy


def make_instances(chain: TreeChain, task: int, n: int, rng: np.random.Generator,
                   chunk: int = 1 << 22) -> Instances:
    """Draw ``n`` instances of ``task`` (Spec 2 §2) with ``rng``."""
    n = v.int_scalar("n", n, min_value=1)
    v.int_scalar("task", task, min_value=0, max_value=len(chain.tasks) - 1)
    paths = valid_paths(chain, task)
    r = rex(chain, task, paths)
    easy_codes = np.flatnonzero(is_easy(chain, paths))
    rows = max(1, chunk // len(r))
    ptr = [0]
    codes = []
    for i0 in range(0, n, rows):
        m = min(rows, n - i0)
        hit = rng.random((m, len(r))) < r[None, :]
        for row in hit:
            c = np.flatnonzero(row)
            codes.append(c)
            ptr.append(ptr[-1] + len(c))
    codes = np.concatenate(codes).astype(np.int64) if codes else np.zeros(0, np.int64)
    ptr = np.asarray(ptr, dtype=np.int64)
    sizes = np.diff(ptr)
    inst_of = np.repeat(np.arange(n), sizes)
    has_easy = np.zeros(n, dtype=bool)
    has_easy[inst_of[np.isin(codes, easy_codes)]] = True
    return Instances(task, ptr, codes, has_easy, sizes > 0)


def success_probs(chain: TreeChain, inst: Instances, Q: np.ndarray) -> np.ndarray:
    """Exact per-instance success probability ``p_q = sum_{o in C_q} Q(o)`` of one sample."""
    prob = valid_path_probs(chain, inst.task, Q)
    sums = np.concatenate([[0.0], np.cumsum(prob[inst.codes])])
    return np.clip(sums[inst.ptr[1:]] - sums[inst.ptr[:-1]], 0.0, 1.0)


def exact_pass_at_k(chain: TreeChain, inst: Instances, Q: np.ndarray, k: int,
                    subset: np.ndarray | None = None) -> float:
    """Exact mean pass@K ``1 - (1 - p_q)^K`` over the solvable instances in ``subset``
    (default all); ``p_q`` is exact here, not an estimate. NaN-free: an empty subset raises."""
    k = v.int_scalar("k", k, min_value=1)
    mask = inst.solvable if subset is None else (inst.solvable & subset)
    if not mask.any():
        raise ValueError("no solvable instance in the subset: draw more instances")
    p = success_probs(chain, inst, Q)[mask]
    return float(np.mean(-np.expm1(k * np.log1p(-np.minimum(p, 1.0 - 1e-16)))))


def mc_pass_at_k(inst: Instances, chain: TreeChain, paths: np.ndarray, k: int,
                 subset: np.ndarray | None = None) -> float:
    """Monte-Carlo pass@K from a pool of ``n`` i.i.d. CoTs (e.g. outputs of an inference-time
    selection rule, which do not depend on the instance): per instance ``c`` = pool members in
    ``C_q``, then the unbiased estimator of :func:`obandits.metrics.pass_at_k`."""
    s, g = chain.tasks[inst.task]
    paths = np.asarray(paths, dtype=np.int64)
    ok = (paths[:, 0] == s) & (paths[:, -1] == g)
    from .chain import path_codes

    counts = np.bincount(path_codes(chain, paths[ok]), minlength=chain.n_valid())
    csum = np.concatenate([[0], np.cumsum(counts[inst.codes])])
    c = csum[inst.ptr[1:]] - csum[inst.ptr[:-1]]
    mask = inst.solvable if subset is None else (inst.solvable & subset)
    if not mask.any():
        raise ValueError("no solvable instance in the subset: draw more instances")
    return float(np.mean(pass_at_k(np.full(int(mask.sum()), len(paths)), c[mask], k)))
