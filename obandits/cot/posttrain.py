"""Post-training on one task's instances (Spec 2 §3): REINFORCE, RAFT, PPO-clip, GRPO, the two
remedies (rejecting easy instances; a KL penalty toward the pretrained model), and -- beyond
the paper -- the outcome bonuses of :mod:`obandits.bonuses` inside GRPO, the CoT's final state
(or, optionally, the whole CoT) being the outcome.

One compiled loop runs a whole training run. Per iteration: draw an instance; with rejection
on, draw ``reject`` CoTs first and skip the instance if one is correct; draw a group of ``G``
CoTs; compute advantages; take ``ppo_epochs`` gradient steps on the per-CoT objective (sequence
log-probability summed over steps, mean over the group):

* REINFORCE  ``A_j = R_j``                                  (``theta += eta R grad log p``)
* RAFT       SFT on the correct CoTs: ``A_j = G R_j / #correct`` (nothing when none is)
* PPO-clip   ``A_j = R_j - mean(R)``, per-step ratio clipped at ``1 +- clip_eps``
* GRPO       ``A_j`` = group-normalised reward (+ bonus) from ``shaped_parts_nb``, clipped
* KL penalty ``- beta grad KL(p_theta(.|o_l) || p_base(.|o_l))`` at every visited state.

The compiled loop :func:`posttrain_nb` reads its scalars from a :class:`Hyper` record, updates
a :class:`State` (policy, count history, random stream) and fills an :class:`Output`. The
steps :func:`solved_by_fresh_cots`, :func:`plain_advantages` and :func:`outcomes` are small
functions compiled once as helpers of the loop (:data:`obandits.cot.learner.jit_helper`: no
Python wrappers; cheaper at cold start than inlining at Numba's IR level, which copies, types
and lowers the callee again at each call site). Drawing the group, GRPO's advantages, the
behaviour probabilities and the gradient step are written in the loop itself: every level
of calls makes LLVM optimise and generate the code below it once more (cold start).

Population objectives (the ``G -> inf`` limits whose exact gradients :func:`exact_gradient`
computes; ``p_q`` = success probability of one CoT on instance ``q``): REINFORCE / PPO
``E_q[p_q]``; RAFT ``E_q[log p_q]``; GRPO ``E_q[2 arcsin sqrt(p_q)]`` (since
``grad p / sqrt(p(1-p))`` is its gradient); KL penalty ``-beta sum_{l,s} alpha_l(s)
KL_{l,s}`` with the state distribution ``alpha`` held fixed (stop-gradient, as token-level KL
losses in LLM RL do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numba as nb
import numpy as np

from .. import _validate as v
from ..bonuses import METHODS as BONUS_METHODS
from ..bonuses import BonusConfig, kernel_parts, shaped_parts_nb
from ..countnb import counts_for_batch, finish_batch
from ..nbrng import randint
from ..options import option
from .chain import TreeChain, forward, valid_path_probs, valid_paths
from .instances import Instances, success_probs
from .learner import apply_grad3, jit_helper, policy, row_softmax, sample_path

RL_METHODS = ("reinforce", "raft", "ppo", "grpo")
RL_CODE = {m: i for i, m in enumerate(RL_METHODS)}
BONUS_OUTCOMES = ("final", "path")
MAX_COUNT_CELLS = 20_000_000


@dataclass(frozen=True)
class RLConfig:
    """Validated post-training configuration (Spec 2 §3; paper: 1000 iterations, lr 0.05).

    The names are the package's shared ones (``n_rollouts``, ``clip_eps``, ``ppo_epochs``,
    ``kl_beta``); the outcome bonus is one :class:`obandits.bonuses.BonusConfig` (``bonus``),
    used inside GRPO only, with the CoT's final state (``bonus_outcome="final"``) or the whole
    CoT (``"path"``, small trees only) as the outcome.
    """

    method: str = option("reinforce", "RL algorithm", choices=RL_METHODS)
    iters: int = option(1000, "RL iterations (one instance each)")
    n_rollouts: int = option(8, "CoTs per iteration (the group)")
    lr: float = option(0.05, "RL step size")
    clip_eps: float = option(0.2, "PPO / GRPO ratio clip")
    ppo_epochs: int = option(2, "gradient steps per group for PPO / GRPO (REINFORCE and RAFT "
                                "take one)")
    reject: int = option(0, "remedy 1: skip an instance solved by one of this many fresh CoTs "
                            "(paper: 5); 0 off")
    kl_beta: float = option(0.0, "remedy 2: KL penalty toward the pretrained model; 0 off")
    bonus: BonusConfig = field(default_factory=BonusConfig,
                               metadata={"help": "outcome bonus inside GRPO"})
    bonus_outcome: str = option("final", "the bonus's outcome: the CoT's final state or the "
                                         "whole CoT (small trees)", choices=BONUS_OUTCOMES)
    snap_every: int = option(25, "keep theta every this many iterations (curves)")

    def __post_init__(self) -> None:
        v.choice("method", self.method, RL_METHODS)
        v.int_scalar("iters", self.iters, min_value=1)
        v.int_scalar("n_rollouts", self.n_rollouts, min_value=1)
        v.finite_scalar("lr", self.lr, min_value=0.0, strict_min=True)
        v.finite_scalar("clip_eps", self.clip_eps, min_value=0.0, strict_min=True)
        v.int_scalar("ppo_epochs", self.ppo_epochs, min_value=1)
        v.int_scalar("reject", self.reject, min_value=0)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0)
        if not isinstance(self.bonus, BonusConfig):
            raise ValueError(f"bonus must be an obandits.bonuses.BonusConfig (methods "
                             f"{BONUS_METHODS}), got {self.bonus!r}")
        if self.bonus.method != "none" and self.method != "grpo":
            raise ValueError(f"bonus.method={self.bonus.method!r} is applied inside GRPO only; "
                             f"got method={self.method!r}")
        v.choice("bonus_outcome", self.bonus_outcome, BONUS_OUTCOMES)
        v.int_scalar("snap_every", self.snap_every, min_value=1)


# ------------------------------------------------------------------------------------------
# The compiled run: records, step functions, loop
# ------------------------------------------------------------------------------------------


class Hyper(NamedTuple):
    """The scalars of one run (codes as in :data:`RL_CODE` and :mod:`obandits.bonuses`)."""

    method: int
    iters: int
    n_rollouts: int
    lr: float
    clip_eps: float
    ppo_epochs: int
    reject: int
    kl_beta: float
    bonus_method: int
    c: float
    b0: float
    all_correct_rule: bool
    correct_threshold: float
    scale: int
    eps: float
    ddof: int
    count_after: bool
    outcome_path: bool
    snap_every: int


class Task(NamedTuple):
    """The training task: start and target state, and the instances' correct-CoT codes
    (instance ``i``'s sorted codes are ``codes[ptr[i]:ptr[i + 1]]``)."""

    start: int
    target: int
    ptr: np.ndarray
    codes: np.ndarray


class State(NamedTuple):
    """What a run updates in place: the policy, the count history ``N(q, outcome)``, the
    random stream (uint64[4]); ``base_theta`` is the KL anchor (read only)."""

    theta: np.ndarray
    base_theta: np.ndarray
    counts: np.ndarray
    rng: np.ndarray


class Output(NamedTuple):
    """``snaps[k]``: theta after ``k * snap_every`` iterations; ``reward_trace[t]``: the group's
    mean reward (-1 when the instance was rejected); ``stats`` = (rejected, updates)."""

    snaps: np.ndarray
    reward_trace: np.ndarray
    stats: np.ndarray


class Work(NamedTuple):
    """Per-run scratch (allocated once per run by :func:`make_work`). The 1-D buffers are two
    arrays that the kernel slices: every array passed in from Python costs
    compile time in the kernel's wrapper (cold start)."""

    paths: np.ndarray      # (G, L) the group's CoTs
    p_old: np.ndarray      # (G, L-1) behaviour probability of each step
    grad: np.ndarray       # like theta
    fbuf: np.ndarray       # (5 G + 2 M,) float zeros, sliced in :func:`posttrain_nb`
    ibuf: np.ndarray       # (L + 2 G + 1,) int zeros, sliced in :func:`posttrain_nb`


def make_work(theta: np.ndarray, G: int) -> Work:
    Lm1, _, M = theta.shape
    return Work(np.empty((G, Lm1 + 1), np.int64), np.empty((G, Lm1)), np.zeros_like(theta),
                np.zeros(5 * G + 2 * M), np.zeros(Lm1 + 1 + 2 * G + 1, np.int64))


@jit_helper
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


@jit_helper
def solved_by_fresh_cots(theta, start, target, ptr, codes, i, n, rng, p, tmp):
    """Remedy 1: True when one of ``n`` fresh CoTs solves instance ``i``."""
    M = theta.shape[2]
    for _r in range(n):
        sample_path(theta, start, 1.0, rng, p, tmp)
        if _correct(tmp, target, M, ptr, codes, i) > 0.0:
            return True
    return False


@jit_helper
def plain_advantages(method, reward, rsum, adv):
    """REINFORCE ``R_j``; RAFT ``G R_j / #correct`` (0 when none is); PPO ``R_j - mean R``."""
    G = reward.shape[0]
    if method == 0:
        for j in range(G):
            adv[j] = reward[j]
    elif method == 1:
        for j in range(G):
            adv[j] = G * reward[j] / rsum if rsum > 0 else 0.0
    else:
        for j in range(G):
            adv[j] = reward[j] - rsum / G


@jit_helper
def outcomes(paths, M, whole_path, outcome):
    """The bonus's outcome of each CoT: its final state, or (``whole_path``) the code of its
    states after the start."""
    G, L = paths.shape
    for j in range(G):
        if whole_path:
            code = 0
            for l in range(1, L):
                code = code * M + paths[j, l]
            outcome[j] = code
        else:
            outcome[j] = paths[j, L - 1]


@nb.njit(cache=True, no_cfunc_wrapper=True)
def posttrain_nb(hp, task, st, out, w, reject_on, kl_on, grpo_on, plain_on, bonus_on,
                 batch_on):
    """The whole post-training run (module docstring): ``st`` updated in place, ``out``
    filled. The last six arguments are ``None`` or ``True`` (:func:`switches`): Numba prunes
    the code behind a ``None`` before compiling, so a run compiles only the parts it uses
    (rejection, KL penalty, GRPO's or the other methods' advantages, the bonus, the Batch
    bonus). One iteration per pass of the loop; its steps are the functions above."""
    theta = st.theta
    G = hp.n_rollouts
    L, M = theta.shape[0] + 1, theta.shape[2]
    # the 1-D scratch: views of two buffers (one statement each: a tuple of arrays costs
    # compile time); ``count`` is N(q, outcome) as the bonus sees it, ``group`` G zeros (one
    # group), ``row`` the instance's row of ``counts``, ``p`` / ``b`` a policy / base row
    f, n = w.fbuf, w.ibuf
    reward = f[0:G]
    adv = f[G:2 * G]
    count = f[2 * G:3 * G]
    o_grpo = f[3 * G:4 * G]
    o_bonus = f[4 * G:5 * G]
    p = f[5 * G:5 * G + M]
    b = f[5 * G + M:5 * G + 2 * M]
    tmp = n[0:L]
    group = n[L:L + G]
    outcome = n[L + G:L + 2 * G]
    row = n[L + 2 * G:L + 2 * G + 1]
    clipped = hp.method >= 2
    n_ep = hp.ppo_epochs if clipped else 1
    k_snap = 0
    for it in range(hp.iters + 1):
        # snapshot k: theta after k * snap_every iterations (one copy loop: cold start)
        if it % hp.snap_every == 0 and k_snap < out.snaps.shape[0]:
            snap = out.snaps[k_snap]
            for l in range(theta.shape[0]):
                for r in range(theta.shape[1]):
                    for m in range(theta.shape[2]):
                        snap[l, r, m] = theta[l, r, m]
            k_snap += 1
        if it == hp.iters:
            break
        i = randint(st.rng, task.ptr.shape[0] - 1)
        skip = False
        if reject_on is not None:
            skip = solved_by_fresh_cots(theta, task.start, task.target, task.ptr, task.codes,
                                        i, hp.reject, st.rng, p, tmp)
        if skip:
            out.stats[0] += 1
            out.reward_trace[it] = -1.0
        else:
            # the group's CoTs and rewards
            rsum = 0.0
            for j in range(G):
                sample_path(theta, task.start, 1.0, st.rng, p, w.paths[j])
                reward[j] = _correct(w.paths[j], task.target, M, task.ptr, task.codes, i)
                rsum += reward[j]
            out.reward_trace[it] = rsum / G
            if grpo_on is not None:
                # GRPO's group-normalised reward plus the outcome bonus (Spec 1 §1-2; one
                # group, ``group`` = zeros), the count history ``counts[i, outcome]`` read and
                # updated by obandits.countnb (``row`` = [i]; pruned without a bonus)
                outcomes(w.paths, M, hp.outcome_path, outcome)
                if bonus_on is not None:
                    row[0] = i
                    counts_for_batch(st.counts, row, group, outcome, hp.count_after, count)
                shaped_parts_nb(group, outcome, reward, count, 1, hp.bonus_method, hp.c, hp.b0,
                                hp.all_correct_rule, hp.correct_threshold, hp.scale, hp.eps,
                                hp.ddof, adv, o_grpo, o_bonus, bonus_on, batch_on)
                if bonus_on is not None:
                    finish_batch(st.counts, row, group, outcome, hp.count_after)
            if plain_on is not None:
                plain_advantages(hp.method, reward, rsum, adv)
            # behaviour probability of each step before the update
            for j in range(G):
                for l in range(L - 1):
                    row_softmax(theta, l, w.paths[j, l], 1.0, p)
                    w.p_old[j, l] = p[w.paths[j, l + 1]]
            any_adv = False
            for j in range(G):
                if adv[j] != 0.0:
                    any_adv = True
            if any_adv or hp.kl_beta > 0.0:
                out.stats[1] += 1
                for _ep in range(n_ep):
                    # grad (zeros) += the per-CoT objective's gradient summed over the group:
                    # the (clipped) policy-gradient term and -kl_beta grad KL at every visited
                    # state (kl_on None prunes it); apply_grad3 takes the step and clears grad
                    grad = w.grad
                    for j in range(G):
                        for l in range(L - 1):
                            s = w.paths[j, l]
                            a = w.paths[j, l + 1]
                            row_softmax(theta, l, s, 1.0, p)
                            coef = adv[j]
                            if clipped and coef != 0.0:
                                ratio = p[a] / w.p_old[j, l]
                                if (coef > 0 and ratio > 1.0 + hp.clip_eps) or (
                                        coef < 0 and ratio < 1.0 - hp.clip_eps):
                                    coef = 0.0
                                else:
                                    coef *= ratio
                            if coef != 0.0:
                                for m in range(M):
                                    grad[l, s, m] -= coef * p[m]
                                grad[l, s, a] += coef
                            if kl_on is not None and hp.kl_beta > 0.0:
                                row_softmax(st.base_theta, l, s, 1.0, b)
                                kl = 0.0
                                for m in range(M):
                                    kl += p[m] * (np.log(p[m]) - np.log(b[m]))
                                for m in range(M):
                                    grad[l, s, m] -= hp.kl_beta * p[m] * (
                                        np.log(p[m]) - np.log(b[m]) - kl)
                    apply_grad3(hp.lr / G, w.grad, theta)


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


def switches(config: RLConfig) -> tuple:
    """``(reject_on, kl_on, grpo_on, plain_on, bonus_on, batch_on)`` of :func:`posttrain_nb`,
    each ``None`` where the run never reaches that code (cold start: then not compiled)."""
    on = lambda x: True if x else None  # noqa: E731
    grpo = config.method == "grpo"
    bonus, batch = (kernel_parts(config.bonus.method_code, config.bonus.c) if grpo
                    else (None, None))
    return (on(config.reject > 0), on(config.kl_beta > 0.0), on(grpo), on(not grpo), bonus,
            batch)


def hyper(config: RLConfig) -> Hyper:
    """The kernel's scalars of ``config``."""
    from ..bonuses import SCALE_CODE

    b = config.bonus
    return Hyper(RL_CODE[config.method], config.iters, config.n_rollouts, float(config.lr),
                 float(config.clip_eps), config.ppo_epochs, config.reject,
                 float(config.kl_beta), b.method_code, float(b.c), float(b.b0),
                 bool(b.all_correct_rule), float(b.correct_threshold), SCALE_CODE[b.scale],
                 float(b.eps), int(b.ddof), b.count_mode == "after",
                 config.bonus_outcome == "path", config.snap_every)


def post_train(chain: TreeChain, theta0: np.ndarray, inst: Instances, config: RLConfig,
               state: np.ndarray, theta_base: np.ndarray | None = None) -> RLRun:
    """Post-train from ``theta0`` (the pretrained model) on ``inst``; the KL anchor is
    ``theta_base`` (default ``theta0``). ``state``: a uint64[4] stream, advanced in place."""
    if theta_base is None:
        theta_base = theta0
    s, g = chain.tasks[inst.task]
    theta = np.array(theta0, dtype=np.float64, copy=True)
    n_snap = config.iters // config.snap_every + 1
    out = Output(np.zeros((n_snap,) + theta.shape), np.zeros(config.iters),
                 np.zeros(2, np.int64))
    n_out = chain.M ** (chain.L - 1) if config.bonus_outcome == "path" else chain.M
    use_counts = config.method == "grpo" and config.bonus.method != "none"
    if use_counts and inst.n * n_out > MAX_COUNT_CELLS:
        raise ValueError(f"bonus_outcome={config.bonus_outcome!r} needs a count table of "
                         f"{inst.n} x {n_out} cells (max {MAX_COUNT_CELLS}); use 'final' or a "
                         f"smaller tree")
    counts = np.zeros((inst.n, n_out) if use_counts else (1, 1))
    st = State(theta, np.asarray(theta_base, np.float64), counts, state)
    posttrain_nb(hyper(config), Task(int(s), int(g), inst.ptr, inst.codes), st, out,
                 make_work(theta, config.n_rollouts), *switches(config))
    return RLRun(theta, out.snaps, np.arange(n_snap) * config.snap_every, out.reward_trace,
                 int(out.stats[0]), int(out.stats[1]))


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
