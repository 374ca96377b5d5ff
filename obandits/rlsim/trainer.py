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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        n: samples per problem per step (group size; paper: 8).
        batch_prompts: problems per step (at most ``n_train`` is sensible; a batch that crosses
            an epoch boundary may repeat a problem).
        steps: optimisation steps; the sample budget is ``steps * batch_prompts * n``.
        lr_theta: step size of the per-problem parameters.
        lr_w: step size of the shared trace-feature weights.
        beta_kl: weight of ``KL(pi || pi_0)`` in the objective (0 = none); ``beta_kl`` times
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
    n: int = 8
    batch_prompts: int = 64
    steps: int = 100
    lr_theta: float = 1.0
    lr_w: float = 0.5
    beta_kl: float = 0.0
    n_evals: int = 20
    ks: tuple[int, ...] = PASS_K
    hard_q: float = 0.01
    trace_steps: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.bonus, BonusConfig):
            raise ValueError(f"bonus must be a BonusConfig, got {type(self.bonus).__name__}")
        v.int_scalar("n", self.n, min_value=1)
        v.int_scalar("batch_prompts", self.batch_prompts, min_value=1)
        v.int_scalar("steps", self.steps, min_value=1)
        v.finite_scalar("lr_theta", self.lr_theta, min_value=0.0)
        v.finite_scalar("lr_w", self.lr_w, min_value=0.0)
        v.finite_scalar("beta_kl", self.beta_kl, min_value=0.0)
        if self.beta_kl * max(self.lr_theta, self.lr_w) > 2.0:
            # the KL term's curvature is up to beta: an explicit step of size lr diverges
            # once lr * beta > 2
            raise ValueError(f"beta_kl * max(lr_theta, lr_w) must be <= 2 (explicit KL steps "
                             f"diverge beyond), got beta_kl={self.beta_kl}, "
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
        return self.steps * self.batch_prompts * self.n

    def eval_steps(self) -> np.ndarray:
        """Steps (1-based, after the update) at which the kernel evaluates."""
        return np.unique(np.round(np.linspace(self.steps / self.n_evals, self.steps,
                                              self.n_evals)).astype(np.int64))


# --------------------------------------------------------------------------------------------
# The policy and its exact gradient (shared by the kernel and the gradient tests)
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
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
        probs[t] = np.exp(logp[t] - zmax)
        tot += probs[t]
    lz = zmax + np.log(tot)
    ent = 0.0
    for t in range(T):
        logp[t] -= lz
        probs[t] /= tot
        if probs[t] > 0.0:
            ent -= probs[t] * logp[t]
    return ent


@nb.njit(cache=True, nogil=True)
def _surrogate_grad_z(probs, logp, logp0, ys, adv, beta, gz):
    """``dJ_b/dz`` for one group (see the module doc); returns ``J_b``."""
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
    if beta > 0.0:
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
                                   adv[b * n:(b + 1) * n], beta, gz)
        for t in range(T):
            g_theta[p, t] += gz[t]
            for f in range(F):
                g_w[f] += share * feats[p, t, f] * gz[t]
    return total


# --------------------------------------------------------------------------------------------
# The training kernel
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _train_kernel(phi, mu, bern, base_logits, feats, share, n_train, thr, hard,
                  n, batch, steps, lr_theta, lr_w, beta, learn,
                  method, c, b0, acr, scale, eps, ddof, count_after,
                  eval_at, ks, trace_steps, st, bonus_on, batch_on):
    P, T = phi.shape
    m = mu.shape[1]
    F = feats.shape[2]
    E = eval_at.shape[0]
    NK = ks.shape[0]
    NB = batch * n
    theta = np.zeros((P, T))  # test rows stay 0: test problems move only through w
    w = np.zeros(F)
    counts = np.zeros((n_train, m), np.int64)
    solved = np.zeros(n_train, np.bool_)
    mustar = np.empty(P)
    for p in range(P):  # a loop: mu[p].max() costs 0.4 CPU-s of compilation
        mx = mu[p, 0]
        for a in range(1, m):
            if mu[p, a] > mx:
                mx = mu[p, a]
        mustar[p] = mx
    # outputs per checkpoint
    o_samples = np.zeros(E, np.int64)
    o_solved = np.zeros(E, np.int64)
    o_dist_all = np.zeros(E, np.int64)
    o_dist_uns = np.zeros(E, np.int64)
    o_n_uns = np.zeros(E, np.int64)
    o_dist_hard = np.zeros(E, np.int64)
    o_solved_hard = np.zeros(E, np.int64)
    o_train_p1 = np.zeros(E)
    o_test_pass = np.zeros((E, NK))
    o_test_ent = np.zeros(E)
    # per-interval accumulators (samples between checkpoint e-1 and e); [.., 0]=correct/solved
    o_ent_sum = np.zeros((E, 2))
    o_ent_cnt = np.zeros((E, 2), np.int64)
    o_grp_dist = np.zeros((E, 2))
    o_grp_cnt = np.zeros((E, 2), np.int64)
    o_regret = np.zeros(steps)
    # audit trace
    TS = trace_steps * NB
    tr_prob = np.zeros(TS, np.int64)
    tr_group = np.zeros(TS, np.int64)
    tr_out = np.zeros(TS, np.int64)
    tr_rew = np.zeros(TS)
    tr_cnt = np.zeros(TS)
    tr_tot = np.zeros(TS)
    tr_grpo = np.zeros(TS)
    tr_bon = np.zeros(TS)
    tr_y = np.zeros(TS, np.int64)

    perm = np.empty(n_train, np.int64)
    for i in range(n_train):
        perm[i] = i
    pos = n_train
    group = np.empty(NB, np.int64)
    outcome = np.empty(NB, np.int64)
    reward = np.empty(NB)
    count = np.empty(NB)
    tot = np.empty(NB)
    grpo = np.empty(NB)
    bon = np.empty(NB)
    ys = np.empty(NB, np.int64)
    probs = np.empty((batch, T))
    logp = np.empty((batch, T))
    ent = np.empty(batch)
    prob_ids = np.empty(batch, np.int64)
    cdf = np.empty(T)
    p0 = np.empty(T)
    logp0 = np.empty(T)
    gz = np.empty(T)
    gw = np.empty(F)
    zero_w = np.zeros(F)
    zero_t = np.zeros(T)
    pb = np.empty(T)
    lpb = np.empty(T)
    drawn = 0
    e = 0
    for s in range(steps):
        reg = 0.0
        for b in range(batch):
            if pos == n_train:  # new epoch: Fisher-Yates shuffle
                for i in range(n_train - 1, 0, -1):
                    j = randint(st, i + 1)
                    tmp = perm[i]
                    perm[i] = perm[j]
                    perm[j] = tmp
                pos = 0
            p = perm[pos]
            pos += 1
            prob_ids[b] = p
            ent[b] = _policy(base_logits[p], theta[p], feats[p], share, w, probs[b], logp[b])
            acc = 0.0
            for t in range(T):
                acc += probs[b, t]
                cdf[t] = acc
            for i in range(n):
                j = b * n + i
                y = categorical_cdf(st, cdf)
                a = phi[p, y]
                ys[j] = y
                group[j] = b
                outcome[j] = a
                if bern:
                    reward[j] = 1.0 if uniform(st) < mu[p, a] else 0.0
                else:
                    reward[j] = mu[p, a]
                reg += mustar[p] - mu[p, a]
        o_regret[s] = reg
        # history counts N(x, a): before this batch (default) or with it counted in first
        counts_for_batch(counts, prob_ids, group, outcome, count_after, count)
        shaped_parts_nb(group, outcome, reward, count, batch, method, c, b0, acr, thr,
                        scale, eps, ddof, tot, grpo, bon, bonus_on, batch_on)
        finish_batch(counts, prob_ids, group, outcome, count_after)
        # measurements of this batch
        ei = min(e, E - 1)
        for b in range(batch):
            any_ok = False
            nd = 0
            for i in range(n):
                j = b * n + i
                ok = reward[j] >= thr
                if ok:
                    any_ok = True
                    solved[prob_ids[b]] = True
                new = True
                for k in range(b * n, j):
                    if outcome[k] == outcome[j]:
                        new = False
                        break
                if new:
                    nd += 1
                o_ent_sum[ei, 0 if ok else 1] += ent[b]
                o_ent_cnt[ei, 0 if ok else 1] += 1
            o_grp_dist[ei, 0 if any_ok else 1] += nd
            o_grp_cnt[ei, 0 if any_ok else 1] += 1
        if s < trace_steps:
            for j in range(NB):
                q = s * NB + j
                tr_prob[q] = prob_ids[group[j]]
                tr_group[q] = group[j]
                tr_out[q] = outcome[j]
                tr_rew[q] = reward[j]
                tr_cnt[q] = count[j]
                tr_tot[q] = tot[j]
                tr_grpo[q] = grpo[j]
                tr_bon[q] = bon[j]
                tr_y[q] = ys[j]
        # exact policy-gradient step (all gradients from the pre-update policy)
        if learn:
            for f in range(F):
                gw[f] = 0.0
            for b in range(batch):
                p = prob_ids[b]
                if beta > 0.0:
                    _policy(base_logits[p], zero_t, feats[p], share, zero_w, p0, logp0)
                _surrogate_grad_z(probs[b], logp[b], logp0, ys[b * n:(b + 1) * n],
                                  tot[b * n:(b + 1) * n], beta, gz)
                for t in range(T):
                    theta[p, t] += lr_theta * gz[t]
                    for f in range(F):
                        gw[f] += share * feats[p, t, f] * gz[t]
            for f in range(F):
                w[f] += lr_w * gw[f] / batch
        drawn += NB
        if e < E and s + 1 == eval_at[e]:
            o_samples[e] = drawn
            ns = 0
            da = 0
            du = 0
            nu = 0
            dh = 0
            sh = 0
            for p in range(n_train):
                d = 0
                for a in range(m):
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
            o_solved[e] = ns
            o_dist_all[e] = da
            o_dist_uns[e] = du
            o_n_uns[e] = nu
            o_dist_hard[e] = dh
            o_solved_hard[e] = sh
            tp1 = 0.0
            for p in range(P):
                hb = _policy(base_logits[p], theta[p], feats[p], share, w, pb, lpb)
                q = 0.0
                for t in range(T):
                    a = phi[p, t]
                    if bern:
                        q += pb[t] * mu[p, a]
                    elif mu[p, a] >= thr:
                        q += pb[t]
                q = min(max(q, 0.0), 1.0)
                if p < n_train:
                    tp1 += q
                else:
                    o_test_ent[e] += hb
                    for ki in range(NK):
                        o_test_pass[e, ki] += -np.expm1(ks[ki] * np.log1p(-q)) if q < 1.0 \
                            else 1.0
            o_train_p1[e] = tp1 / n_train
            if P > n_train:
                o_test_ent[e] /= P - n_train
                for ki in range(NK):
                    o_test_pass[e, ki] /= P - n_train
            e += 1
    return (o_samples, o_solved, o_dist_all, o_dist_uns, o_n_uns, o_dist_hard, o_solved_hard,
            o_train_p1, o_test_pass, o_test_ent, o_ent_sum, o_ent_cnt, o_grp_dist, o_grp_cnt,
            o_regret, theta, w, counts,
            tr_prob, tr_group, tr_out, tr_rew, tr_cnt, tr_tot, tr_grpo, tr_bon, tr_y)


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
    st = rep_states(seed, stream_key, rep + 1)[rep].copy()
    q0 = model.correct_prob(model.base_probs())
    hard = q0[: model.n_train] < cfg.hard_q
    eval_at = cfg.eval_steps()
    out = _train_kernel(model.phi, model.mu, model.reward == "bernoulli", model.base_logits,
                        model.feats, float(model.share), model.n_train,
                        float(model.correct_threshold), hard, cfg.n, cfg.batch_prompts,
                        cfg.steps, cfg.lr_theta, cfg.lr_w, cfg.beta_kl, bool(learn),
                        bc.method_code, bc.c, bc.b0, bc.all_correct_rule, bc.scale_code, bc.eps,
                        bc.ddof, bc.count_mode == "after", eval_at,
                        np.asarray(cfg.ks, np.int64), cfg.trace_steps, st,
                        *kernel_parts(bc.method_code, bc.c))
    (samples, solved, d_all, d_uns, n_uns, d_hard, s_hard, tp1, tpass, tent, ent_sum, ent_cnt,
     gd, gc, regret, theta, w, counts, *tr) = out
    names = ("problem", "group", "outcome", "reward", "count", "total", "grpo", "bonus",
             "trace")
    return RunResult(samples, solved, d_all, d_uns, n_uns, d_hard, s_hard, int(hard.sum()), tp1,
                     tpass, tent, ent_sum, ent_cnt, gd, gc, regret, theta, w, counts,
                     dict(zip(names, tr)), cfg.ks, eval_at)


def policy_probs(model: Model, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``pi(t | p) = softmax_t(l0 + theta + share * x @ w)`` for every problem, shape (P, T)."""
    z = model.base_logits + theta + model.share * (model.feats @ w)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
