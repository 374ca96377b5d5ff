"""The tree-structured Markov chain of Spec 2 §1-2 and its exact quantities by dynamic programming.

Layers ``l = 0..L-1``; layer 0 has ``M0`` states, the others ``M``. Every state of layer ``l``
connects to every state of layer ``l+1``: ``C_size`` *high* edges of weight 1 (chosen from
``structure_seed``) plus the edges of the tasks' easy CoTs (forced high, so a state on two easy
CoTs may have more than ``C_size`` high successors -- this is how the paper's two tasks share a
state; forced edges count toward ``C_size``), all others *low* with weight ``eps``; weights are
normalised per state.

Transition arrays are padded to ``(L-1, Mx, M)`` with ``Mx = max(M0, M)``; row ``s`` of layer
``l`` is meaningful for ``s < n_states[l]``. Nothing here enumerates paths except the
``enumerate_*`` helpers (for small trees and tests): every quantity is a forward or backward
pass over layers, ``O(L M^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lgamma

import numpy as np

from .. import _validate as v

MAX_ENUMERATE = 1 << 22  # paths; beyond this the enumerating helpers refuse


@dataclass(frozen=True)
class ChainConfig:
    """Validated configuration of a tree Markov chain (Spec 2 §1).

    Attributes:
        L: number of layers (path length), >= 2.
        M0: states in layer 0; M: states in every other layer.
        C_size: high successors per state, ``1 <= C_size <= M``.
        eps: low-edge weight, in (0, 1] (paper: 0.1).
        tasks: ``(start, target)`` pairs, start in layer 0, target in layer ``L-1``.
        easy_paths: one forced easy CoT per task (its edges are made high), or ``None`` for
            every task: then each task must already have an all-high path to its target.
        structure_seed: seed of the random choice of the ``C_size`` high successors.
    """

    L: int = 4
    M0: int = 2
    M: int = 2
    C_size: int = 1
    eps: float = 0.1
    tasks: tuple = ((0, 0), (1, 1))
    easy_paths: tuple | None = ((0, 0, 0, 0), (1, 0, 0, 1))
    structure_seed: int = 0

    def __post_init__(self) -> None:
        v.int_scalar("L", self.L, min_value=2, max_value=64)
        v.int_scalar("M0", self.M0, min_value=1)
        v.int_scalar("M", self.M, min_value=2)
        v.int_scalar("C_size", self.C_size, min_value=1)
        if self.C_size > self.M:
            raise ValueError(f"C_size must be <= M (a state has only M={self.M} successors), "
                             f"got C_size={self.C_size}")
        eps = v.finite_scalar("eps", self.eps)
        if not 0.0 < eps <= 1.0:
            raise ValueError(f"eps (low-edge weight) must be in (0, 1], got {self.eps}")
        v.int_scalar("structure_seed", self.structure_seed, min_value=0)
        if len(self.tasks) == 0:
            raise ValueError("tasks must hold at least one (start, target) pair, got ()")
        for k, t in enumerate(self.tasks):
            if len(t) != 2:
                raise ValueError(f"tasks[{k}] must be a (start, target) pair, got {t!r}")
            s, g = t
            v.int_scalar(f"tasks[{k}] start", s)
            v.int_scalar(f"tasks[{k}] target", g)
            if not 0 <= s < self.M0:
                raise ValueError(f"tasks[{k}] start must be a layer-0 state in [0, {self.M0}), "
                                 f"got {s}")
            if not 0 <= g < self.M:
                raise ValueError(f"tasks[{k}] target {g} is unreachable: layer {self.L - 1} "
                                 f"has states [0, {self.M})")
        if self.easy_paths is not None:
            if len(self.easy_paths) != len(self.tasks):
                raise ValueError(f"easy_paths must give one path per task ({len(self.tasks)}), "
                                 f"got {len(self.easy_paths)}")
            for k, (p, (s, g)) in enumerate(zip(self.easy_paths, self.tasks)):
                if len(p) != self.L:
                    raise ValueError(f"easy_paths[{k}] must have length L={self.L}, got {p!r}")
                if p[0] != s or p[-1] != g:
                    raise ValueError(f"easy_paths[{k}]={p!r} must start at {s} and end at {g} "
                                     f"(task {k})")
                for l, x in enumerate(p):
                    n = self.M0 if l == 0 else self.M
                    if not (isinstance(x, (int, np.integer)) and 0 <= x < n):
                        raise ValueError(f"easy_paths[{k}][{l}] must be in [0, {n}), got {x!r}")


def paper_config(**overrides) -> ChainConfig:
    """The paper's run (Spec 2 §1): L=4, M0=2, M=2, C_size=1, eps=0.1; TASK1 = (0 -> 0) with
    easy CoT 0000, TASK2 = (1 -> 1) with easy CoT 1001."""
    return ChainConfig(**overrides)


def two_task_config(L: int = 4, M0: int = 2, M: int = 2, C_size: int = 1, eps: float = 0.1,
                    structure_seed: int = 0) -> ChainConfig:
    """The paper's two tasks at any depth: TASK1 = (0 -> 0), easy CoT 0...0; TASK2 = (1 -> 1),
    easy CoT 1 0...0 1 (the two easy CoTs share every transition but the first and the last)."""
    L = v.int_scalar("L", L, min_value=3)
    return ChainConfig(L=L, M0=M0, M=M, C_size=C_size, eps=eps, tasks=((0, 0), (1, 1)),
                       easy_paths=((0,) * L, (1,) + (0,) * (L - 2) + (1,)),
                       structure_seed=structure_seed)


@dataclass(frozen=True, eq=False)
class TreeChain:
    """A built chain: ``high`` (bool) and ``P`` (true transitions), both ``(L-1, Mx, M)``."""

    config: ChainConfig
    high: np.ndarray
    P: np.ndarray
    n_states: np.ndarray = field(repr=False)

    @property
    def L(self) -> int:
        return self.config.L

    @property
    def M(self) -> int:
        return self.config.M

    @property
    def tasks(self) -> tuple:
        return tuple(tuple(int(x) for x in t) for t in self.config.tasks)

    def n_valid(self) -> int:
        """Valid CoTs per task: ``M^(L-2)`` (start and target fixed)."""
        return self.M ** (self.L - 2)

    @classmethod
    def from_transitions(cls, P, high=None, tasks: tuple = ((0, 0), (1, 1)), **kw) -> TreeChain:
        """See :func:`chain_from_transitions`."""
        return chain_from_transitions(P, high, tasks, **kw)

    @classmethod
    def from_edges(cls, high_edges, **kw) -> TreeChain:
        """See :func:`chain_from_edges`."""
        return chain_from_edges(high_edges, **kw)


def build_chain(config: ChainConfig) -> TreeChain:
    """Draw the high edges, force the easy CoTs, normalise (Spec 2 §1)."""
    c = config
    Mx = max(c.M0, c.M)
    n_states = np.array([c.M0] + [c.M] * (c.L - 1), dtype=np.int64)
    rng = np.random.default_rng(c.structure_seed)
    high = np.zeros((c.L - 1, Mx, c.M), dtype=bool)
    if c.easy_paths is not None:
        for p in c.easy_paths:
            for l in range(c.L - 1):
                high[l, p[l], p[l + 1]] = True
    for l in range(c.L - 1):
        for s in range(n_states[l]):
            # forced edges count toward C_size; the rest are drawn among the other successors
            free = np.flatnonzero(~high[l, s])
            need = c.C_size - (c.M - len(free))
            order = rng.permutation(free)  # drawn for every state: structure stable in seed
            if need > 0:
                high[l, s, order[:need]] = True
    w = np.where(high, 1.0, c.eps)
    for l in range(c.L - 1):
        w[l, n_states[l]:, :] = 0.0
    P = w / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)
    chain = TreeChain(c, high, P, n_states)
    for k, (s, g) in enumerate(chain.tasks):
        if forward(np.where(high, P, 0.0), s)[-1, g] <= 0.0:
            raise ValueError(f"task {k} ({s} -> {g}): the target is unreachable from the start "
                             f"by high edges, so the task has no easy CoT; give easy_paths or "
                             f"another structure_seed")
    return chain


# ------------------------------------------------------------------------------------------
# Dynamic programming over layers
# ------------------------------------------------------------------------------------------


def forward(Q: np.ndarray, start: int) -> np.ndarray:
    """``alpha[l, s]``: mass of the paths from ``start`` reaching state ``s`` of layer ``l``,
    under edge weights ``Q`` (a policy, or any non-negative weights)."""
    Lm1, Mx, M = Q.shape
    alpha = np.zeros((Lm1 + 1, Mx))
    alpha[0, start] = 1.0
    for l in range(Lm1):
        alpha[l + 1, :M] = alpha[l] @ Q[l]
    return alpha


def backward(Wt: np.ndarray, target: int) -> np.ndarray:
    """``beta[l, s]``: weight of the continuations from state ``s`` of layer ``l`` that end at
    ``target``, with edge weights ``Wt``."""
    Lm1, Mx, M = Wt.shape
    beta = np.zeros((Lm1 + 1, Mx))
    beta[Lm1, target] = 1.0
    for l in range(Lm1 - 1, -1, -1):
        beta[l] = Wt[l] @ beta[l + 1, :M]
    return beta


def path_prob(Q: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """``prod_l Q(o_{l+1} | o_l)`` for paths ``(n, L)``."""
    paths = np.asarray(paths)
    l = np.arange(paths.shape[1] - 1)
    return np.prod(Q[l, paths[:, :-1], paths[:, 1:]], axis=1)


def valid_mass(chain: TreeChain, task: int, Q: np.ndarray | None = None) -> float:
    """Probability under ``Q`` (default: the true chain) that a CoT from the task's start ends
    at its target: the normaliser ``Z_k`` of ``Rex_k`` when ``Q = P``."""
    s, g = chain.tasks[task]
    return float(forward(chain.P if Q is None else Q, s)[-1, g])


def coverage(chain: TreeChain, task: int, Q: np.ndarray) -> tuple[float, float, float]:
    """Exact (easy, hard, invalid) shares of CoTs sampled from ``Q`` at the task's start
    (Spec 2 §4): easy = valid and only high edges; hard = valid with a low edge."""
    s, g = chain.tasks[task]
    valid = forward(Q, s)[-1, g]
    easy = forward(np.where(chain.high, Q, 0.0), s)[-1, g]
    return float(easy), float(max(valid - easy, 0.0)), float(max(1.0 - valid, 0.0))


def rex(chain: TreeChain, task: int, paths: np.ndarray) -> np.ndarray:
    """``Rex_k(o) = P(o) / sum_{valid o'} P(o')`` for valid ``o``, 0 otherwise (Spec 2 §2)."""
    paths = np.atleast_2d(np.asarray(paths, dtype=np.int64))
    s, g = chain.tasks[task]
    ok = (paths[:, 0] == s) & (paths[:, -1] == g)
    return np.where(ok, path_prob(chain.P, paths) / valid_mass(chain, task), 0.0)


def potential_tables(chain: TreeChain, task: int, Q: np.ndarray) -> tuple[np.ndarray, float]:
    """``(beta, Z)`` with ``beta[l, s] = E_Q[P(suffix) 1{ends at target} | o_l = s]`` (weights
    ``Q * P`` backward): then ``E_Q[Rex | prefix] = P(prefix) beta[l, o_l] / Z``."""
    g = chain.tasks[task][1]
    return backward(Q * chain.P, g), valid_mass(chain, task)


def potential(chain: TreeChain, task: int, Q: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
    """PRM potential ``R_pot(prefix) = E_Q[Rex | prefix]`` (Spec 2 §2) for prefixes
    ``(n, l+1)`` (all of one length), continuations drawn from ``Q``."""
    prefixes = np.atleast_2d(np.asarray(prefixes, dtype=np.int64))
    beta, Z = potential_tables(chain, task, Q)
    l = prefixes.shape[1] - 1
    pp = path_prob(chain.P, prefixes) if l > 0 else np.ones(len(prefixes))
    ok = prefixes[:, 0] == chain.tasks[task][0]
    return np.where(ok, pp * beta[l, prefixes[:, -1]] / Z, 0.0)


def moment_tables(chain: TreeChain, task: int, Q: np.ndarray, n_terms: int) -> np.ndarray:
    """``m[n, l, s] = E_Q[(P(suffix) 1{valid})^n | o_l = s]`` for ``n < n_terms`` (``m[0] = 1``):
    backward passes with edge weights ``Q * P^n``."""
    g = chain.tasks[task][1]
    Lm1, Mx, _ = Q.shape
    m = np.empty((n_terms, Lm1 + 1, Mx))
    m[0] = 1.0
    for n in range(1, n_terms):
        m[n] = backward(Q * chain.P ** n, g)
    return m


def dprm_terms(lam: float) -> int:
    """Series terms for ``E[exp(lam X)]``, ``0 <= X <= 1``: the remainder ``lam^n / n!`` falls
    below 1e-17 relative."""
    n = 1
    while n < 400 and (n * np.log(max(lam, 1e-300)) - lgamma(n + 1)) > -40.0:
        n += 1
    return n + 1


def dprm_value(chain: TreeChain, task: int, Q: np.ndarray, prefixes: np.ndarray,
               lam: float) -> np.ndarray:
    """DPRM value ``(1/lam) log E_Q[exp(lam Rex) | prefix]`` (Spec 2 §2), exactly, by layers.

    ``Rex = P(prefix) X / Z`` with ``X = P(suffix) 1{valid}``, so
    ``E[exp(lam Rex)] = sum_n (lam P(prefix)/Z)^n m_n / n!`` with the moments ``m_n`` of
    :func:`moment_tables`; ``lam Rex <= lam`` makes the series converge like ``exp(lam)``.
    """
    lam = v.finite_scalar("lam", lam, min_value=0.0, strict_min=True)
    prefixes = np.atleast_2d(np.asarray(prefixes, dtype=np.int64))
    l = prefixes.shape[1] - 1
    m = moment_tables(chain, task, Q, dprm_terms(lam))
    Z = valid_mass(chain, task)
    pp = path_prob(chain.P, prefixes) if l > 0 else np.ones(len(prefixes))
    ok = prefixes[:, 0] == chain.tasks[task][0]
    x = np.where(ok, lam * pp / Z, 0.0)
    n = np.arange(m.shape[0])
    logfact = np.array([lgamma(k + 1) for k in n])
    terms = np.exp(n[None, :] * np.log(np.maximum(x, 1e-300))[:, None] - logfact[None, :])
    terms[:, 0] = 1.0
    h = np.sum(terms * m[:, l, prefixes[:, -1]].T, axis=1)
    return np.log(h) / lam


def state_advantages(chain: TreeChain, task: int, Q: np.ndarray) -> np.ndarray:
    """PRM step advantages ``A_l(s, s') = E_Q[Rex | o_l=s, o_{l+1}=s'] - E_Q[Rex | o_l=s]``,
    the prefix averaged out under ``Q`` (so that the KL-tilted optimum stays Markov, Spec 2 §3).

    With ``f`` the forward pass under weights ``Q * P`` and ``alpha`` under ``Q``:
    ``E[Rex | o_l=s, o_{l+1}=s'] = f_l(s) / alpha_l(s) * P(s'|s) beta_{l+1}(s') / Z``.
    States the task never reaches get advantage 0.
    """
    s0, _ = chain.tasks[task]
    beta, Z = potential_tables(chain, task, Q)
    f = forward(Q * chain.P, s0)
    alpha = forward(Q, s0)
    Lm1, _, M = Q.shape
    A = np.zeros_like(Q)
    for l in range(Lm1):
        reach = alpha[l] > 0
        g = np.where(reach, f[l] / np.where(reach, alpha[l], 1.0), 0.0) / Z
        qv = g[:, None] * chain.P[l] * beta[l + 1, :M][None, :]
        vv = g * beta[l]
        A[l] = np.where(reach[:, None], qv - vv[:, None], 0.0)
    return A


def kl_tilted_policy(chain: TreeChain, task: int, Q_base: np.ndarray, tau: float,
                     beta: float) -> np.ndarray:
    """Closed-form optimum of the KL-regularised objective (Spec 2 §3, remedy 2):
    ``p(o_{l+1} | o_l) ∝ p_base(o_{l+1} | o_l) exp(tau A_l / beta)``, ``A_l`` from
    :func:`state_advantages` under the base policy."""
    tau = v.finite_scalar("tau", tau, min_value=0.0)
    beta = v.finite_scalar("beta", beta, min_value=0.0, strict_min=True)
    A = state_advantages(chain, task, Q_base)
    w = Q_base * np.exp(tau * A / beta)
    return w / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)


# ------------------------------------------------------------------------------------------
# Valid paths (explicit, for instances and small-tree enumeration)
# ------------------------------------------------------------------------------------------


def valid_paths(chain: TreeChain, task: int) -> np.ndarray:
    """All ``M^(L-2)`` valid CoTs of a task, ``(n_valid, L)``, row ``i`` having code ``i``
    (intermediate states read as base-``M`` digits, most significant first)."""
    n = chain.n_valid()
    if n > MAX_ENUMERATE:
        raise ValueError(f"task has {n} valid CoTs, more than the {MAX_ENUMERATE} that can be "
                         f"listed explicitly; use a smaller L or M")
    s, g = chain.tasks[task]
    L, M = chain.L, chain.M
    codes = np.arange(n, dtype=np.int64)
    out = np.empty((n, L), dtype=np.int64)
    out[:, 0], out[:, -1] = s, g
    for j in range(L - 2):
        out[:, L - 2 - j] = (codes // M ** j) % M
    return out


def path_codes(chain: TreeChain, paths: np.ndarray) -> np.ndarray:
    """Code of each path's intermediate states (see :func:`valid_paths`)."""
    paths = np.atleast_2d(np.asarray(paths, dtype=np.int64))
    code = np.zeros(len(paths), dtype=np.int64)
    for l in range(1, chain.L - 1):
        code = code * chain.M + paths[:, l]
    return code


def is_easy(chain: TreeChain, paths: np.ndarray) -> np.ndarray:
    """True where a path uses only high edges."""
    paths = np.atleast_2d(np.asarray(paths, dtype=np.int64))
    l = np.arange(chain.L - 1)
    return np.all(chain.high[l, paths[:, :-1], paths[:, 1:]], axis=1)


def valid_path_probs(chain: TreeChain, task: int, Q: np.ndarray) -> np.ndarray:
    """``Q(o)`` of every valid CoT (indexed by code), by a product over layers of outer
    products -- no per-path loop."""
    s, g = chain.tasks[task]
    M = chain.M
    if chain.L == 2:
        return np.array([Q[0, s, g]])
    prob = Q[0, s, :M].copy()
    for l in range(1, chain.L - 2):
        prob = (prob[:, None] * Q[l, np.arange(len(prob)) % M, :M]).reshape(-1)
    return prob * np.tile(Q[chain.L - 2, :M, g], len(prob) // M)


def enumerate_paths(chain: TreeChain, start: int) -> np.ndarray:
    """Every path from ``start`` (``M^(L-1)`` rows): for brute-force checks on small trees."""
    n = chain.M ** (chain.L - 1)
    if n > MAX_ENUMERATE:
        raise ValueError(f"{n} paths from one start: too many to enumerate (max {MAX_ENUMERATE})")
    codes = np.arange(n, dtype=np.int64)
    out = np.empty((n, chain.L), dtype=np.int64)
    out[:, 0] = start
    for j in range(chain.L - 1):
        out[:, chain.L - 1 - j] = (codes // chain.M ** j) % chain.M
    return out


# ------------------------------------------------------------------------------------------
# Chains given explicitly (e.g. Bu et al.'s own chain, obandits.cot.bu2025), not drawn
# ------------------------------------------------------------------------------------------

ROW_SUM_TOL = 1e-9


def chain_from_transitions(P, high=None, tasks: tuple = ((0, 0), (1, 1)), *,
                           M0: int | None = None, eps: float = 0.1) -> TreeChain:
    """A :class:`TreeChain` from an explicit transition array (Spec 2 §1), validated.

    Args:
        P: true transitions ``(L-1, Mx, M)``; row ``s < n_states[l]`` of layer ``l`` must be a
            probability vector (non-negative, sums to 1 within ``ROW_SUM_TOL``); padded rows
            (``s >= M0`` in layer 0) are ignored and stored as 0.
        high: bool array of P's shape marking the high edges; default: the edges at their row's
            maximum (ties all high, as in the authors' state with two forced high edges).
        tasks: ``(start, target)`` pairs; every target must be reachable from its start through
            edges of positive probability.
        M0: states of layer 0 (default ``Mx``; ``max(M0, M)`` must equal ``Mx``).
        eps: recorded in ``config.eps`` only (the arrays are the truth; ``config.C_size`` holds
            the largest number of high successors of a state, ``structure_seed`` is 0).

    Raises ``ValueError`` naming ``P``, ``high`` or ``tasks`` on a wrong shape, a row not summing
    to 1, or a task whose target cannot be reached from its start.
    """
    P = v.float_array("P", P, ndim=None)
    if P.ndim != 3 or P.shape[0] < 1 or P.shape[2] < 2:
        raise ValueError(f"P must be a 3-D array (L-1, Mx, M) with L >= 2 and M >= 2, got shape "
                         f"{P.shape}")
    Lm1, Mx, M = P.shape
    M0 = Mx if M0 is None else v.int_scalar("M0", M0, min_value=1)
    if max(M0, M) != Mx:
        raise ValueError(f"P must have shape (L-1, max(M0, M), M) = ({Lm1}, {max(M0, M)}, {M}) "
                         f"for M0={M0}, got {P.shape}")
    n_states = np.array([M0] + [M] * Lm1, dtype=np.int64)
    P = P.copy()
    for l in range(Lm1):
        P[l, n_states[l]:, :] = 0.0
        rows = P[l, :n_states[l]]
        if rows.min() < 0.0:
            s, j = np.argwhere(rows < 0.0)[0]
            raise ValueError(f"P[{l}, {s}, {j}] = {rows[s, j]} is negative; transition "
                             f"probabilities must be >= 0")
        sums = rows.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
        if len(bad):
            s = int(bad[0])
            raise ValueError(f"P[{l}, {s}] sums to {sums[s]!r}; every row of a state must sum "
                             f"to 1 (tolerance {ROW_SUM_TOL})")
    if high is None:
        high = P >= P.max(axis=2, keepdims=True) - ROW_SUM_TOL
    else:
        high = np.asarray(high)
        if high.shape != P.shape or high.dtype != bool:
            raise ValueError(f"high must be a bool array of P's shape {P.shape}, got "
                             f"{high.dtype} {high.shape}")
        high = high.copy()
    for l in range(Lm1):
        high[l, n_states[l]:, :] = False
    if np.any(high & (P <= 0.0)):
        l, s, j = np.argwhere(high & (P <= 0.0))[0]
        raise ValueError(f"high[{l}, {s}, {j}] marks an edge of probability 0 as high")
    c_size = int(min(M, max(1, high.sum(axis=2).max())))
    config = ChainConfig(L=Lm1 + 1, M0=M0, M=M, C_size=c_size, eps=eps,
                         tasks=tuple(tuple(t) for t in tasks), easy_paths=None, structure_seed=0)
    chain = TreeChain(config, high, P, n_states)
    for k, (s, g) in enumerate(chain.tasks):
        if forward(P, s)[-1, g] <= 0.0:
            raise ValueError(f"tasks[{k}] = ({s}, {g}): no path of positive probability from "
                             f"the start {s} to the target {g} in P")
    return chain


def chain_from_edges(high_edges, *, L: int, M0: int, M: int, tasks: tuple = ((0, 0), (1, 1)),
                     high_weight: float = 1.0, low_weight: float = 0.1) -> TreeChain:
    """A :class:`TreeChain` from an explicit list of high edges ``(layer, state, next)``: every
    edge of the complete tree is present, high ones with weight ``high_weight``, the others
    ``low_weight``, normalised per state (Spec 2 §1; Bu et al.'s construction, their
    ``multi_task_tmc.py`` l.102-117, with ``high_weight = 1/C_size`` and ``low_weight = 0.1``).

    Raises ``ValueError`` naming ``high_edges[i]`` for an entry that is not a triple of
    in-range integers, and as :func:`chain_from_transitions` otherwise."""
    L = v.int_scalar("L", L, min_value=2, max_value=64)
    M0 = v.int_scalar("M0", M0, min_value=1)
    M = v.int_scalar("M", M, min_value=2)
    hw = v.finite_scalar("high_weight", high_weight, min_value=0.0, strict_min=True)
    lw = v.finite_scalar("low_weight", low_weight, min_value=0.0, strict_min=True)
    n_states = [M0] + [M] * (L - 1)
    high = np.zeros((L - 1, max(M0, M), M), dtype=bool)
    try:
        edges = list(high_edges)
    except TypeError:
        raise ValueError(f"high_edges must be a sequence of (layer, state, next) triples, got "
                         f"{high_edges!r}") from None
    for i, e in enumerate(edges):
        if not (hasattr(e, "__len__") and len(e) == 3):
            raise ValueError(f"high_edges[{i}] must be a (layer, state, next) triple, got {e!r}")
        l = v.int_scalar(f"high_edges[{i}] layer", e[0], min_value=0, max_value=L - 2)
        s = v.int_scalar(f"high_edges[{i}] state", e[1], min_value=0, max_value=n_states[l] - 1)
        j = v.int_scalar(f"high_edges[{i}] next", e[2], min_value=0, max_value=M - 1)
        high[l, s, j] = True
    w = np.where(high, hw, lw)
    for l in range(L - 1):
        w[l, n_states[l]:, :] = 0.0
    P = w / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)
    return chain_from_transitions(P, high, tasks, M0=M0, eps=min(1.0, lw / hw))
