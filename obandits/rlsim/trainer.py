"""GRPO with outcome-based exploration bonuses on the simulated policy (Spec 1 §1-4).

One compiled kernel runs a whole training run: each step draws ``batch_prompts`` training
problems (a fresh random permutation every epoch), ``n`` traces per problem from the current
softmax policy, the verifiable reward of each trace's answer, the shaped advantages
``A_i = Â_i + B_i`` from :func:`obandits.bonuses.shaped_parts_nb` (the one implementation
of the GRPO advantage and of the four bonuses) with the history counts ``N(x, a)``, and one
exact policy-gradient step on the surrogate

    J_b = (1/n) sum_{i in group b} A_i log pi(y_i | p_b) - beta * KL(pi(.|p_b) || pi_0(.|p_b))

whose gradient w.r.t. the logits is ``(1/n) sum_i A_i (e_{y_i} - pi) - beta pi (log pi/pi_0 -
KL)``. Per-problem parameters move by ``lr_theta * dJ_b/dtheta_b``; the shared weights by
``lr_w * (1/B) sum_b dJ_b/dw`` (the mean over the batch's prompts). With ``learn=False`` the
same kernel is the base-model sampling baseline ("RL as sampling") at the same budget.

The count table inside the kernel is the dense ``N[prompt, outcome]`` of
:class:`obandits.counts.CountTable`; :attr:`RunResult.count_table` returns it as one.

Layout: :func:`run_training` hands the kernel records (NamedTuples of arrays: model, run
settings, state, trace) and two output tables; the driver :func:`_train_kernel` allocates the
batch and work vectors, unpacks the records once and calls small step functions
(:func:`_sample_batch`, the shared count and advantage kernels, :func:`_measure_batch`,
:func:`_record_trace`, :func:`_policy_step`, :func:`_checkpoint`) with the arrays each uses.
Cold start (a first run compiles all of it; measured by whole-process instruction counts,
``bench/results/rlsim.md``): step functions have no Python wrappers and take arrays rather
than records (a record passed into a compiled call is flattened into all its fields), few
arrays cross from Python, and code a run does not use (the trace, the bonus parts, the KL
term, Bernoulli rewards) sits behind ``None`` arguments, which Numba prunes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numba as nb
import numpy as np

from .. import _validate as v
from ..bonuses import BonusConfig, kernel_parts, shaped_parts_nb
from ..countnb import counts_for_batch, finish_batch
from ..counts import CountTable
from ..metrics import PASS_K
from ..nbrng import categorical_cdf, randint, uniform
from ..seeding import rep_states
from .model import Model


@dataclass(frozen=True)
class TrainConfig:
    """A GRPO training run on a :class:`~obandits.rlsim.model.Model`.

    Attributes:
        bonus: the advantage shaping (method none | ucb | ucb-mean | ucb-con | batch, c, b0,
            count mode, std scaling; :class:`obandits.bonuses.BonusConfig`).
        n_rollouts: samples per problem per step (group size; paper: 8).
        batch_prompts: problems per step (at most ``n_train`` is sensible; a batch that crosses
            an epoch boundary may repeat a problem).
        steps: optimisation steps; the sample budget is ``steps * batch_prompts * n_rollouts``.
        lr_theta: step size of the per-problem parameters.
        lr_w: step size of the shared trace-feature weights.
        kl_beta: weight of ``KL(pi || pi_0)`` in the objective (0 = none); ``kl_beta`` times
            the larger step size must be <= 2 (stability of the explicit step).
        n_evals: evaluation checkpoints, evenly spaced over the steps (the last at the end).
        ks: the ``k`` of test pass@k (exact: ``1 - (1 - q)^k`` from the policy's probability
            ``q`` of a correct sample).
        hard_q: a training problem is *base-hard* when the base model's probability of a
            correct sample is below this (a fixed set for discovery curves).
        trace_steps: record every sample, count and advantage of the first ``trace_steps``
            steps (for audits and tests).
    """

    bonus: BonusConfig = field(default_factory=BonusConfig)
    n_rollouts: int = 8
    batch_prompts: int = 64
    steps: int = 100
    lr_theta: float = 1.0
    lr_w: float = 0.5
    kl_beta: float = 0.0
    n_evals: int = 20
    ks: tuple[int, ...] = PASS_K
    hard_q: float = 0.01
    trace_steps: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.bonus, BonusConfig):
            raise ValueError(f"bonus must be a BonusConfig, got {type(self.bonus).__name__}")
        v.int_scalar("n_rollouts", self.n_rollouts, min_value=1)
        v.int_scalar("batch_prompts", self.batch_prompts, min_value=1)
        v.int_scalar("steps", self.steps, min_value=1)
        v.finite_scalar("lr_theta", self.lr_theta, min_value=0.0)
        v.finite_scalar("lr_w", self.lr_w, min_value=0.0)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0)
        if self.kl_beta * max(self.lr_theta, self.lr_w) > 2.0:
            # the KL term's curvature is up to beta: an explicit step of size lr diverges
            # once lr * beta > 2
            raise ValueError(f"kl_beta * max(lr_theta, lr_w) must be <= 2 (explicit KL steps "
                             f"diverge beyond), got kl_beta={self.kl_beta}, "
                             f"lr_theta={self.lr_theta}, lr_w={self.lr_w}")
        v.int_scalar("n_evals", self.n_evals, min_value=1, max_value=self.steps)
        ks = tuple(self.ks)
        if not ks:
            raise ValueError("ks must not be empty")
        for k in ks:
            v.int_scalar("ks entry", k, min_value=1)
        object.__setattr__(self, "ks", tuple(int(k) for k in ks))
        v.finite_scalar("hard_q", self.hard_q, min_value=0.0, max_value=1.0)
        v.int_scalar("trace_steps", self.trace_steps, min_value=0, max_value=self.steps)

    @property
    def samples(self) -> int:
        return self.steps * self.batch_prompts * self.n_rollouts

    def eval_steps(self) -> np.ndarray:
        """Steps (1-based, after the update) at which the kernel evaluates."""
        return np.unique(np.round(np.linspace(self.steps / self.n_evals, self.steps,
                                              self.n_evals)).astype(np.int64))


# --------------------------------------------------------------------------------------------
# The policy and its exact gradient (shared by the kernel and the gradient tests)
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _policy(base_p, theta_p, feats_p, share, w, probs, logp):
    """``z = l0 + theta + share * x @ w``; writes ``pi`` and ``log pi``; returns the entropy."""
    T = base_p.shape[0]
    F = w.shape[0]
    zmax = -np.inf
    for t in range(T):
        z = base_p[t] + theta_p[t]
        for f in range(F):
            z += share * w[f] * feats_p[t, f]
        logp[t] = z
        if z > zmax:
            zmax = z
    tot = 0.0
    for t in range(T):
        probs[t] = math.exp(logp[t] - zmax)
        tot += probs[t]
    lz = zmax + math.log(tot)
    ent = 0.0
    for t in range(T):
        logp[t] -= lz
        probs[t] /= tot
        if probs[t] > 0.0:
            ent -= probs[t] * logp[t]
    return ent


@nb.njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _surrogate_grad_z(probs, logp, logp0, ys, adv, beta, kl_on, gz):
    """``dJ_b/dz`` for one group (see the module doc); returns ``J_b``. ``kl_on``: ``None``
    prunes the KL term at compile time (a run with ``beta = 0`` does not compile it)."""
    T = probs.shape[0]
    n = ys.shape[0]
    val = 0.0
    for t in range(T):
        gz[t] = 0.0
    asum = 0.0
    for i in range(n):
        gz[ys[i]] += adv[i] / n
        asum += adv[i] / n
        val += adv[i] * logp[ys[i]] / n
    for t in range(T):
        gz[t] -= asum * probs[t]
    if kl_on is not None and beta > 0.0:
        kl = 0.0
        for t in range(T):
            if probs[t] > 0.0:
                kl += probs[t] * (logp[t] - logp0[t])
        for t in range(T):
            gz[t] -= beta * probs[t] * (logp[t] - logp0[t] - kl)
        val -= beta * kl
    return val


@nb.njit(cache=True, nogil=True)
def batch_surrogate(base_logits, feats, share, theta, w, problems, ys, adv, beta,
                    g_theta, g_w):
    """``J = sum_b J_b`` over a batch of groups and its exact gradient.

    ``problems[b]`` is group b's training problem, ``ys`` / ``adv`` the flat samples (group b
    owns entries ``b*n .. b*n+n-1``). Writes ``dJ/dtheta`` into ``g_theta`` (same shape as
    ``theta``) and ``dJ/dw`` into ``g_w``; returns ``J``.
    """
    B = problems.shape[0]
    n = ys.shape[0] // B
    T = base_logits.shape[1]
    F = w.shape[0]
    probs, logp = np.empty(T), np.empty(T)
    p0, logp0, gz = np.empty(T), np.empty(T), np.empty(T)
    zero_w = np.zeros(F)
    zero_t = np.zeros(T)
    g_theta[:] = 0.0
    g_w[:] = 0.0
    total = 0.0
    for b in range(B):
        p = problems[b]
        _policy(base_logits[p], theta[p], feats[p], share, w, probs, logp)
        if beta > 0.0:
            _policy(base_logits[p], zero_t, feats[p], share, zero_w, p0, logp0)
        total += _surrogate_grad_z(probs, logp, logp0, ys[b * n:(b + 1) * n],
                                   adv[b * n:(b + 1) * n], beta, True, gz)
        for t in range(T):
            g_theta[p, t] += gz[t]
            for f in range(F):
                g_w[f] += share * feats[p, t, f] * gz[t]
    return total


# --------------------------------------------------------------------------------------------
# The training kernel: records and step functions
# --------------------------------------------------------------------------------------------
# A run's data travel as records of arrays (NamedTuples, which Numba types field by field):
# model, run settings, state, batch, scratch, outputs, trace. All arrays are allocated by
# NumPy in :func:`run_training` (the kernel allocates nothing), and each step is its own small
# compiled function (compiled once, shared by every kernel variant), taking arrays, not
# records: a record passed into a compiled call is flattened into all its fields' arguments.


# Step functions are called only from compiled code: no Python wrappers to compile.
_step = nb.njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)


class _ModelRec(NamedTuple):
    """The model's arrays (:class:`~obandits.rlsim.model.Model`) and ``mu*`` per problem."""

    phi: np.ndarray  # (P, T) int64: trace -> answer
    mu: np.ndarray  # (P, m) reward of each answer
    mustar: np.ndarray  # (P,) best reward per problem (for the regret)
    base_logits: np.ndarray  # (P, T)
    feats: np.ndarray  # (P, T, F)
    hard: np.ndarray  # (n_train,) bool: base-hard training problems
    share: float
    n_train: int
    thr: float  # a sample is correct when its reward reaches this


class _RunRec(NamedTuple):
    """A run's settings (:class:`TrainConfig` and the :class:`BonusConfig` as kernel codes)."""

    n: int
    batch: int
    steps: int
    lr_theta: float
    lr_w: float
    beta: float
    learn: bool
    method: int
    c: float
    b0: float
    acr: bool
    scale: int
    eps: float
    ddof: int
    count_after: bool
    eval_at: np.ndarray  # (E,) int64, 1-based steps
    ks: np.ndarray  # (NK,) int64
    trace_steps: int


class _StateRec(NamedTuple):
    """What a run carries from step to step."""

    theta: np.ndarray  # (P, T); test rows stay 0: test problems move only through w
    w: np.ndarray  # (F,)
    counts: np.ndarray  # (n_train, m) int64: N(x, a)
    st: np.ndarray  # uint64[4] generator state


class _BatchRec(NamedTuple):
    """This step's batch of ``B`` groups of ``n`` samples (rewritten every step; allocated in
    the kernel, as a record only for :func:`_record_trace`)."""

    prob_ids: np.ndarray  # (B,) the groups' problems
    group: np.ndarray  # (B*n,) sample -> group
    outcome: np.ndarray  # (B*n,) answer
    reward: np.ndarray  # (B*n,)
    count: np.ndarray  # (B*n,) history count the bonus sees
    tot: np.ndarray  # (B*n,) shaped advantage
    grpo: np.ndarray  # (B*n,) its GRPO part
    bon: np.ndarray  # (B*n,) its bonus part
    ys: np.ndarray  # (B*n,) trace


# The outputs (see :class:`RunResult`) are two tables with one row per checkpoint, columns
# named here: the integer one ``oi`` and the float one ``of``.
_I_SAMPLES, _I_SOLVED, _I_DIST_ALL, _I_DIST_UNS, _I_N_UNS, _I_DIST_HARD, _I_SOLVED_HARD = range(7)
_I_ENT_CNT = 7  # 2 columns: samples drawn in the interval, correct [0] / incorrect [1]
_I_GRP_CNT = 9  # 2 columns: groups in the interval, solved [0] / unsolved [1]
_N_I = 11
_F_TRAIN_P1, _F_TEST_ENT = 0, 1
_F_ENT_SUM = 2  # 2 columns, as _I_ENT_CNT
_F_GRP_DIST = 4  # 2 columns, as _I_GRP_CNT
_F_TEST_PASS = 6  # one column per k of pass@k


class _RetiredRecord(NamedTuple):
    """Stands in for the records older versions passed to the kernel (``_ScratchRec``,
    ``_OutRec``). Numba's on-disk cache index holds the kernel's pickled signature and is
    unpickled before Numba checks whether the source changed; an index left by an older
    version (``__pycache__`` next to an upgraded package) would then raise ``AttributeError``
    instead of being found stale and recompiled. Keep a name here for every record removed."""


_ScratchRec = _OutRec = _RetiredRecord


class _TraceRec(NamedTuple):
    """The audit trace: every sample of the first ``trace_steps`` steps (length
    ``trace_steps * B * n``; the keys of :attr:`RunResult.trace`)."""

    problem: np.ndarray
    group: np.ndarray
    outcome: np.ndarray
    reward: np.ndarray
    count: np.ndarray
    total: np.ndarray
    grpo: np.ndarray
    bonus: np.ndarray
    trace: np.ndarray


@_step
def _sample_batch(phi, mu, mustar, bern_on, base_logits, feats, share, theta, w, perm, pos, st,
                  n, prob_ids, probs, logp, ent, cdf, ys, group, outcome, reward):
    """The step's batch: for each group ``b`` the next problem ``p`` of the epoch order, its
    policy (``probs[b]``, ``logp[b]``, entropy ``ent[b]``), ``n`` traces from it and their
    answers and rewards into samples ``b*n .. b*n+n-1``: Bernoulli draws, or with ``bern_on``
    ``None`` the deterministic ``mu`` (the draw is then not compiled). Returns the batch's
    pseudo-regret (summed sample by sample) and the new epoch position; a new epoch first
    reshuffles ``perm`` (Fisher-Yates). One call per step: a call per group cost ~5% of a warm
    run."""
    reg = 0.0
    n_train = perm.shape[0]
    for b in range(prob_ids.shape[0]):
        if pos == n_train:
            for i in range(n_train - 1, 0, -1):
                j = randint(st, i + 1)
                tmp = perm[i]
                perm[i] = perm[j]
                perm[j] = tmp
            pos = 0
        p = perm[pos]
        pos += 1
        prob_ids[b] = p
        probs_b = probs[b]
        ent[b] = _policy(base_logits[p], theta[p], feats[p], share, w, probs_b, logp[b])
        acc = 0.0
        for t in range(cdf.shape[0]):
            acc += probs_b[t]
            cdf[t] = acc
        for i in range(n):
            j = b * n + i
            y = categorical_cdf(st, cdf)
            a = phi[p, y]
            ys[j] = y
            group[j] = b
            outcome[j] = a
            if bern_on is not None:
                reward[j] = 1.0 if uniform(st) < mu[p, a] else 0.0
            else:
                reward[j] = mu[p, a]
            reg += mustar[p] - mu[p, a]
    return reg, pos


@_step
def _measure_batch(reward, outcome, ent, prob_ids, thr, n, solved, oi_e, of_e):
    """Add the batch to one interval's tallies, rows ``oi_e`` and ``of_e`` of the output tables
    (columns ``+0`` correct samples / solved groups, ``+1`` the others): entropy of each
    sample's problem, distinct answers per group; mark solved problems."""
    for b in range(prob_ids.shape[0]):
        any_ok = False
        nd = 0
        for i in range(n):
            j = b * n + i
            ok = reward[j] >= thr
            if ok:
                any_ok = True
                solved[prob_ids[b]] = 1
            new = True
            for k in range(b * n, j):
                if outcome[k] == outcome[j]:
                    new = False
                    break
            if new:
                nd += 1
            k = 0 if ok else 1
            of_e[_F_ENT_SUM + k] += ent[b]
            oi_e[_I_ENT_CNT + k] += 1
        k = 0 if any_ok else 1
        of_e[_F_GRP_DIST + k] += nd
        oi_e[_I_GRP_CNT + k] += 1


@_step
def _policy_step(base_logits, feats, share, theta, w, prob_ids, probs, logp, ys, adv, beta,
                 kl_on, lr_theta, lr_w, gz, gw, p0, logp0, zero_t, zero_w):
    """One exact policy-gradient step on the batch, all gradients from the pre-update policy
    (``probs``, ``logp``): ``theta_p += lr_theta dJ_b/dtheta_p``, ``w += lr_w (1/B) sum_b
    dJ_b/dw`` (module doc). ``gz, gw, p0, logp0`` scratch, ``zero_t, zero_w`` zeros;
    ``kl_on`` ``None``: no KL term (not compiled)."""
    B, T = probs.shape
    F = w.shape[0]
    n = ys.shape[0] // B
    for f in range(F):
        gw[f] = 0.0
    for b in range(B):
        p = prob_ids[b]
        if kl_on is not None:
            _policy(base_logits[p], zero_t, feats[p], share, zero_w, p0, logp0)
        _surrogate_grad_z(probs[b], logp[b], logp0, ys[b * n:(b + 1) * n],
                          adv[b * n:(b + 1) * n], beta, kl_on, gz)
        for t in range(T):
            theta[p, t] += lr_theta * gz[t]
            for f in range(F):
                gw[f] += share * feats[p, t, f] * gz[t]
    for f in range(F):
        w[f] += lr_w * gw[f] / B


@_step
def _checkpoint(counts, solved, hard, base_logits, feats, share, theta, w, phi, mu, thr,
                bern_on, ks, pb, lpb, oi_e, of_e):
    """The measurements of one checkpoint, into its rows ``oi_e``, ``of_e`` of the output
    tables (one function, one call level fewer than two). Discovery over
    training problems: solved, distinct answers (all, on unsolved problems, on base-hard
    problems), unsolved, base-hard solved; the exact quality of the current policy: mean train
    pass@1, mean test entropy and mean test pass@k (``pb``, ``lpb`` scratch)."""
    n_train = counts.shape[0]
    ns = 0
    da = 0
    du = 0
    nu = 0
    dh = 0
    sh = 0
    for p in range(n_train):
        d = 0
        for a in range(counts.shape[1]):
            if counts[p, a] > 0:
                d += 1
        da += d
        if solved[p]:
            ns += 1
        else:
            du += d
            nu += 1
        if hard[p]:
            dh += d
            if solved[p]:
                sh += 1
    oi_e[_I_SOLVED] = ns
    oi_e[_I_DIST_ALL] = da
    oi_e[_I_DIST_UNS] = du
    oi_e[_I_N_UNS] = nu
    oi_e[_I_DIST_HARD] = dh
    oi_e[_I_SOLVED_HARD] = sh
    P, T = phi.shape
    tp1 = 0.0
    tent = 0.0
    for p in range(P):
        hb = _policy(base_logits[p], theta[p], feats[p], share, w, pb, lpb)
        q = 0.0
        for t in range(T):
            a = phi[p, t]
            if bern_on is not None:
                q += pb[t] * mu[p, a]
            elif mu[p, a] >= thr:
                q += pb[t]
        if q < 0.0:  # clip rounding (comparisons: the min/max overloads compile slower)
            q = 0.0
        elif q > 1.0:
            q = 1.0
        if p < n_train:
            tp1 += q
        else:
            tent += hb
            for ki in range(ks.shape[0]):
                of_e[_F_TEST_PASS + ki] += -math.expm1(ks[ki] * math.log1p(-q)) if q < 1.0 else 1.0
    if P > n_train:
        tent /= P - n_train
        for ki in range(ks.shape[0]):
            of_e[_F_TEST_PASS + ki] /= P - n_train
    of_e[_F_TRAIN_P1] = tp1 / n_train
    of_e[_F_TEST_ENT] = tent


@_step
def _record_trace(bt, tr, s):
    """Copy step ``s``'s samples, counts and advantages into the audit trace ``tr``."""
    NB = bt.group.shape[0]
    for j in range(NB):
        q = s * NB + j
        tr.problem[q] = bt.prob_ids[bt.group[j]]
        tr.group[q] = bt.group[j]
        tr.outcome[q] = bt.outcome[j]
        tr.reward[q] = bt.reward[j]
        tr.count[q] = bt.count[j]
        tr.total[q] = bt.tot[j]
        tr.grpo[q] = bt.grpo[j]
        tr.bonus[q] = bt.bon[j]
        tr.trace[q] = bt.ys[j]


@nb.njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _train_kernel(mr, rr, sr, probs, logp, oi, of, regret, tr, bonus_on, batch_on, kl_on,
                  bern_on):
    """The whole run (module doc). Per step: draw the batch (problems in epoch order, ``n``
    traces each), shape its advantages (Spec 1 §2-3, the shared kernel, history counts read
    before or after adding the batch), measure it, take the policy-gradient step, evaluate at
    the checkpoints. Writes ``sr``, the output tables ``oi``, ``of``, ``regret`` and the trace
    ``tr`` in place (``probs``, ``logp``: (B, T) scratch for the batch's policies). The
    switches ``tr``, ``bonus_on``, ``batch_on`` (see :func:`obandits.bonuses.kernel_parts`),
    ``kl_on`` (KL term) and ``bern_on`` (Bernoulli rewards) may be ``None``: Numba then prunes
    the code behind them, so a run compiles only what it uses. The batch and the work
    vectors are allocated here, as 1-d ``np.zeros`` (the bonus kernel compiles those anyway):
    each array passed in from Python costs cold-start compilation in the kernel's wrapper."""
    phi, mu, mustar, base_logits, feats, share = (mr.phi, mr.mu, mr.mustar, mr.base_logits,
                                                  mr.feats, mr.share)
    theta, w, counts, st = sr.theta, sr.w, sr.counts, sr.st
    n, B, thr, count_after = rr.n, rr.batch, mr.thr, rr.count_after
    n_train = mr.n_train
    T = base_logits.shape[1]
    F = w.shape[0]
    NB = B * n
    prob_ids, ent = np.zeros(B, np.int64), np.zeros(B)
    group, outcome, ys = np.zeros(NB, np.int64), np.zeros(NB, np.int64), np.zeros(NB, np.int64)
    reward, count, tot = np.zeros(NB), np.zeros(NB), np.zeros(NB)
    grpo, bon = np.zeros(NB), np.zeros(NB)
    cdf, p0, logp0, gz = np.zeros(T), np.zeros(T), np.zeros(T), np.zeros(T)
    zero_t, pb, lpb = np.zeros(T), np.zeros(T), np.zeros(T)
    gw, zero_w = np.zeros(F), np.zeros(F)
    solved = np.zeros(n_train, np.int64)  # solved at least once so far
    perm = np.zeros(n_train, np.int64)  # this epoch's problem order
    for i in range(n_train):
        perm[i] = i
    E = rr.eval_at.shape[0]
    pos = n_train
    drawn = 0
    e = 0
    for s in range(rr.steps):
        regret[s], pos = _sample_batch(phi, mu, mustar, bern_on, base_logits, feats, share,
                                       theta, w, perm, pos, st, n, prob_ids, probs, logp,
                                       ent, cdf, ys, group, outcome, reward)
        counts_for_batch(counts, prob_ids, group, outcome, count_after, count)
        shaped_parts_nb(group, outcome, reward, count, B, rr.method, rr.c, rr.b0, rr.acr, thr,
                        rr.scale, rr.eps, rr.ddof, tot, grpo, bon, bonus_on, batch_on)
        finish_batch(counts, prob_ids, group, outcome, count_after)
        ei = e if e < E else E - 1  # after the last checkpoint: into the last interval
        _measure_batch(reward, outcome, ent, prob_ids, thr, n, solved, oi[ei], of[ei])
        if tr is not None:
            if s < rr.trace_steps:
                _record_trace(_BatchRec(prob_ids, group, outcome, reward, count, tot, grpo,
                                        bon, ys), tr, s)
        if rr.learn:
            _policy_step(base_logits, feats, share, theta, w, prob_ids, probs, logp, ys, tot,
                         rr.beta, kl_on, rr.lr_theta, rr.lr_w, gz, gw, p0, logp0, zero_t,
                         zero_w)
        drawn += NB
        if e < E and s + 1 == rr.eval_at[e]:
            oi[e, _I_SAMPLES] = drawn
            _checkpoint(counts, solved, mr.hard, base_logits, feats, share, theta, w, phi, mu,
                        thr, bern_on, rr.ks, pb, lpb, oi[e], of[e])
            e += 1


@dataclass(frozen=True, eq=False)
class RunResult:
    """Measurements of one run (arrays over the ``E`` evaluation checkpoints unless noted).

    samples: samples drawn so far; solved: training problems solved at least once so far;
    distinct_all: distinct answers discovered so far, summed over training problems;
    distinct_unsolved / n_unsolved: the same over the problems not solved so far, and their
    number; distinct_hard / solved_hard / n_hard: over the fixed set of base-hard problems;
    train_pass1: mean exact probability of a correct sample on training problems;
    test_pass: (E, len(ks)) exact mean test pass@k; test_entropy: mean policy entropy (nats)
    on test problems; ent_sum / ent_cnt (E, 2): policy entropy of each sample's problem summed
    over correct [0] / incorrect [1] samples drawn in the interval ending at checkpoint e;
    grp_dist / grp_cnt (E, 2): distinct answers per group summed over solved [0] / unsolved
    [1] groups in that interval; regret (steps,): per-step pseudo-regret
    ``sum_i (mu*_p - mu[p, a_i])``; theta, w, counts: final parameters and ``N(x, a)``;
    trace: dict of the recorded samples of the first ``trace_steps`` steps.
    """

    samples: np.ndarray
    solved: np.ndarray
    distinct_all: np.ndarray
    distinct_unsolved: np.ndarray
    n_unsolved: np.ndarray
    distinct_hard: np.ndarray
    solved_hard: np.ndarray
    n_hard: int
    train_pass1: np.ndarray
    test_pass: np.ndarray
    test_entropy: np.ndarray
    ent_sum: np.ndarray
    ent_cnt: np.ndarray
    grp_dist: np.ndarray
    grp_cnt: np.ndarray
    regret: np.ndarray
    theta: np.ndarray
    w: np.ndarray
    counts: np.ndarray
    trace: dict
    ks: tuple
    steps: np.ndarray

    @property
    def count_table(self) -> CountTable:
        table = CountTable()
        table.counts = self.counts.copy()
        return table


def run_training(model: Model, config: TrainConfig, *, seed: int = 0, rep: int = 0,
                 learn: bool = True, stream_key: str = "rlsim/train") -> RunResult:
    """Run GRPO (``learn=True``) or base-model sampling (``learn=False``) on ``model``.

    The sampling stream is repetition ``rep`` of ``(seed, stream_key)``: every method of a
    comparison uses the same stream (common random numbers), so with ``c = 0`` every bonus
    method reproduces plain GRPO bit for bit.
    """
    if not isinstance(model, Model):
        raise ValueError(f"model must be a Model, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    v.int_scalar("seed", seed, min_value=0)
    v.int_scalar("rep", rep, min_value=0)
    cfg, bc = config, config.bonus
    q0 = model.correct_prob(model.base_probs())
    hard = q0[: model.n_train] < cfg.hard_q
    eval_at = cfg.eval_steps()
    P, T = model.phi.shape
    F = model.feats.shape[2]
    E, NK, B, NB = len(eval_at), len(cfg.ks), cfg.batch_prompts, cfg.batch_prompts * cfg.n_rollouts
    TS = cfg.trace_steps * NB
    i64, f64 = np.int64, np.float64
    mr = _ModelRec(model.phi, model.mu, model.mu.max(axis=1), model.base_logits, model.feats,
                   hard, float(model.share), int(model.n_train),
                   float(model.correct_threshold))
    rr = _RunRec(int(cfg.n_rollouts), int(B), int(cfg.steps), float(cfg.lr_theta), float(cfg.lr_w),
                 float(cfg.kl_beta), bool(learn), int(bc.method_code), float(bc.c),
                 float(bc.b0), bool(bc.all_correct_rule), int(bc.scale_code), float(bc.eps),
                 int(bc.ddof), bc.count_mode == "after", eval_at,
                 np.asarray(cfg.ks, i64), int(cfg.trace_steps))
    sr = _StateRec(theta=np.zeros((P, T)), w=np.zeros(F),
                   counts=np.zeros((model.n_train, model.n_answers), i64),
                   st=rep_states(seed, stream_key, rep + 1)[rep].copy())
    oi, of, regret = np.zeros((E, _N_I), i64), np.zeros((E, _F_TEST_PASS + NK)), np.zeros(cfg.steps)
    tr = _TraceRec(*(np.zeros(TS, f64 if k in ("reward", "count", "total", "grpo", "bonus")
                                else i64) for k in _TraceRec._fields))
    _train_kernel(mr, rr, sr, np.zeros((B, T)), np.zeros((B, T)), oi, of, regret,
                  tr if TS else None, *kernel_parts(bc.method_code, bc.c),
                  True if cfg.kl_beta > 0.0 else None,
                  True if model.reward == "bernoulli" else None)

    def cols(table, k, width=None):  # contiguous, as RunResult has always given them
        return np.ascontiguousarray(table[:, k] if width is None else table[:, k:k + width])

    return RunResult(cols(oi, _I_SAMPLES), cols(oi, _I_SOLVED), cols(oi, _I_DIST_ALL),
                     cols(oi, _I_DIST_UNS), cols(oi, _I_N_UNS), cols(oi, _I_DIST_HARD),
                     cols(oi, _I_SOLVED_HARD), int(hard.sum()), cols(of, _F_TRAIN_P1),
                     cols(of, _F_TEST_PASS, NK), cols(of, _F_TEST_ENT), cols(of, _F_ENT_SUM, 2),
                     cols(oi, _I_ENT_CNT, 2), cols(of, _F_GRP_DIST, 2), cols(oi, _I_GRP_CNT, 2),
                     regret, sr.theta, sr.w, sr.counts, tr._asdict(), cfg.ks, eval_at)


def policy_probs(model: Model, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``pi(t | p) = softmax_t(l0 + theta + share * x @ w)`` for every problem, shape (P, T)."""
    z = model.base_logits + theta + model.share * (model.feats @ w)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
