"""Inference-time selection (Spec 2 §3): ORM best-of-N, soft best-of-N, PRM best-of-N step by
step, and DPRM sampling, on top of a sampling policy ``Q``.

* ORM best-of-N: draw ``N`` CoTs, keep the one of highest ``Rex`` (the ORM score; invalid = 0).
* soft best-of-N: draw ``N``, keep one with probability ``∝ exp(tau Rex)``.
* PRM best-of-N: at every step draw ``N`` candidate next states from ``Q`` and keep the one of
  highest potential ``E_Q[Rex | prefix + s']`` (:func:`obandits.cot.chain.potential`).
* DPRM sampling: the Doob h-transform ``Q(s'|prefix) h(prefix+s') / h(prefix)`` with
  ``h = E_Q[exp(lam Rex) | prefix]`` (series of :func:`obandits.cot.chain.dprm_value`), which
  samples exactly ``∝ Q(o) exp(lam Rex(o))``.

Selection does not depend on the instance, so one pool of selected CoTs serves every instance
(:func:`obandits.cot.instances.mc_pass_at_k`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lgamma

import numba as nb
import numpy as np

from .. import _validate as v
from ..nbrng import uniform
from .chain import TreeChain, dprm_terms, moment_tables, potential_tables
from .learner import draw, policy, row_softmax, sample_path

SELECTIONS = ("sample", "orm-bon", "soft-bon", "prm-bon", "dprm")


@dataclass(frozen=True)
class SelectConfig:
    """``n``: candidates per choice (ours: 8); ``tau``: soft best-of-N temperature;
    ``lam``: DPRM strength; ``pool``: selected CoTs drawn for the Monte-Carlo metrics."""

    method: str = "orm-bon"
    n: int = 8
    tau: float = 5.0
    lam: float = 5.0
    pool: int = 20000

    def __post_init__(self) -> None:
        v.choice("method", self.method, SELECTIONS)
        v.int_scalar("n", self.n, min_value=1)
        v.finite_scalar("tau", self.tau, min_value=0.0)
        # The DPRM moment series overflows float64 beyond lam ~ 500.
        v.finite_scalar("lam", self.lam, min_value=0.0, strict_min=True, max_value=200.0)
        v.int_scalar("pool", self.pool, min_value=1)


@nb.njit(cache=True)
def _rex_path(path, P, target, Z):
    if path[path.shape[0] - 1] != target:
        return 0.0
    pr = 1.0
    for l in range(path.shape[0] - 1):
        pr *= P[l, path[l], path[l + 1]]
    return pr / Z


@nb.njit(cache=True)
def select_nb(theta, inv_t, P, start, target, Z, beta, mom, logfact, method, N, tau, lam,
              st, out):
    """Fill ``out`` (pool, L) with selected CoTs (method codes = index in ``SELECTIONS``)."""
    Lm1, _, M = theta.shape
    L = Lm1 + 1
    cand = np.empty((N, L), np.int64)
    score = np.empty(N)
    p = np.empty(M)
    w = np.empty(M)
    for r in range(out.shape[0]):
        if method == 0:
            sample_path(theta, start, inv_t, st, p, out[r])
        elif method == 1 or method == 2:
            for j in range(N):
                sample_path(theta, start, inv_t, st, p, cand[j])
                score[j] = _rex_path(cand[j], P, target, Z)
            best = 0
            if method == 1:
                for j in range(1, N):
                    if score[j] > score[best]:
                        best = j
            else:
                mx = score.max()
                tot = 0.0
                for j in range(N):
                    score[j] = np.exp(tau * (score[j] - mx))
                    tot += score[j]
                u = uniform(st) * tot
                acc = 0.0
                best = N - 1
                for j in range(N):
                    acc += score[j]
                    if u < acc:
                        best = j
                        break
            out[r] = cand[best]
        elif method == 3:
            out[r, 0] = start
            pre = 1.0  # P(prefix) under the true chain
            for l in range(Lm1):
                s = out[r, l]
                row_softmax(theta, l, s, inv_t, p)
                bs, bv = -1, -1.0
                for _j in range(N):
                    a = draw(st, p)
                    val = pre * P[l, s, a] * beta[l + 1, a]
                    if val > bv:
                        bs, bv = a, val
                out[r, l + 1] = bs
                pre *= P[l, s, bs]
        else:
            out[r, 0] = start
            pre = 1.0
            nt = mom.shape[0]
            for l in range(Lm1):
                s = out[r, l]
                row_softmax(theta, l, s, inv_t, p)
                tot = 0.0
                for a in range(M):
                    x = lam * pre * P[l, s, a] / Z
                    h = 1.0
                    lx = np.log(x) if x > 0 else -np.inf
                    for n in range(1, nt):
                        h += np.exp(n * lx - logfact[n]) * mom[n, l + 1, a]
                    w[a] = p[a] * h
                    tot += w[a]
                for a in range(M):
                    w[a] /= tot
                a = draw(st, w)
                out[r, l + 1] = a
                pre *= P[l, s, a]


def select_pool(chain: TreeChain, task: int, theta: np.ndarray, config: SelectConfig,
                state: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``config.pool`` CoTs selected by ``config.method`` for ``task``; candidates drawn from
    ``softmax(theta / temperature)``, which is also the ``Q`` of the potentials."""
    s, g = chain.tasks[task]
    Q = policy(theta, temperature)
    beta, Z = potential_tables(chain, task, Q)
    nt = dprm_terms(config.lam) if config.method == "dprm" else 1
    mom = moment_tables(chain, task, Q, nt)
    logfact = np.array([lgamma(k + 1) for k in range(nt)])
    out = np.empty((config.pool, chain.L), np.int64)
    select_nb(np.asarray(theta, np.float64), 1.0 / temperature, chain.P, s, g, Z, beta, mom,
              logfact, SELECTIONS.index(config.method), config.n, config.tau, config.lam,
              state, out)
    return out
