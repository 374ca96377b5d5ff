"""Post-training on one task's instances (Spec 2 §3): REINFORCE, RAFT, PPO-clip, GRPO, the two
remedies (rejecting easy instances; a KL penalty toward the pretrained model), and -- beyond
the paper -- the outcome bonuses of :mod:`obandits.bonuses` inside GRPO, the CoT's final state
(or, optionally, the whole CoT) being the outcome.

One compiled loop runs a whole training run. Per iteration: draw an instance; with rejection
on, draw ``reject`` CoTs first and skip the instance if one is correct; draw a group of ``G``
CoTs; compute advantages; take ``epochs`` gradient steps on the per-CoT objective (sequence
log-probability summed over steps, mean over the group):

* REINFORCE  ``A_j = R_j``                                  (``theta += eta R grad log p``)
* RAFT       SFT on the correct CoTs: ``A_j = G R_j / #correct`` (nothing when none is)
* PPO-clip   ``A_j = R_j - mean(R)``, per-step ratio clipped at ``1 +- clip``
* GRPO       ``A_j`` = group-normalised reward (+ bonus) from ``shaped_parts_nb``, clipped
* KL penalty ``- beta grad KL(p_theta(.|o_l) || p_base(.|o_l))`` at every visited state.

Population objectives (the ``G -> inf`` limits whose exact gradients :func:`exact_gradient`
computes; ``p_q`` = success probability of one CoT on instance ``q``): REINFORCE / PPO
``E_q[p_q]``; RAFT ``E_q[log p_q]``; GRPO ``E_q[2 arcsin sqrt(p_q)]`` (since
``grad p / sqrt(p(1-p))`` is its gradient); KL penalty ``-beta sum_{l,s} alpha_l(s)
KL_{l,s}`` with the state distribution ``alpha`` held fixed (stop-gradient, as token-level KL
losses in LLM RL do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .. import _validate as v
from ..bonuses import METHOD_CODE, kernel_parts, shaped_parts_nb
from ..nbrng import randint
from .chain import TreeChain, forward, valid_path_probs, valid_paths
from .instances import Instances, success_probs
from .learner import axpy3, copy3, fill3, policy, row_softmax, sample_path

RL_METHODS = ("reinforce", "raft", "ppo", "grpo")
RL_CODE = {m: i for i, m in enumerate(RL_METHODS)}
BONUSES = ("none", "ucb-con", "batch")
BONUS_OUTCOMES = ("final", "path")
MAX_COUNT_CELLS = 20_000_000


@dataclass(frozen=True)
class RLConfig:
    """Validated post-training configuration (Spec 2 §3; paper: 1000 iterations, lr 0.05).

    Attributes:
        method: reinforce | raft | ppo | grpo.
        iters: iterations (one instance each). group: CoTs per iteration (ours: 8).
        lr: step size. clip: PPO / GRPO ratio clip (0.2). epochs: gradient steps per group
            for PPO / GRPO (ours: 2; REINFORCE and RAFT always take one).
        reject: remedy 1 -- skip an instance solved by one of ``reject`` fresh CoTs (paper: 5);
            0 turns it off.
        kl_beta: remedy 2 (trained) -- KL penalty strength toward the pretrained model; 0 off.
        bonus: none | ucb-con | batch (GRPO only), with ``bonus_c``, ``bonus_b0`` as in
            :class:`obandits.bonuses.BonusConfig`; ``bonus_outcome``: final (the CoT's final
            state, default) or path (the whole CoT, small trees only).
        snap_every: keep a copy of ``theta`` every this many iterations (for curves).
    """

    method: str = "reinforce"
    iters: int = 1000
    group: int = 8
    lr: float = 0.05
    clip: float = 0.2
    epochs: int = 2
    reject: int = 0
    kl_beta: float = 0.0
    bonus: str = "none"
    bonus_c: float = 0.2
    bonus_b0: float = 0.5
    bonus_outcome: str = "final"
    snap_every: int = 25

    def __post_init__(self) -> None:
        v.choice("method", self.method, RL_METHODS)
        v.int_scalar("iters", self.iters, min_value=1)
        v.int_scalar("group", self.group, min_value=1)
        v.finite_scalar("lr", self.lr, min_value=0.0, strict_min=True)
        v.finite_scalar("clip", self.clip, min_value=0.0, strict_min=True)
        v.int_scalar("epochs", self.epochs, min_value=1)
        v.int_scalar("reject", self.reject, min_value=0)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0)
        v.choice("bonus", self.bonus, BONUSES)
        if self.bonus != "none" and self.method != "grpo":
            raise ValueError(f"bonus={self.bonus!r} is applied inside GRPO only; got "
                             f"method={self.method!r}")
        v.finite_scalar("bonus_c", self.bonus_c, min_value=0.0)
        v.finite_scalar("bonus_b0", self.bonus_b0, min_value=0.0, max_value=1.0)
        v.choice("bonus_outcome", self.bonus_outcome, BONUS_OUTCOMES)
        v.int_scalar("snap_every", self.snap_every, min_value=1)


@nb.njit(cache=True, inline="always")
def _correct(path, target, M, ptr, codes, i):
    """``R(q_i, o) = 1{o in C_q}`` by bisection in the instance's sorted codes."""
    L = path.shape[0]
    if path[L - 1] != target:
        return 0.0
    code = 0
    for l in range(1, L - 1):
        code = code * M + path[l]
    lo, hi = ptr[i], ptr[i + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if codes[mid] < code:
            lo = mid + 1
        else:
            hi = mid
    return 1.0 if lo < ptr[i + 1] and codes[lo] == code else 0.0


@nb.njit(cache=True)
def posttrain_nb(theta, base_theta, start, target, ptr, codes, method, n_iters, G, eta, clip,
                 epochs, reject, kl_beta, bonus_code, bonus_c, bonus_b0, outcome_path, counts,
                 st, snap_every, snaps, reward_trace, stats, bonus_on, batch_on):
    """The whole post-training run (see the module docstring); ``theta`` updated in place.

    ``snaps[k]`` gets ``theta`` after ``k * snap_every`` iterations; ``reward_trace[t]`` the
    group's mean reward (-1 when the instance was rejected); ``stats`` = (rejected, updates).
    """
    Lm1, _, M = theta.shape
    L = Lm1 + 1
    n_inst = ptr.shape[0] - 1
    paths = np.empty((G, L), np.int64)
    tmp = np.empty(L, np.int64)
    reward = np.empty(G)
    adv = np.empty(G)
    p_old = np.empty((G, Lm1))
    p = np.empty(M)
    b = np.empty(M)
    grad = np.zeros_like(theta)
    group = np.zeros(G, np.int64)
    outcome = np.empty(G, np.int64)
    count = np.empty(G)
    o_tot, o_grpo, o_bonus = np.empty(G), np.empty(G), np.empty(G)
    copy3(theta, snaps[0])
    k_snap = 1
    for it in range(n_iters):
        i = randint(st, n_inst)
        skip = False
        if reject > 0:
            for _r in range(reject):
                sample_path(theta, start, 1.0, st, p, tmp)
                if _correct(tmp, target, M, ptr, codes, i) > 0.0:
                    skip = True
                    break
        if skip:
            stats[0] += 1
            reward_trace[it] = -1.0
        else:
            rsum = 0.0
            for j in range(G):
                sample_path(theta, start, 1.0, st, p, paths[j])
                reward[j] = _correct(paths[j], target, M, ptr, codes, i)
                rsum += reward[j]
            reward_trace[it] = rsum / G
            if method == 0:
                for j in range(G):
                    adv[j] = reward[j]
            elif method == 1:
                for j in range(G):
                    adv[j] = G * reward[j] / rsum if rsum > 0 else 0.0
            elif method == 2:
                for j in range(G):
                    adv[j] = reward[j] - rsum / G
            else:
                for j in range(G):
                    if outcome_path:
                        code = 0
                        for l in range(1, L):
                            code = code * M + paths[j, l]
                        outcome[j] = code
                    else:
                        outcome[j] = paths[j, L - 1]
                    count[j] = counts[i, outcome[j]] if bonus_code != 0 else 0.0
                shaped_parts_nb(group, outcome, reward, count, 1, bonus_code, bonus_c,
                                bonus_b0, True, 1.0, 0, 1e-6, 0, o_tot, o_grpo, o_bonus,
                                bonus_on, batch_on)
                for j in range(G):
                    adv[j] = o_tot[j]
                    if bonus_code != 0:
                        counts[i, outcome[j]] += 1
            clipped = method >= 2
            n_ep = epochs if clipped else 1
            for j in range(G):
                for l in range(Lm1):
                    row_softmax(theta, l, paths[j, l], 1.0, p)
                    p_old[j, l] = p[paths[j, l + 1]]
            any_adv = False
            for j in range(G):
                if adv[j] != 0.0:
                    any_adv = True
            if any_adv or kl_beta > 0.0:
                stats[1] += 1
                for _ep in range(n_ep):
                    fill3(grad, 0.0)
                    for j in range(G):
                        for l in range(Lm1):
                            s = paths[j, l]
                            a = paths[j, l + 1]
                            row_softmax(theta, l, s, 1.0, p)
                            coef = adv[j]
                            if clipped and coef != 0.0:
                                ratio = p[a] / p_old[j, l]
                                if (coef > 0 and ratio > 1.0 + clip) or (
                                        coef < 0 and ratio < 1.0 - clip):
                                    coef = 0.0
                                else:
                                    coef *= ratio
                            if coef != 0.0:
                                for m in range(M):
                                    grad[l, s, m] -= coef * p[m]
                                grad[l, s, a] += coef
                            if kl_beta > 0.0:
                                row_softmax(base_theta, l, s, 1.0, b)
                                kl = 0.0
                                for m in range(M):
                                    kl += p[m] * (np.log(p[m]) - np.log(b[m]))
                                for m in range(M):
                                    grad[l, s, m] -= kl_beta * p[m] * (
                                        np.log(p[m]) - np.log(b[m]) - kl)
                    axpy3(eta / G, grad, theta)
        if (it + 1) % snap_every == 0 and k_snap < snaps.shape[0]:
            copy3(theta, snaps[k_snap])
            k_snap += 1


@dataclass
class RLRun:
    """Result of :func:`post_train`: final ``theta``, snapshots ``(n_snap, ...)`` at iterations
    ``snap_iters``, the per-iteration mean reward (-1 = rejected), and counters."""

    theta: np.ndarray
    snaps: np.ndarray
    snap_iters: np.ndarray
    reward_trace: np.ndarray
    rejected: int
    updates: int


def post_train(chain: TreeChain, theta0: np.ndarray, inst: Instances, config: RLConfig,
               state: np.ndarray, theta_base: np.ndarray | None = None) -> RLRun:
    """Post-train from ``theta0`` (the pretrained model) on ``inst``; the KL anchor is
    ``theta_base`` (default ``theta0``). ``state``: a uint64[4] stream, advanced in place."""
    if theta_base is None:
        theta_base = theta0
    s, g = chain.tasks[inst.task]
    theta = np.array(theta0, dtype=np.float64, copy=True)
    n_snap = config.iters // config.snap_every + 1
    snaps = np.zeros((n_snap,) + theta.shape)
    trace = np.zeros(config.iters)
    stats = np.zeros(2, np.int64)
    n_out = chain.M ** (chain.L - 1) if config.bonus_outcome == "path" else chain.M
    use_counts = config.method == "grpo" and config.bonus != "none"
    if use_counts and inst.n * n_out > MAX_COUNT_CELLS:
        raise ValueError(f"bonus_outcome={config.bonus_outcome!r} needs a count table of "
                         f"{inst.n} x {n_out} cells (max {MAX_COUNT_CELLS}); use 'final' or a "
                         f"smaller tree")
    counts = np.zeros((inst.n, n_out) if use_counts else (1, 1))
    # the bonus kernel's parts compile only where this run reaches them (cold start)
    parts = (kernel_parts(METHOD_CODE[config.bonus], config.bonus_c)
             if config.method == "grpo" else (None, None))
    posttrain_nb(theta, np.asarray(theta_base, np.float64), s, g, inst.ptr, inst.codes,
                 RL_CODE[config.method], config.iters, config.group, config.lr, config.clip,
                 config.epochs, config.reject, config.kl_beta, METHOD_CODE[config.bonus],
                 config.bonus_c, config.bonus_b0, config.bonus_outcome == "path", counts,
                 state, config.snap_every, snaps, trace, stats, *parts)
    return RLRun(theta, snaps, np.arange(n_snap) * config.snap_every, trace, int(stats[0]),
                 int(stats[1]))


# ------------------------------------------------------------------------------------------
# Exact population objectives and their gradients (small trees: valid CoTs are listed)
# ------------------------------------------------------------------------------------------

_PHI = {
    "reinforce": (lambda p: p, lambda p: np.ones_like(p)),
    "ppo": (lambda p: p, lambda p: np.ones_like(p)),
    "raft": (lambda p: np.log(p), lambda p: 1.0 / p),
    "grpo": (lambda p: 2.0 * np.arcsin(np.sqrt(p)), lambda p: 1.0 / np.sqrt(p * (1.0 - p))),
}


def _kl_rows(Q, Qb):
    return np.sum(Q * (np.log(Q) - np.log(Qb)), axis=2)


def objective(method: str, chain: TreeChain, inst: Instances, theta: np.ndarray,
              theta_base: np.ndarray | None = None, kl_beta: float = 0.0,
              alpha: np.ndarray | None = None) -> float:
    """Population objective of ``method`` (module docstring), averaged over the solvable
    instances, minus ``kl_beta * sum_{l,s} alpha_l(s) KL_{l,s}`` (``alpha``: the state
    distribution, default the one of ``theta`` -- pass it to hold it fixed)."""
    v.choice("method", method, RL_METHODS)
    Q = policy(theta)
    pq = success_probs(chain, inst, Q)[inst.solvable]
    val = float(np.mean(_PHI[method][0](pq)))
    if kl_beta > 0.0:
        if alpha is None:
            alpha = forward(Q, chain.tasks[inst.task][0])
        val -= kl_beta * float(np.sum(alpha[:-1] * _kl_rows(Q, policy(theta_base))))
    return val


def exact_gradient(method: str, chain: TreeChain, inst: Instances, theta: np.ndarray,
                   theta_base: np.ndarray | None = None, kl_beta: float = 0.0) -> np.ndarray:
    """Exact gradient of :func:`objective` (state distribution of the KL term held fixed):
    ``grad p_q = sum_{o in C_q} Q(o) sum_l (e_{o_{l+1}} - Q(.|o_l))`` at row ``(l, o_l)``."""
    v.choice("method", method, RL_METHODS)
    Q = policy(theta)
    paths = valid_paths(chain, inst.task)
    qo = valid_path_probs(chain, inst.task, Q)
    pq = success_probs(chain, inst, Q)
    w_inst = np.zeros(inst.n)
    sol = inst.solvable
    w_inst[sol] = _PHI[method][1](pq[sol]) / sol.sum()
    # weight of each valid CoT: sum over instances containing it of phi'(p_q) / n
    inst_of = np.repeat(np.arange(inst.n), np.diff(inst.ptr))
    w_path = np.bincount(inst.codes, weights=w_inst[inst_of], minlength=len(qo)) * qo
    grad = np.zeros_like(theta)
    for l in range(chain.L - 1):
        s, a = paths[:, l], paths[:, l + 1]
        np.add.at(grad[l], (s, a), w_path)
        np.add.at(grad[l], s, -w_path[:, None] * Q[l, s])
    if kl_beta > 0.0:
        Qb = policy(theta_base)
        alpha = forward(Q, chain.tasks[inst.task][0])
        kl = _kl_rows(Q, Qb)
        grad -= kl_beta * alpha[:-1, :, None] * Q * (np.log(Q) - np.log(Qb) - kl[:, :, None])
    return grad
