"""Bu et al.'s inference-time samplers as path distributions (issue 14): the node rules of the
step-by-step samplers (GRPO-KL, PRM-BoN, DPRM-BoN, DPRM), ORM-TAS's candidate sets and ORM-BoN.

Line numbers ``l.N`` refer to ``multi_task_tmc.py`` of DakeBU/Distribution-Bias-of-Post-training
at commit 6049bf5; what each sampler does and what their ``temperature=0.5`` means in it is in
:mod:`obandits.cot.bu2025.rewards`' module doc (the reward model they all read).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..chain import TreeChain
from .rewards import (
    MAX_OUTCOMES,
    _merge,
    dprm_exact,
    mc_value_dist,
    potential_exact,
    subtree_leaves,
)

NODE_RULES = ("tilt", "argmax", "soft")


def node_policy(rule: str, vals: np.ndarray, base: np.ndarray | None = None,
                strength: float = 1.0) -> np.ndarray:
    """Next-state distributions ``(R, M)`` from children's reward-model values ``vals (R, M)``.

    * ``tilt``: ``base * exp(strength * (Q - V))``, normalised: their GRPO-KL ``PPOSampler``
      (l.729-742, ``strength = temperature / beta``); ``V`` (l.737) is the same for every
      child, so it cancels and is not needed.
    * ``argmax``: uniform over the children of highest value (ties: equal up to 1e-12
      relative), their PRM-BoN / DPRM-BoN (l.896-899, l.929-932).
    * ``soft``: ``exp(strength * vals)``, normalised: their DPRM sampler (l.856-863) with
      ``vals`` the DPRM values and ``strength = lam`` (so ``p ∝ E[exp(lam Rex)]``, no
      base-policy factor).
    """
    vals = np.atleast_2d(np.asarray(vals, dtype=np.float64))
    mx = vals.max(axis=1, keepdims=True)
    if rule == "argmax":
        w = (vals >= mx - 1e-12 * np.abs(mx)).astype(np.float64)
    elif rule in ("tilt", "soft"):
        w = np.exp(strength * (vals - mx))
        if rule == "tilt":
            w = w * np.asarray(base, dtype=np.float64)  # (M,) or one row per outcome
    else:
        raise ValueError(f"rule must be one of {NODE_RULES}, got {rule!r}")
    return w / w.sum(axis=1, keepdims=True)


def child_values(table: np.ndarray, depth: int, M: int) -> np.ndarray:
    """Values of the children of every node at ``depth``: ``(M^depth, M)``."""
    return table[depth + 1, :M ** (depth + 1)].reshape(M ** depth, M)


def node_states(M: int, start: int, depth: int) -> np.ndarray:
    """State of each node at ``depth`` (its last digit; the start at depth 0)."""
    return np.array([start]) if depth == 0 else np.arange(M ** depth) % M


def tree_leaf_probs(pis: list[np.ndarray]) -> np.ndarray:
    """Leaf (full path) probabilities from per-depth node policies ``pis[d] (M^d, M)``."""
    q = np.ones(1)
    for pi in pis:
        q = (q[:, None] * pi).reshape(-1)
    return q


def markov_node_policies(Q: np.ndarray, start: int) -> list[np.ndarray]:
    """Node policies of a Markov transition array ``Q (L-1, Mx, M)`` from ``start``."""
    M = Q.shape[2]
    return [Q[d, node_states(M, start, d), :M] for d in range(Q.shape[0])]


def table_node_policies(chain: TreeChain, rule: str, table: np.ndarray, start: int,
                        strength: float, Q_base: np.ndarray | None = None) -> list[np.ndarray]:
    """Node policies of a step-by-step sampler driven by one reward table (a frozen cache)."""
    M = chain.M
    out = []
    for d in range(chain.L - 1):
        base = Q_base[d, node_states(M, start, d), :M] if rule == "tilt" else None
        out.append(node_policy(rule, child_values(table, d, M), base, strength))
    return out


@nb.njit(cache=True)
def _pair_nb(v0, w0, v1, w1, rule, b0, b1, strength, mean_only, w_out, pi_out):
    """Two children (the paper's M = 2): every pair of Monte-Carlo outcomes and its
    ``pi_0`` under ``rule`` (0 tilt, 1 argmax, 2 soft; as :func:`node_policy`); with
    ``mean_only`` only ``E[pi]`` (into ``pi_out[0]``). Returns the number of rows written."""
    n = 0
    acc0 = 0.0
    for i in range(v0.shape[0]):
        for k in range(v1.shape[0]):
            a, b = v0[i], v1[k]
            if rule == 1:
                mx = max(a, b)
                t0 = a >= mx - 1e-12 * abs(mx)
                t1 = b >= mx - 1e-12 * abs(mx)
                p0 = 0.5 if (t0 and t1) else (1.0 if t0 else 0.0)
            else:
                mx = max(a, b)
                e0 = np.exp(strength * (a - mx))
                e1 = np.exp(strength * (b - mx))
                if rule == 0:
                    e0 *= b0
                    e1 *= b1
                p0 = e0 / (e0 + e1)
            ww = w0[i] * w1[k]
            if mean_only:
                acc0 += ww * p0
            elif rule == 1:  # three outcomes: child 0 best, child 1 best, a tie
                o = 0 if p0 == 1.0 else (1 if p0 == 0.0 else 2)
                w_out[o] += ww
            elif ww > 0.0:  # outcomes of weight 0 are left out
                w_out[n] = ww
                pi_out[n, 0] = p0
                pi_out[n, 1] = 1.0 - p0
                n += 1
    if mean_only:
        pi_out[0, 0] = acc0
        pi_out[0, 1] = 1.0 - acc0
        w_out[0] = 1.0
        n = 1
    elif rule == 1:
        for o, p0 in enumerate((1.0, 0.0, 0.5)):
            pi_out[o, 0] = p0
            pi_out[o, 1] = 1.0 - p0
        n = 3
    return n


def node_realisations(chain: TreeChain, rule: str, reward_task: int, start: int, depth: int,
                      code: int, n_mc: int, lam: float, strength: float,
                      base: np.ndarray | None, mc_noise: bool = True,
                      dist_cache: dict | None = None, mean_only: bool = False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Every outcome ``(weights (R,), pis (R, M))`` of one node's next-state distribution over
    the Monte-Carlo noise of its ``M`` children's values (independent completions per child,
    as their per-prefix cache draws). ``lam = 0``: values are potentials, else DPRM values.
    Without ``mc_noise`` the values are exact (one outcome). ``dist_cache``: memo of the
    children's value distributions, shared across strategies. ``mean_only``: just ``E[pi]``
    (one outcome of weight 1), for values drawn afresh at every step."""
    M = chain.M
    prefix = np.empty(depth + 2, dtype=np.int64)
    prefix[0] = start
    x = code
    for j in range(depth):
        prefix[depth - j] = x % M
        x //= M
    dists = []
    for a in range(M):
        prefix[-1] = a
        key = (reward_task, tuple(prefix), n_mc, lam, mc_noise)
        if dist_cache is not None and key in dist_cache:
            dists.append(dist_cache[key])
            continue
        if mc_noise:
            lkey = ("leaves", reward_task, start, lam)
            if dist_cache is not None and lkey not in dist_cache:
                dist_cache[lkey] = subtree_leaves(chain, reward_task, start, lam)
            dv = mc_value_dist(chain, reward_task, prefix, n_mc, lam,
                               None if dist_cache is None else dist_cache[lkey])
        else:
            dv = ((dprm_exact(chain, reward_task, prefix, lam) if lam > 0
                   else potential_exact(chain, reward_task, prefix)), np.ones(1))
        dists.append(dv)
        if dist_cache is not None:
            dist_cache[key] = dv
    R = int(np.prod([len(dv[0]) for dv in dists]))
    if R > MAX_OUTCOMES:
        raise ValueError(f"N={n_mc} Monte-Carlo completions give {R} joint outcomes at a node, "
                         f"more than the {MAX_OUTCOMES} enumerated exactly; use a smaller N or "
                         f"mc_noise=False")
    if M == 2:
        n = 1 if mean_only else (3 if rule == "argmax" else R)
        w = np.zeros(n) if rule == "argmax" else np.empty(n)  # argmax adds into its 3
        pis = np.empty((len(w), 2))
        b = (1.0, 1.0) if base is None else (float(base[0]), float(base[1]))
        n = _pair_nb(dists[0][0], dists[0][1], dists[1][0], dists[1][1],
                     NODE_RULES.index(rule), b[0], b[1], float(strength), mean_only, w, pis)
        if rule == "argmax" and not mean_only:
            keep = w > 0
            return w[keep], pis[keep]
        return w[:n], pis[:n]
    vals = np.stack([g.reshape(-1) for g in np.meshgrid(*[dv[0] for dv in dists],
                                                         indexing="ij")], axis=1)
    w = np.prod(np.stack([g.reshape(-1) for g in np.meshgrid(*[dv[1] for dv in dists],
                                                              indexing="ij")], axis=1), axis=1)
    pis = node_policy(rule, vals, base, strength)
    if mean_only:
        return np.ones(1), (w @ pis)[None, :] / w.sum()
    if rule != "argmax":
        return w, pis
    # argmax outcomes are fixed by the set of tied best children: at most 2^M - 1 of them
    pattern = (pis > 0) @ (1 << np.arange(M))
    pats, inv = np.unique(pattern, return_inverse=True)
    best = (pats[:, None] >> np.arange(M)[None, :]) & 1
    return np.bincount(inv, weights=w, minlength=len(pats)), best / best.sum(1, keepdims=True)


# ------------------------------------------------------------------------------------------
# Outcome-reward samplers over whole paths (ORM-TAS, ORM-BoN)
# ------------------------------------------------------------------------------------------

MAX_TAS_PATHS = 20  # subsets of the paths are enumerated for ORM-TAS's candidate set


@nb.njit(cache=True)
def _half_tables(q, lo, n_bits):
    """Sum of ``q`` and number of items of every subset of items ``lo .. lo+n_bits-1``."""
    qs = np.zeros(1 << n_bits)
    cnt = np.zeros(1 << n_bits, np.int64)
    for x in range(1, 1 << n_bits):
        o = 0
        while not (x >> o) & 1:
            o += 1
        qs[x] = qs[x ^ (1 << o)] + q[lo + o]
        cnt[x] = cnt[x ^ (1 << o)] + 1
    return qs, cnt


@nb.njit(cache=True)
def _first_distinct_nb(q, n_keep):
    """The law of the set of the first ``n_keep`` distinct items of i.i.d. draws from ``q``:
    ``(masks, probs)`` over the sets (bit masks) of positive probability. A pass over subsets
    in increasing order (every subset of a mask comes first): from set ``T`` the next new item
    is ``o`` with probability ``q_o / q(not T)``, so ``prob[mask] = sum_{o in mask} ratio[mask
    - o] q_o`` with ``ratio[T] = prob[T] / q(not T)`` (0 once ``T`` is complete). The sum runs
    over every ``o`` without a branch: ``mask + o`` is a larger mask, whose ratio is still 0.
    Sizes and ``q(not T)`` (a sum of positive terms) come from two tables over half the items
    each, so only ``ratio`` spans every subset."""
    n = q.shape[0]
    h = n // 2
    qlo, clo = _half_tables(q, 0, h)
    qhi, chi = _half_tables(q, h, n - h)
    lm, hm = (1 << h) - 1, (1 << (n - h)) - 1
    total = 1
    for i in range(n_keep):  # C(n, n_keep), the complete sets
        total = total * (n - i) // (i + 1)
    out_m = np.empty(total, np.int64)
    out_p = np.empty(total)
    ratio = np.zeros(1 << n)
    m = 0
    if n_keep == 0:
        out_m[0] = 0
        out_p[0] = 1.0
        return out_m[:1], out_p[:1]
    ratio[0] = 1.0
    for mask in range(1, 1 << n):
        size = clo[mask & lm] + chi[mask >> h]
        if size > n_keep:
            continue
        pm = 0.0
        for i in range(n):
            pm += ratio[mask ^ (1 << i)] * q[i]
        if size == n_keep:
            if pm > 0.0:
                out_m[m] = mask
                out_p[m] = pm
                m += 1
        else:
            rest = qlo[~mask & lm] + qhi[(~mask >> h) & hm]
            if rest > 1e-300:
                ratio[mask] = pm / rest
    return out_m[:m], out_p[:m]


def tas_candidate_sets(q: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of their ORM-TAS candidate set (l.762-771): draws from ``q`` until ``N``
    distinct paths. Returns ``(weights (R,), members (R, n) bool)``. Their loop never ends when
    fewer than ``N`` paths have positive probability; here the set is then all of them."""
    q = np.asarray(q, dtype=np.float64)
    pos = np.flatnonzero(q > 0)
    n_keep = min(int(N), len(pos))
    if len(pos) > MAX_TAS_PATHS:
        raise ValueError(f"ORM-TAS's candidate set is enumerated over the {len(pos)} paths of "
                         f"positive probability; at most {MAX_TAS_PATHS} are supported")
    masks, prob = _first_distinct_nb(q[pos] / q[pos].sum(), n_keep)
    members = np.zeros((len(masks), len(q)), dtype=bool)
    members[:, pos] = (masks[:, None] >> np.arange(len(pos))[None, :]) & 1 == 1
    return prob, members


def tas_distribution(q: np.ndarray, rewards: np.ndarray, N: int, tau: float,
                     sets: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Their ORM-TAS (l.756-783): ``N`` distinct candidates from the proposal ``q``, then each
    of the K outputs drawn with replacement ``∝ exp(tau * Rex)`` among them (not weighted by
    ``q``). Returns ``(weights (R,), path distributions (R, n))`` over candidate sets; the K
    outputs of one call share the set. ``sets``: :func:`tas_candidate_sets` of ``(q, N)``
    when already known."""
    w, members = tas_candidate_sets(q, N) if sets is None else sets
    e = np.where(members, np.exp(tau * (rewards - rewards.max()))[None, :], 0.0)
    return w, e / e.sum(axis=1, keepdims=True)


def bon_distribution(q: np.ndarray, rewards: np.ndarray, N: int) -> np.ndarray:
    """Best-of-``N`` by outcome reward, one output per ``N`` fresh candidates from ``q``, ties
    uniform: ``P(o) = q(o)/q(level) * (F(level)^N - F(below)^N)`` where ``level`` is the set
    of paths with ``o``'s reward. The selecting ORM-BoN (their l.785-800 with N >= 1 output per
    N candidates)."""
    q = np.asarray(q, dtype=np.float64)
    lv, _ = _merge(rewards.astype(np.float64), np.ones(len(rewards)))
    level = np.clip(np.searchsorted(lv, rewards - 1e-12 * np.abs(rewards)), 0, len(lv) - 1)
    ql = np.bincount(level, weights=q, minlength=len(lv))
    F = np.cumsum(ql)
    below = F - ql
    gain = np.maximum(F, 0.0) ** N - np.maximum(below, 0.0) ** N
    return np.where(ql[level] > 0, q * gain[level] / np.where(ql[level] > 0, ql[level], 1.0),
                    0.0)


def bon_top_sample(q: np.ndarray, rewards: np.ndarray, N: int, keep: int, n_calls: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Their ORM-BoN literally (l.785-800): ``N`` candidates from ``q``, sorted by reward, the
    top ``keep`` returned (all ``N`` when ``keep >= N``); ties in random order.
    Returns ``(n_calls, min(N, keep))`` path indices."""
    cand = rng.choice(len(q), size=(n_calls, N), p=q / q.sum())
    order = np.lexsort((rng.random(cand.shape), -rewards[cand]), axis=1)
    return np.take_along_axis(cand, order, axis=1)[:, :min(N, keep)]
