"""Bu et al.'s reward model and inference-time samplers, as in their script (issue 14).

Line numbers ``l.N`` refer to ``multi_task_tmc.py`` of DakeBU/Distribution-Bias-of-Post-training
at commit 6049bf5.

Reward model (their ``RewardModel``, l.938-1015)
    * ORM ``outcome_reward`` (l.946-951): ``Rex_k(o)`` (:func:`obandits.cot.chain.rex`).
    * PRM ``potential_reward`` (l.953-981): the mean of ``Rex_k`` over ``n_mc`` completions of
      the prefix drawn from the TRUE chain (``tm.sample_path_from_state``, l.233-250), i.e. a
      Monte-Carlo estimate of ``E_P[Rex_k | prefix]`` = :func:`obandits.cot.chain.potential`
      with ``Q = P``.
    * ``DPRM`` (l.983-1015): ``(1/lam) log mean exp(lam Rex_k)`` over ``n_mc`` true-chain
      completions, an estimate of :func:`obandits.cot.chain.dprm_value` with ``Q = P``; their
      ``temperature`` argument is this ``lam``.
    * Both are **cached per (prefix, n_mc, task)** (l.962-964, l.992-994) for the whole run: one
      Monte-Carlo draw per prefix, then frozen. Every call in their script passes ``N`` (= 15,
      ``PARAMS["N"]``) or the literal 15 (l.736-737) as the sample count, so ``mc_budget``
      (1000, l.1547) is never used. Drawing every prefix once up front (a *table*, below) has
      the same distribution as their lazy cache.

Samplers (l.713-936) and what the ``temperature=0.5`` they are passed (l.1295-1339; here
``tau``) does in each -- it is never a sampling temperature; every policy samples at T = 1:
    * GRPO-KL, ``PPOSampler.sample_path`` (l.720-748): from the task's start, step
      ``p ∝ p_pretrained(.|o_l) exp(tau (Q - V) / beta)`` (l.741), ``Q`` = Monte-Carlo potential
      of ``prefix + child`` with the literal 15 completions (l.736), ``V`` of the prefix (l.737,
      cancels), ``beta = 1``; the EVALUATED task's reward (``task_id`` passed, l.1295/1331).
      ``tau`` scales the advantage.
    * ORM-TAS (l.756-783): ``N`` distinct candidates from the true chain from a random start
      (``tm.sample_path``), then K draws with replacement ``∝ exp(tau Rex)`` among them (l.777,
      no proposal weight); ``tau`` scales ``Rex <= 1``, so the draw is close to uniform over the
      candidates.
    * ORM-BoN (l.785-800): ``N`` candidates from the true chain, ``argsort(Rex)[::-1][:K]``;
      with their N = 15 < K = 30 that is every candidate: 15 paths a call, no selection.
    * PRM-BoN (l.872-903): no candidates are drawn: every child is scored by its Monte-Carlo
      potential (``N`` completions), the best kept, ties uniform (l.897-899). No ``tau``.
    * DPRM-BoN (l.905-936): the same with DPRM values at ``lam = tau``.
    * DPRM (l.837-870): ``p ∝ exp(tau * DPRM)`` with DPRM at ``lam = tau``, i.e. ``p ∝ mean
      exp(tau Rex)`` over the child's completions: no base-policy factor; with ``tau = 0.5`` and
      ``Rex <= 1`` a step is within [0.38, 0.62] of uniform.
    * The five inference samplers never pass ``task_id`` to the reward model (l.774, 794, 824,
      859, 894, 927): TASK2's rows are scored with TASK1's reward, which is 0 on every TASK2
      prefix, so PRM-BoN / DPRM-BoN / DPRM pick uniformly on TASK2 (``quirk_task1_reward``).

Prefix tables: for a start state, the prefix of depth ``d`` (states at layers ``0..d``) has
code ``c`` in ``[0, M^d)``: its states at layers ``1..d`` read as base-``M`` digits, most
significant first. A table is ``(L, M^(L-1))``; row ``d`` is meaningful for ``c < M^d``.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb, lgamma

import numba as nb
import numpy as np

from ... import _validate as v
from ...nbrng import categorical_cdf
from ..chain import MAX_ENUMERATE, TreeChain, dprm_value, potential, rex, valid_mass

# ------------------------------------------------------------------------------------------
# Prefix enumeration
# ------------------------------------------------------------------------------------------


def prefixes_at(chain: TreeChain, start: int, depth: int) -> np.ndarray:
    """All ``M^depth`` prefixes ``(M^depth, depth+1)`` from ``start`` at ``depth``, row ``c``
    having code ``c`` (see module docstring)."""
    M = chain.M
    n = M ** depth
    if n > MAX_ENUMERATE:
        raise ValueError(f"{n} prefixes at depth {depth}: too many to tabulate "
                         f"(max {MAX_ENUMERATE}); use a smaller L or M")
    codes = np.arange(n, dtype=np.int64)
    out = np.empty((n, depth + 1), dtype=np.int64)
    out[:, 0] = start
    for j in range(depth):
        out[:, depth - j] = (codes // M ** j) % M
    return out


def _check_task_start(chain: TreeChain, task: int, start: int) -> tuple[int, int]:
    v.int_scalar("task", task, min_value=0, max_value=len(chain.tasks) - 1)
    v.int_scalar("start", start, min_value=0, max_value=int(chain.n_states[0]) - 1)
    return chain.tasks[task]


def _empty_table(chain: TreeChain) -> np.ndarray:
    return np.zeros((chain.L, chain.M ** (chain.L - 1)))


# ------------------------------------------------------------------------------------------
# Exact reward model (the limit n_mc -> infinity), via obandits.cot.chain
# ------------------------------------------------------------------------------------------


def potential_exact_table(chain: TreeChain, task: int, start: int) -> np.ndarray:
    """``E_P[Rex_task | prefix]`` for every prefix from ``start`` (l.953-981 without Monte-Carlo
    noise): :func:`obandits.cot.chain.potential` with continuations from the true chain.
    Prefixes from another start than the task's are worth 0 (their ``expected_accuracy``,
    l.142-143)."""
    _check_task_start(chain, task, start)
    out = _empty_table(chain)
    for d in range(chain.L):
        pre = prefixes_at(chain, start, d)
        out[d, :len(pre)] = potential(chain, task, chain.P, pre)
    return out


def dprm_exact_table(chain: TreeChain, task: int, start: int, lam: float) -> np.ndarray:
    """``(1/lam) log E_P[exp(lam Rex_task) | prefix]`` for every prefix from ``start``
    (l.983-1015 without Monte-Carlo noise): :func:`obandits.cot.chain.dprm_value`, ``Q = P``."""
    _check_task_start(chain, task, start)
    out = _empty_table(chain)
    for d in range(chain.L):
        pre = prefixes_at(chain, start, d)
        out[d, :len(pre)] = dprm_value(chain, task, chain.P, pre, lam)
    return out


# ------------------------------------------------------------------------------------------
# Monte-Carlo reward model (their estimator), compiled
# ------------------------------------------------------------------------------------------


def chain_cdf(chain: TreeChain) -> np.ndarray:
    """Cumulative true transitions per row, for :func:`obandits.nbrng.categorical_cdf`."""
    return np.cumsum(chain.P, axis=2)


@nb.njit(cache=True)
def mc_reward_nb(cdf, P, prefix, depth, task_start, target, inv_Z, n_mc, lam, st):
    """One Monte-Carlo reward-model value of ``prefix[:depth+1]`` (their l.953-1015).

    ``n_mc`` completions from the true chain (cumulative rows ``cdf``), each scored by
    ``Rex = P(path) / Z`` if the path starts at ``task_start`` and ends at ``target`` (else 0),
    l.136-155. ``lam == 0``: PRM potential = mean Rex (l.973-979). ``lam > 0``: DPRM value
    ``log(mean exp(lam Rex)) / lam`` (l.1001-1012). ``st``: an :mod:`obandits.nbrng` state.
    """
    Lm1 = cdf.shape[0]
    pre = 1.0
    for l in range(depth):
        pre *= P[l, prefix[l], prefix[l + 1]]
    if prefix[0] != task_start:
        pre = 0.0
    acc = 0.0
    for _ in range(n_mc):
        s = prefix[depth]
        w = pre
        for l in range(depth, Lm1):
            s2 = categorical_cdf(st, cdf[l, s])
            w *= P[l, s, s2]
            s = s2
        r = w * inv_Z if s == target else 0.0
        acc += np.exp(lam * r) if lam > 0.0 else r
    mean = acc / n_mc
    return np.log(mean) / lam if lam > 0.0 else mean


@nb.njit(cache=True)
def mc_table_nb(cdf, P, start, task_start, target, inv_Z, n_mc, lam, st, out):
    """Fill ``out[d, c]`` with :func:`mc_reward_nb` of every prefix from ``start`` (fresh
    completions per prefix, as their cache draws each key once)."""
    L = cdf.shape[0] + 1
    M = cdf.shape[2]
    prefix = np.empty(L, np.int64)
    prefix[0] = start
    for d in range(L):
        n = 1
        for _ in range(d):
            n *= M
        for c in range(n):
            x = c
            for j in range(d):
                prefix[d - j] = x % M
                x //= M
            out[d, c] = mc_reward_nb(cdf, P, prefix, d, task_start, target, inv_Z, n_mc,
                                     lam, st)


def _mc_table(chain: TreeChain, task: int, start: int, n_mc: int, lam: float,
              state: np.ndarray) -> np.ndarray:
    s0, g = _check_task_start(chain, task, start)
    v.int_scalar("n_mc", n_mc, min_value=1)
    out = _empty_table(chain)
    mc_table_nb(chain_cdf(chain), chain.P, start, s0, g, 1.0 / valid_mass(chain, task), n_mc,
                lam, state, out)
    return out


def mc_potential_table(chain: TreeChain, task: int, start: int, n_mc: int,
                       state: np.ndarray) -> np.ndarray:
    """One draw of their PRM cache (l.953-981) for every prefix from ``start``: each entry the
    mean ``Rex_task`` of ``n_mc`` true-chain completions. ``state``: uint64[4]
    :mod:`obandits.nbrng` state, advanced in place."""
    return _mc_table(chain, task, start, n_mc, 0.0, state)


def dprm_mc_table(chain: TreeChain, task: int, start: int, n_mc: int, lam: float,
                  state: np.ndarray) -> np.ndarray:
    """One draw of their DPRM cache (l.983-1015) for every prefix from ``start``:
    ``(1/lam) log mean exp(lam Rex_task)`` over ``n_mc`` true-chain completions."""
    lam = v.finite_scalar("lam", lam, min_value=0.0, strict_min=True, max_value=200.0)
    return _mc_table(chain, task, start, n_mc, lam, state)


def _mc_values(chain: TreeChain, task: int, prefixes: np.ndarray, n_mc: int, lam: float,
               state: np.ndarray) -> np.ndarray:
    s0, g = chain.tasks[task]
    v.int_scalar("n_mc", n_mc, min_value=1)
    prefixes = np.atleast_2d(np.asarray(prefixes, dtype=np.int64))
    if prefixes.shape[1] < 1 or prefixes.shape[1] > chain.L:
        raise ValueError(f"prefixes must have 1..L={chain.L} states, got shape "
                         f"{prefixes.shape}")
    cdf, inv_Z = chain_cdf(chain), 1.0 / valid_mass(chain, task)
    d = prefixes.shape[1] - 1
    return np.array([mc_reward_nb(cdf, chain.P, p, d, s0, g, inv_Z, n_mc, lam, state)
                     for p in prefixes])


def mc_potential(chain: TreeChain, task: int, prefixes: np.ndarray, n_mc: int,
                 state: np.ndarray) -> np.ndarray:
    """Their Monte-Carlo PRM potential (l.953-981) of prefixes ``(n, d+1)``: mean ``Rex_task``
    over ``n_mc`` completions from the true chain (uncached: fresh completions per call)."""
    return _mc_values(chain, task, prefixes, n_mc, 0.0, state)


def dprm_mc(chain: TreeChain, task: int, prefixes: np.ndarray, n_mc: int, lam: float,
            state: np.ndarray) -> np.ndarray:
    """Their Monte-Carlo DPRM (l.983-1015) of prefixes ``(n, d+1)``:
    ``(1/lam) log mean exp(lam Rex_task)`` over ``n_mc`` true-chain completions."""
    lam = v.finite_scalar("lam", lam, min_value=0.0, strict_min=True, max_value=200.0)
    return _mc_values(chain, task, prefixes, n_mc, lam, state)


def potential_exact(chain: TreeChain, task: int, prefixes: np.ndarray) -> np.ndarray:
    """The limit of :func:`mc_potential` (``n_mc -> inf``): :func:`obandits.cot.chain.potential`
    with true-chain continuations."""
    return potential(chain, task, chain.P, prefixes)


def dprm_exact(chain: TreeChain, task: int, prefixes: np.ndarray, lam: float) -> np.ndarray:
    """The limit of :func:`dprm_mc`: :func:`obandits.cot.chain.dprm_value` with ``Q = P``."""
    return dprm_value(chain, task, chain.P, prefixes, lam)


# ------------------------------------------------------------------------------------------
# Distribution of one Monte-Carlo value (for exact scoring and for fresh, uncached values)
# ------------------------------------------------------------------------------------------

MAX_OUTCOMES = 1 << 21  # joint Monte-Carlo outcomes enumerated at one node


def _compositions(n: int, g: int) -> np.ndarray:
    """All ``(k_1..k_g)`` with ``sum k = n`` (stars and bars), ``(C(n+g-1, g-1), g)``."""
    count = comb(n + g - 1, g - 1)
    if count > MAX_OUTCOMES:
        raise ValueError(f"N={n} Monte-Carlo completions over {g} distinct rewards have {count} "
                         f"outcomes, more than the {MAX_OUTCOMES} enumerated exactly; use a "
                         f"smaller N, mc_noise=False, or sampled scoring with quirk_mc_cache")
    if g == 1:
        return np.full((1, 1), n, dtype=np.int64)
    bars = np.array(list(combinations(range(n + g - 1), g - 1)), dtype=np.int64).reshape(-1, g - 1)
    edges = np.concatenate([np.full((len(bars), 1), -1), bars,
                            np.full((len(bars), 1), n + g - 1)], axis=1)
    return np.diff(edges, axis=1) - 1


@nb.njit(cache=True)
def _merge_nb(values, probs, rel):
    """:func:`_merge`: stable sort, then each value within ``rel`` of the previous joins its
    group (probabilities summed in sorted order)."""
    order = np.argsort(values, kind="mergesort")
    out_v = np.empty(values.shape[0])
    out_p = np.empty(values.shape[0])
    m = 0
    prev = 0.0
    for idx in range(values.shape[0]):
        i = order[idx]
        x = values[i]
        if idx == 0 or x - prev > rel * max(abs(x), 1e-300):
            out_v[m] = x
            out_p[m] = probs[i]
            m += 1
        else:
            out_p[m - 1] += probs[i]
        prev = x
    return out_v[:m].copy(), out_p[:m].copy()


def _merge(values: np.ndarray, probs: np.ndarray, rel: float = 1e-12
           ) -> tuple[np.ndarray, np.ndarray]:
    """Merge values equal up to ``rel`` (relative), summing their probabilities."""
    return _merge_nb(np.asarray(values, dtype=np.float64), np.asarray(probs, dtype=np.float64),
                     float(rel))


@nb.njit(cache=True)
def _value_law_nb(fv, fp, k, logc, n_mc, lam):
    """The estimate's law from the completions' distinct rewards ``fv`` (probabilities
    ``fp``): count vector ``k[i]`` has probability ``exp(logc[i] + sum_j k_ij log fp_j)`` and
    value ``mean = k[i] . fv / n_mc`` (``log(mean) / lam`` when ``lam > 0``); equal values
    merged."""
    R, g = k.shape
    lfp = np.empty(g)
    for j in range(g):
        lfp[j] = np.log(max(fp[j], 1e-300))
    vals = np.empty(R)
    probs = np.empty(R)
    for i in range(R):
        lp = 0.0
        mean = 0.0
        for j in range(g):
            lp += k[i, j] * lfp[j]
            mean += k[i, j] * fv[j]
        probs[i] = np.exp(logc[i] + lp)
        mean /= n_mc
        vals[i] = np.log(mean) / lam if lam > 0.0 else mean
    return _merge_nb(vals, probs, 1e-12)


@lru_cache(maxsize=64)
def _multinomial_law(n: int, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``k (C(n+g-1, g-1), g)`` of ``n`` draws over ``g`` values and the log of their
    multinomial coefficients ``log n! - sum log k_i!``: one table per ``(n, g)``, shared by
    every prefix and call (read-only)."""
    k = _compositions(n, g)
    lf = np.array([lgamma(i + 1) for i in range(n + 1)])
    logc = lf[n] - lf[k].sum(1)
    k.flags.writeable = False
    logc.flags.writeable = False
    return k, logc


def subtree_leaves(chain: TreeChain, task: int, start: int, lam: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Every full path from ``start`` (code order): its reward ``Rex_task`` (``exp(lam Rex)``
    when ``lam > 0``) and ``pc[d]``, its true-chain probability from depth ``d`` on (the
    completion probability of its depth-``d`` prefix; ``pc[L-1] = 1``). What
    :func:`mc_value_dist` reads for every prefix from ``start``."""
    full = prefixes_at(chain, start, chain.L - 1)
    f = rex(chain, task, full)
    if lam > 0.0:
        f = np.exp(lam * f)
    L = chain.L
    pc = np.ones((L, len(full)))
    for d in range(L - 1):
        ls = np.arange(d, L - 1)
        pc[d] = np.prod(chain.P[ls, full[:, d:-1], full[:, d + 1:]], axis=1)
    return f, pc


def mc_value_dist(chain: TreeChain, task: int, prefix: np.ndarray, n_mc: int, lam: float = 0.0,
                  leaves: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution ``(values, probs)`` of :func:`mc_reward_nb` for one prefix: the
    completions' rewards take ``g`` distinct values, so the estimate is a function of the
    multinomial counts of ``n_mc`` draws over them (``lam = 0``: mean Rex, l.973-979;
    ``lam > 0``: DPRM, l.1001-1012). ``leaves``: :func:`subtree_leaves` of ``(chain, task,
    prefix[0], lam)`` when already known (they serve every prefix from that start)."""
    prefix = np.asarray(prefix, dtype=np.int64)
    d = len(prefix) - 1
    M, L = chain.M, chain.L
    start = int(prefix[0])
    code = 0
    for x in prefix[1:]:
        code = code * M + int(x)
    span = M ** (L - 1 - d)
    f_all, pc_all = subtree_leaves(chain, task, start, lam) if leaves is None else leaves
    sl = slice(code * span, (code + 1) * span)
    fv, fp = _merge_nb(f_all[sl], pc_all[d, sl], 1e-12)
    k, logc = _multinomial_law(n_mc, len(fv))
    return _value_law_nb(fv, fp, k, logc, n_mc, float(lam))


# ------------------------------------------------------------------------------------------
# Node rules of the step-by-step samplers
# ------------------------------------------------------------------------------------------
