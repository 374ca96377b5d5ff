"""Learners for outcome bandits (Spec 1 §5), each compiled end to end with its instance.

One ``@njit`` kernel per learner runs (learner, instance, horizon) and records pseudo-regret
``R_t = sum_{s<=t} (mu* - mu[phi[k_s]])`` at checkpoint times; :func:`run_learner` runs
repetitions in parallel (Python threads; the kernels release the GIL), each with its own
xoshiro state from :func:`obandits.seeding.rep_states`, so the numbers do not depend on the
thread count.

Arm-level (no generalisation; statistics per arm, every arm tried once first, ties to the lowest
index; ``t`` below is the number of pulls so far):

- ``ucb1``: ``argmax_k mean_k + sqrt(alpha * log t / n_k)`` (Auer et al. 2002; ``alpha = 2``).
- ``kl-ucb``: ``argmax_k max{q >= mean_k : n_k kl(mean_k, q) <= log t + c log log t}``
  (Bernoulli kl; Garivier & Cappé 2011; ``c = 0``), by Newton steps (bisection as a
  fallback); arms are pruned with the Pinsker bound ``mean + sqrt((log t + c log log t) /
  (2 n))`` >= the KL index.
- ``thompson``: sample ``theta_k ~ Beta(1 + s_k, 1 + n_k - s_k)`` and play the argmax (rewards
  in [0, 1] enter as fractional successes).
- ``uniform``: a uniformly random arm each step (the baseline with a closed form:
  ``E R_t = t (mu* - mean_k mu[phi[k]])``).

Exact sublinear selection (issue 16): from enough arms (outcomes), UCB1, KL-UCB and
outcome-ucb take the argmax over pull-count classes (:func:`_ucb1_classes`,
:func:`_klucb_classes`, ``_outcome_ucb(classes=True)``), the same pulls as the scans bit for bit;
the thresholds (``*_CLASSES_MIN_*``) come from ``python -m bench.bench_bandit selection``.

Outcome-level (the generalisation assumption of informal Thm 4.2):

- ``outcome-ucb``: statistics are pooled per outcome; an outcome, once seen, can be played
  directly. **Discovery rule (ours)**: drawing an arm from ``p0`` is one more action, the
  *discovery action*, with its own UCB statistics (its mean is the ``p0``-average reward, an
  honest arm of the bandit). Each step plays ``argmax`` over {discovered outcomes, discovery
  action} of ``mean + sqrt(alpha * log t / n)`` (the discovery action first, ``n = 0`` gives
  an infinite index; ties go to known outcomes), **except** that the discovery action is forced
  while the Good-Turing estimate of the unseen ``p0`` mass, ``n1 / n0`` (``n1`` = outcomes
  revealed by exactly one of the ``n0`` discovery draws), exceeds ``sqrt(log t / t)``. A
  discovery draw reveals ``phi[k]`` and its reward, which also update that outcome's pooled
  statistics (adding it to the known set if new). The learner never needs ``m`` or ``K``.

  Why the forced part: a discovery draw's *mean* reward is about that of a bad outcome when the
  best outcome's mass is small (``1/m`` on a random partition), so plain UCB gives it only
  ``O(log t / gap^2)`` pulls, shared with every discovered outcome; at ``m >= 256`` and large
  gaps it then never finds the best outcome (regret ``0.49 T`` at ``m = 512``, ``T = 2^18``).
  Forcing costs at most ``O(sqrt(t log t))`` draws, inside the ``sqrt(m T log T)`` budget, and
  ignores masses below ``sqrt(log t / t)``; so on the needle family (mass ``1/K``) discovery
  still costs of order ``K`` pulls (the lower bound), and on the LLM-like family (fixed
  masses) the regret does not depend on ``K``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from .. import _validate as v
from ..nbrng import beta, categorical_cdf, randint, uniform, unit_float, xoshiro_step
from .instances import BanditInstance

LEARNERS = ("ucb1", "kl-ucb", "thompson", "uniform", "outcome-ucb")
ARM_LEVEL = ("ucb1", "kl-ucb", "thompson", "uniform")
OUTCOME_LEVEL = ("outcome-ucb",)
_CODE = {name: i for i, name in enumerate(LEARNERS)}


@dataclass(frozen=True)
class LearnerConfig:
    """A learner and its parameters: ``alpha`` (UCB exploration factor, ucb1 / outcome-ucb),
    ``c`` (the ``log log t`` factor of kl-ucb)."""

    name: str
    alpha: float = 2.0
    c: float = 0.0
    code: int = field(init=False)

    def __post_init__(self):
        v.choice("learner", self.name, LEARNERS)
        v.finite_scalar("alpha", self.alpha, min_value=0.0)
        v.finite_scalar("c", self.c, min_value=0.0)
        object.__setattr__(self, "code", _CODE[self.name])

    @property
    def outcome_level(self) -> bool:
        return self.name in OUTCOME_LEVEL


def checkpoints(T: int, per_octave: int = 1) -> np.ndarray:
    """Checkpoint times ``round(2^(i / per_octave))`` up to ``T``, plus ``T`` itself (shared by
    cells of different horizons, so curves line up)."""
    T = v.int_scalar("T", T, min_value=1)
    per_octave = v.int_scalar("checkpoints_per_octave", per_octave, min_value=1, max_value=64)
    n = int(np.floor(np.log2(T) * per_octave + 1e-9))
    ts = np.round(2.0 ** (np.arange(n + 1) / per_octave)).astype(np.int64)
    return np.unique(np.concatenate([ts[ts <= T], [T]]))


@nb.njit(cache=True, inline="always")
def _bernoulli(u, mu_j):
    """Reward 1.0 if the uniform ``u`` is below the mean: a select, not a branch (the outcome
    is unpredictable; as a branch it cost half of a UCB1 pull at K=9)."""
    return np.float64(u < mu_j)


@nb.njit(cache=True, inline="always")
def _draw(st, mu_j, bern):
    if bern:
        return _bernoulli(uniform(st), mu_j)
    return mu_j


@nb.njit(cache=True, inline="always")
def _pull(st, mu_k, mu_star, bern, reg, t, ckpt, ci, out):
    """Draw the reward of a pull with mean ``mu_k`` as the ``t``-th pull; returns (reward,
    regret so far, next checkpoint index)."""
    r = _draw(st, mu_k, bern)
    reg += mu_star - mu_k
    return r, reg, _record(t, reg, ckpt, ci, out)


@nb.njit(cache=True, inline="always")
def _record(t, reg, ckpt, ci, out):
    # t = pulls done; record R_t when t is the next checkpoint.
    if ci < ckpt.shape[0] and t == ckpt[ci]:
        out[ci] = reg
        return ci + 1
    return ci


@nb.njit(cache=True, inline="always")
def _arm_means(phi, mu):
    """``mu[phi[k]]`` per arm and ``mu*``."""
    arm_mu = np.empty(phi.shape[0])
    mu_star = -np.inf
    for k in range(phi.shape[0]):  # a loop, not arm_mu.max(): 0.4 CPU-s less compilation
        arm_mu[k] = mu[phi[k]]
        mu_star = max(mu_star, arm_mu[k])
    return arm_mu, mu_star


@nb.njit(cache=True, inline="always")
def _ucb1_arm(mean, isn, bonus, a, l, b, k):
    """Arm ``a`` of repetition ``l`` against the best so far ``(b, k)`` in the argmax of the
    UCB1 index ``mean + sqrt(alpha log t / n)``, written ``mean + bonus * n^{-1/2}``: the one
    comparison every scan order below uses. Returns the new ``(best index, arm)``."""
    idx = mean[a, l] + bonus * isn[a, l]
    up = idx > b  # a select, not a branch: ties keep the lowest arm
    return (idx if up else b), (a if up else k)


@nb.njit(cache=True, inline="always")
def _ucb1_scan(mean, isn, bonus, arm, KP):
    """The UCB1 argmax (``_ucb1_arm``) of every repetition over arms ``0..KP-1``, with ``KP`` a
    literal at each call site: the arm loop, inlined with a compile-time trip count, is unrolled
    inside the loop over repetitions, which LLVM vectorises once per step (best and arm stay in
    registers; the array-overlap checks run once per step, not once per arm pass)."""
    for l in range(arm.shape[0]):
        b = mean[0, l] + bonus * isn[0, l]
        k = 0
        for a in range(1, KP):
            b, k = _ucb1_arm(mean, isn, bonus, a, l, b, k)
        arm[l] = k


# Arm counts (1 + 4j, padded with index -inf, never taken) of the compile-time scans, one
# branch each in `_ucb1`: with up to 29 arms and 2 or more repetitions, 1.2-1.5x the previous
# four-arm passes (K = 9-29, 3-16 repetitions), but 0.57x at 33 arms (no longer fully
# unrolled), so above 29 arms the scan makes passes over the arms instead.
_FIXED_SCANS = (5, 9, 13, 17, 21, 25, 29)


@nb.njit(cache=True, inline="always")
def _ucb1_block(mean, isn, bonus, best, arm, a0, B):
    """Arms ``a0..a0+B-1`` (``B`` a literal: unrolled) against each repetition's best so far
    ``(best, arm)``: the scan above 29 arms, ``B`` arms per pass over the repetitions."""
    for l in range(arm.shape[0]):
        b = best[l]
        k = arm[l]
        for j in range(B):
            b, k = _ucb1_arm(mean, isn, bonus, a0 + j, l, b, k)
        best[l] = b
        arm[l] = k


# Above 29 arms with 16 repetitions the scan takes 8 arms per pass (padded, as above): 1.25-1.4x
# one arm per pass at K = 30-4096. With 8 or 12 repetitions it measured 0.58-0.75x (LLVM did
# not enter its vector loop: likely the overlap checks, one per row, raise the trip count that
# loop needs), so below 16 repetitions the scan stays at one arm per pass.
_BLOCK_MIN_REPS = 16


@nb.njit(cache=True, error_model="numpy", nogil=True)
def _ucb1(sts, phi, mu, bern, T, ckpt, out, alpha, mode):
    """UCB1 on ``L = len(sts)`` independent repetitions in lockstep. One step of one repetition
    is a chain of dependent operations (argmax, RNG, division); with the statistics laid out
    ``[arm, repetition]`` the argmax, the xoshiro steps (state words one array each), the
    division and the square root all run across repetitions as vector operations; only the
    pulled arm's statistics are gathered and scattered lane by lane. Each repetition's
    arithmetic is the same whatever ``L`` (IEEE operations only: no reassociation, no fused
    multiply-add), so its stream and result equal those of the repetition run alone.
    ``error_model="numpy"``: no zero-division check, which would stop the vectorisation
    (``n >= 1`` wherever it divides).

    ``mode`` (:func:`ucb1_mode`) names the scan, chosen in Python from ``K`` and ``L`` (0: one
    lane, 1: one arm per pass, 2: 8-arm blocks, 5..29: the fixed scan of that many arms).
    Tried: ``mode`` as a Numba literal, so that only the scan in use compiles: 0.4 CPU-s less
    on a cold start, but a call from Python then retypes the kernel each time (0.3 s), and an
    ``njit`` wrapper passing the constant lost the blocks' vector loop (0.4x at K=64)."""
    L, K = phi.shape
    arm_mu = np.empty((L, K))
    mu_star = np.empty(L)
    for l in range(L):  # loops, not slice assignments: those cost seconds to compile
        mu_star[l] = -np.inf
        for k in range(K):
            arm_mu[l, k] = mu[l, phi[l, k]]
            mu_star[l] = max(mu_star[l], arm_mu[l, k])
    gap = np.empty((L, K))  # mu* - mu_k: the regret of a pull, one load per pull
    for l in range(L):
        for k in range(K):
            gap[l, k] = mu_star[l] - arm_mu[l, k]
    w0, w1, w2, w3 = np.empty(L, np.uint64), np.empty(L, np.uint64), np.empty(L, np.uint64), \
        np.empty(L, np.uint64)
    for l in range(L):
        w0[l], w1[l], w2[l], w3[l] = sts[l, 0], sts[l, 1], sts[l, 2], sts[l, 3]
    fixed = mode >= 5
    blocks = mode == 2
    # arms padded to the smallest fixed scan, or to 1 + 8j for the blocks (also without them:
    # a Kp that depends on `blocks` made LLVM drop the blocks' vector loop, 0.4x at K=64)
    Kp = 1 + 4 * max(1, (K + 2) // 4) if fixed else 1 + 8 * ((K + 6) // 8)
    n = np.zeros((K, L))
    s = np.zeros((K, L))
    mean = np.zeros((Kp, L))
    for a in range(K, Kp):
        for l in range(L):
            mean[a, l] = -np.inf
    inv_sqrt_n = np.zeros((Kp, L))  # index = mean + sqrt(alpha log t) * n^{-1/2}
    best = np.empty(L)
    arm = np.zeros(L, np.int64)
    reg = np.zeros(L)
    u = np.zeros(L)
    n_k = np.empty(L)  # the pulled arms' new statistics, one per lane
    s_k = np.empty(L)
    mean_k = np.empty(L)
    isn_k = np.empty(L)
    ci = 0
    for t in range(T):
        if t < K:
            for l in range(L):
                arm[l] = t
        elif mode == 0:  # one repetition: best and arm in registers
            bonus = np.sqrt(alpha * np.log(t))
            b0 = mean[0, 0] + bonus * inv_sqrt_n[0, 0]
            k0 = 0
            for a in range(1, K):
                b0, k0 = _ucb1_arm(mean, inv_sqrt_n, bonus, a, 0, b0, k0)
            arm[0] = k0
        elif mode == 5:  # literal arm counts, each its own unrolled scan
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 5)
        elif mode == 9:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 9)
        elif mode == 13:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 13)
        elif mode == 17:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 17)
        elif mode == 21:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 21)
        elif mode == 25:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 25)
        elif mode == 29:
            _ucb1_scan(mean, inv_sqrt_n, np.sqrt(alpha * np.log(t)), arm, 29)
        else:
            bonus = np.sqrt(alpha * np.log(t))
            for l in range(L):
                best[l] = mean[0, l] + bonus * inv_sqrt_n[0, l]
                arm[l] = 0
            if blocks:
                for a0 in range(1, Kp, 8):  # 16 arms per pass: 0.44-0.5x
                    _ucb1_block(mean, inv_sqrt_n, bonus, best, arm, a0, 8)
            else:
                for a in range(1, K):
                    for l in range(L):  # as _ucb1_arm, kept as selects on memory: 1.7x faster
                        idx = mean[a, l] + bonus * inv_sqrt_n[a, l]
                        up = idx > best[l]
                        arm[l] = a if up else arm[l]
                        best[l] = idx if up else best[l]
        # The pulled arms' statistics. k unsigned: no negative-index wrap-around code. One
        # loop per reward kind, the bern test out of the loop (one shared loop: 2-3% slower at
        # K=9 and K=64).
        if bern:  # the uniform(st) of _draw, lane-wise
            for l in range(L):
                x, w0[l], w1[l], w2[l], w3[l] = xoshiro_step(w0[l], w1[l], w2[l], w3[l])
                u[l] = unit_float(x)
            for l in range(L):
                k = np.uint64(arm[l])
                reg[l] += gap[l, k]
                n_k[l] = n[k, l] + 1.0
                s_k[l] = s[k, l] + _bernoulli(u[l], arm_mu[l, k])  # as _draw
                n[k, l], s[k, l] = n_k[l], s_k[l]
        else:
            for l in range(L):
                k = np.uint64(arm[l])
                reg[l] += gap[l, k]
                n_k[l] = n[k, l] + 1.0
                s_k[l] = s[k, l] + arm_mu[l, k]  # as _draw
                n[k, l], s[k, l] = n_k[l], s_k[l]
        for l in range(L):
            mean_k[l] = s_k[l] / n_k[l]
            isn_k[l] = 1.0 / np.sqrt(n_k[l])
        for l in range(L):
            k = np.uint64(arm[l])
            mean[k, l] = mean_k[l]
            inv_sqrt_n[k, l] = isn_k[l]
        # inline, not _record on out.T: that cost 20% at one repetition (K=9)
        if ci < ckpt.shape[0] and t + 1 == ckpt[ci]:
            for l in range(L):
                out[l, ci] = reg[l]
            ci += 1


# The count classes' state is one int64 array (rows below, K + 1 columns) and one float64
# array (arm statistics, and n^{-1/2} per class slot), so the inlined helpers take two arrays:
# Numba adds refcount operations for each array argument of an inlined call, every step (the
# class update through 14 separate arrays made UCB1 2x slower at K=4096).
# Per arm: heap links (first child, next sibling, `up`: the parent of a first child, else the
# left sibling, -1 at a root), class slot; per class slot: count, root arm, size, list links
# sorted by count (-1 at the ends); the free slots; two work lists. K + 1 slots: the new
# class is made before the old one (maybe emptied) is freed.
_CHILD, _SIB, _UP, _SLOT, _CN, _ROOT, _SIZE, _PRV, _NXT, _FREE, _STACK, _BUF = range(12)
_N, _S, _MEAN, _ISN = range(4)


@nb.njit(cache=True, inline="always")
def _classes_new(K):
    """Empty count classes over ``K`` arms: ``(cl, fl)``, and ``head, tail, nfree``."""
    # np.empty and loops, not np.full / np.zeros / slice assignments (each a compilation)
    cl = np.empty((12, K + 1), np.int64)
    fl = np.empty((4, K + 1))
    for e in range(K + 1):
        for j in range(12):
            cl[j, e] = -1
        for j in range(4):
            fl[j, e] = 0.0
        cl[_CN, e] = 0
        cl[_SIZE, e] = 0
        cl[_FREE, e] = K - e
    return cl, fl, -1, -1, K + 1


@nb.njit(cache=True, inline="always")
def _above(fl, a, b):
    """Arm ``a`` ranks above arm ``b`` in their count class: higher mean, ties to the lower
    index (the scan's tie rule)."""
    ma, mb = fl[_MEAN, a], fl[_MEAN, b]
    return (ma > mb) | ((ma == mb) & (a < b))  # no short circuit: selects, not branches


@nb.njit(cache=True, inline="always")
def _meld(fl, cl, a, b):
    """Pairing-heap meld of the heaps rooted at arms ``a`` and ``b``: returns the new root."""
    up = _above(fl, b, a)
    a, b = (b if up else a), (a if up else b)  # selects: the outcome is unpredictable
    c = cl[_CHILD, a]
    cl[_SIB, b] = c
    if c >= 0:
        cl[_UP, c] = b
    cl[_UP, b] = a
    cl[_CHILD, a] = b
    return a


@nb.njit(cache=True, inline="always")
def _pop(fl, cl, root):
    """Remove ``root`` from its pairing heap (two-pass pairing): returns the new root, -1 if
    the heap is empty."""
    c = cl[_CHILD, root]
    cl[_CHILD, root] = -1
    top = 0
    while c >= 0:  # first pass: meld the children in pairs, left to right
        a = c
        b = cl[_SIB, a]
        if b < 0:
            cl[_SIB, a] = -1
            cl[_STACK, top] = a
            top += 1
            break
        c = cl[_SIB, b]
        cl[_SIB, a] = -1
        cl[_SIB, b] = -1
        cl[_STACK, top] = _meld(fl, cl, a, b)
        top += 1
    if top == 0:
        return -1
    r = cl[_STACK, top - 1]
    for j in range(top - 2, -1, -1):  # second pass: right to left
        r = _meld(fl, cl, cl[_STACK, j], r)
    cl[_UP, r] = -1
    return r


@nb.njit(cache=True, inline="always")
def _heap_delete(fl, cl, root, x):
    """Remove arm ``x`` from the pairing heap rooted at ``root`` (``x`` anywhere in it): its
    subtree is cut out, its children paired, the result melded back. Returns the new root."""
    if x != root:  # cut x's subtree out
        u = cl[_UP, x]
        nx = cl[_SIB, x]
        if cl[_CHILD, u] == x:
            cl[_CHILD, u] = nx
        else:
            cl[_SIB, u] = nx
        if nx >= 0:
            cl[_UP, nx] = u
        cl[_SIB, x] = -1
    sub = _pop(fl, cl, x)  # one inlined _pop, not two (compile time)
    if x == root:
        return sub
    if sub < 0:
        return root
    r = _meld(fl, cl, root, sub)
    cl[_UP, r] = -1
    return r


@nb.njit(cache=True, inline="always")
def _class_move(fl, cl, k, d, r_k, top, head, tail, nfree):
    """Arm ``k``, just taken out of class slot ``d`` (-1: its first pull), adds the reward
    ``r_k`` to its statistics and joins the class of its new count: the next slot after ``d``
    or a new one right after it; an emptied ``d`` is unlinked and freed. ``top`` (the largest
    mean so far) takes the new mean. Returns ``(head, tail, nfree, top)``."""
    fl[_N, k] += 1.0
    fl[_S, k] += r_k
    fl[_MEAN, k] = fl[_S, k] / fl[_N, k]
    top = max(top, fl[_MEAN, k])
    cnt = np.int64(fl[_N, k])
    if d >= 0:
        cl[_SIZE, d] -= 1
    e = head if d < 0 else cl[_NXT, d]
    if e < 0 or cl[_CN, e] != cnt:  # no arm has this count yet: a new slot after `d`
        nfree -= 1
        e = cl[_FREE, nfree]
        cl[_CN, e] = cnt
        cl[_ROOT, e] = -1
        cl[_SIZE, e] = 0
        fl[_ISN, e] = 1.0 / np.sqrt(fl[_N, k])
        nx = head if d < 0 else cl[_NXT, d]
        cl[_PRV, e] = d
        cl[_NXT, e] = nx
        if d < 0:
            head = e
        else:
            cl[_NXT, d] = e
        if nx < 0:
            tail = e
        else:
            cl[_PRV, nx] = e
    cl[_SLOT, k] = e
    cl[_SIZE, e] += 1
    cl[_ROOT, e] = k if cl[_ROOT, e] < 0 else _meld(fl, cl, cl[_ROOT, e], k)
    if d >= 0 and cl[_ROOT, d] < 0:  # the old class emptied: unlink and free its slot
        p, nx = cl[_PRV, d], cl[_NXT, d]
        if p < 0:
            head = nx
        else:
            cl[_NXT, p] = nx
        if nx < 0:
            tail = p
        else:
            cl[_PRV, nx] = p
        cl[_FREE, nfree] = d
        nfree += 1
    return head, tail, nfree, top


@nb.njit(cache=True, inline="always")
def _ucb_classes_argmax(fl, cl, head, tail, bonus, top):
    """The first arm of largest UCB index ``mean + bonus n^{-1/2}`` over the count classes'
    roots (the scan's argmax and tie rule): ``(index, arm)``. The most-pulled class first (the
    best arm, usually: a high index to beat), then by count upwards, stopping once even a mean
    of ``top`` (no mean exceeds it) cannot reach the best index: later classes have smaller
    bonuses (rounding is monotone, so this is exact; equal indices are not cut, the lower arm
    may win them)."""
    k = cl[_ROOT, tail]
    b = fl[_MEAN, k] + bonus * fl[_ISN, tail]
    e = head
    while e != tail:
        c = bonus * fl[_ISN, e]
        if top + c < b:
            break
        r = cl[_ROOT, e]
        idx = fl[_MEAN, r] + c
        if idx > b or (idx == b and r < k):
            b = idx
            k = r
        e = cl[_NXT, e]
    return b, k


@nb.njit(cache=True, inline="always")
def _meld1(mean, child, sib, a, b):
    """As :func:`_meld` (the order of :func:`_above`), on separate arrays, without ``up``
    links; the comparison as selects (8% less per pull at K=4096, T=2^16)."""
    ma, mb = mean[a], mean[b]
    up = (mb > ma) | ((mb == ma) & (b < a))  # selects, not a branch: unpredictable
    w = b if up else a
    low = a if up else b
    sib[low] = child[w]
    child[w] = low
    return w


@nb.njit(cache=True, inline="always")
def _pop1(mean, child, sib, root, stack):
    """As :func:`_pop`, on separate arrays, without ``up`` links."""
    c = child[root]
    child[root] = -1
    top = 0
    while c >= 0:  # first pass: meld the children in pairs, left to right
        a = c
        b = sib[a]
        if b < 0:
            sib[a] = -1
            stack[top] = a
            top += 1
            break
        c = sib[b]
        sib[a] = -1
        sib[b] = -1
        stack[top] = _meld1(mean, child, sib, a, b)
        top += 1
    if top == 0:
        return -1
    r = stack[top - 1]
    for j in range(top - 2, -1, -1):  # second pass: right to left
        r = _meld1(mean, child, sib, stack[j], r)
    return r


@nb.njit(cache=True, nogil=True)
def _ucb1_classes(st, phi, mu, bern, T, ckpt, out, alpha, picks):
    """UCB1 (the same pulls, bit for bit, as :func:`_ucb1`) with an argmax sublinear in ``K``.

    Arms with the same pull count ``n`` share ``n^{-1/2}``, so within that count class the
    index ``mean + sqrt(alpha log t) n^{-1/2}`` orders arms as their means do, whatever ``t``;
    equal means give equal indices, and distinct means give distinct indices when
    :func:`ucb1_classes_exact` holds (they are further apart than the rounding of the sum).
    Each class keeps its arms in a pairing heap ordered by (mean desc, index asc); a step
    compares the roots of the ``D`` non-empty classes (``D <= min(K, sqrt(2T))``; fewer with
    the cut below), the scan's tie rule across classes included, pops the chosen root and
    inserts it into the class of ``n + 1``: ``O(D + log K)`` a step against ``O(K)``. One
    repetition per call: the stream and arithmetic of a repetition are those of the lockstep
    kernel. ``picks`` (length ``T``, or 0 for none) receives the pulled arms, for the tests."""
    K = phi.shape[0]
    arm_mu, mu_star = _arm_means(phi, mu)
    n = np.zeros(K)
    s = np.zeros(K)
    mean = np.zeros(K)
    # Separate arrays, the class update written out, no heap `up` links: through the packed
    # state and _class_move (as KL-UCB and outcome-ucb) this kernel ran 1.25x slower per pull
    # at K=4096 (CPU time, 21 interleaved calls); it pops only roots, so needs no links.
    child = np.full(K, -1, np.int64)
    sib = np.full(K, -1, np.int64)
    stack = np.empty(K, np.int64)
    slot = np.full(K, -1, np.int64)  # each arm's class slot
    c_n = np.zeros(K + 1, np.int64)
    c_root = np.full(K + 1, -1, np.int64)
    c_isn = np.zeros(K + 1)
    c_mean = np.zeros(K + 1)  # the root's mean: the walk reads no arm data
    prv = np.full(K + 1, -1, np.int64)
    nxt = np.full(K + 1, -1, np.int64)
    free = np.arange(K, -1, -1)
    # Class slots in a list sorted by count (prv/nxt, -1 at the ends): count, root arm,
    # n^{-1/2}. A pulled arm moves to the next slot or to a new one just after its own.
    # K + 1 slots: the new class is made before the old one (maybe emptied) is freed.
    head = -1  # fewest pulls
    tail = -1  # most pulls
    nfree = K + 1
    top = -np.inf  # the largest mean so far: no current mean exceeds it
    hi_first = hi_last = lo_first = lo_last = -1  # class 1's chains of ones and of zeros
    reg = 0.0
    ci = 0
    for t in range(T):
        d = -1  # the pulled arm's class before the pull (-1: first pull)
        if t < K:
            k = t
        else:
            bonus = np.sqrt(alpha * np.log(t))
            # The most-pulled class first (the best arm, usually: a high index to beat),
            # then by count upwards, stopping once even a mean of `top` cannot reach the
            # best index: later classes have smaller bonuses (rounding is monotone, so this
            # is exact; equal indices are not cut, the lower arm may win them).
            k = c_root[tail]
            b = c_mean[tail] + bonus * c_isn[tail]
            e = head
            while e != tail:
                c = bonus * c_isn[e]
                if top + c < b:
                    break
                r = c_root[e]
                idx = c_mean[e] + c
                if idx > b or (idx == b and r < k):
                    b = idx
                    k = r
                e = nxt[e]
            d = slot[k]  # k is its class's root
            c_root[d] = _pop1(mean, child, sib, k, stack)
            c_mean[d] = mean[c_root[d]]  # (any value once empty)
        if picks.shape[0] > 0:
            picks[t] = k
        if bern:
            r_k = _bernoulli(uniform(st), arm_mu[k])
        else:
            r_k = arm_mu[k]
        reg += mu_star - arm_mu[k]
        n[k] += 1.0
        s[k] += r_k
        mean[k] = s[k] / n[k]
        top = max(top, mean[k])
        cnt = np.int64(n[k])
        after = d  # the new class sits right after the old one (or first)
        e = head if d < 0 else nxt[d]
        if e < 0 or c_n[e] != cnt:  # no arm has this count yet: a new slot after `after`
            nfree -= 1
            e = free[nfree]
            c_n[e] = cnt
            c_root[e] = -1
            c_isn[e] = 1.0 / np.sqrt(n[k])
            nx = head if after < 0 else nxt[after]
            prv[e] = after
            nxt[e] = nx
            if after < 0:
                head = e
            else:
                nxt[after] = e
            if nx < 0:
                tail = e
            else:
                prv[nx] = e
        slot[k] = e
        if bern and t < K:
            # First pulls (Bernoulli): class 1 as a chain sorted by (mean desc, arm), each arm
            # the only child of the one before: its pops are O(1), where K melds into one
            # root cost a pop over up to K children, then about 6 children a pop (K=4096).
            if mean[k] == 1.0:
                if hi_last < 0:
                    hi_first = k
                else:
                    child[hi_last] = k
                hi_last = k
            else:
                if lo_last < 0:
                    lo_first = k
                else:
                    child[lo_last] = k
                lo_last = k
            if t == K - 1:  # the ones, then the zeros
                if hi_last >= 0:
                    child[hi_last] = lo_first
                c_root[e] = hi_first if hi_last >= 0 else lo_first
                c_mean[e] = mean[c_root[e]]
        else:
            c_root[e] = k if c_root[e] < 0 else _meld1(mean, child, sib, c_root[e], k)
            c_mean[e] = mean[c_root[e]]
        if d >= 0 and c_root[d] < 0:  # the old class emptied: unlink and free its slot
            if prv[d] < 0:
                head = nxt[d]
            else:
                nxt[prv[d]] = nxt[d]
            if nxt[d] < 0:
                tail = prv[d]
            else:
                prv[nxt[d]] = prv[d]
            free[nfree] = d
            nfree += 1
        if ci < ckpt.shape[0] and t + 1 == ckpt[ci]:
            out[ci] = reg
            ci += 1

# Fewest arms for the count-class argmax: measured on one core (K, T: classes / lockstep scan
# of 16 repetitions) 512, 2^14: 0.73x; 512, 2^17: 0.40x; 1024, 2^14: 1.95x; 1024, 2^17: 0.62x;
# 2048, 2^15: 3.4x; 4096, 2^13: 12.7x; 4096, 2^16: 9.2x (docs/speed.md).
UCB1_CLASSES_MIN_K = 2048


def ucb1_classes_exact(mu: np.ndarray, phi: np.ndarray, bern: bool, T: int, alpha: float,
                       min_k: int | None = None) -> bool:
    """Whether :func:`_ucb1_classes` runs (``mu``, ``phi``: one row per repetition): at least
    ``min_k`` arms (default :data:`UCB1_CLASSES_MIN_K`), and it makes the scan's pulls bit for
    bit (also the condition for outcome-ucb's classes, over outcomes). For the latter
    two arms of one count class with different means must get different indices, i.e. their
    means must differ by more than the rounding of ``mean + bonus`` (|index| <= 1 +
    sqrt(alpha log T)). Bernoulli means of one class are multiples of ``1/n >= 1/T``;
    deterministic means are sums of ``n`` equal rewards, within ``(T + 1) 2^-52`` of the arm's
    mean (arms of equal means get equal sums)."""
    if phi.shape[-1] < (UCB1_CLASSES_MIN_K if min_k is None else min_k):
        return False
    eps = 2.0 ** -52
    rounding = 4.0 * eps * (1.0 + np.sqrt(alpha * np.log(max(T, 2))))
    if bern:
        return 1.0 / T - 2.0 * eps > rounding
    for row in np.atleast_2d(mu):
        diffs = np.diff(np.unique(row))
        if len(diffs) and diffs.min() - 2.0 * (T + 1) * eps <= rounding:
            return False
    return True


# Fewest arms for KL-UCB's count classes: one core, 4 repetitions, partition m=3 gap 0.2,
# classes / scan per pull: K=2 0.90x, 3 1.08x, 9 1.73x, 64 6.1x, 256 60x, 4096 385x (the scan
# solves the KL index of every arm whose Pinsker bound beats the best so far; docs/speed.md).
KLUCB_CLASSES_MIN_K = 4


def klucb_gap_half(mu: np.ndarray, bern: bool, T: int) -> float | None:
    """Half the least distance between the means of two arms of one count class with
    different rewards (for :func:`_klucb_classes`), or None when rounding could bring them
    closer than that (the scan runs). Bernoulli sums: 0 (the kernel uses ``0.5 / n``).
    Deterministic rewards: a mean of ``n`` rewards ``mu`` is within ``(T + 1) 2^-52`` of
    ``mu``, so distinct levels stay ``min gap - 2 (T + 1) 2^-52`` apart; one level: inf."""
    if bern:
        return 0.0
    diffs = np.diff(np.unique(mu))
    if len(diffs) == 0:
        return np.inf
    least = diffs.min() - 2.0 * (T + 1) * 2.0 ** -52
    return 0.5 * least if least > 0.0 else None


# Fewest outcomes for outcome-ucb's count classes: one core, m = K (partition), per pull
# classes / scan 0.71x at m=9, 0.46x at 64, 2.25x at 512, 2.1x at 4096 (the walk over the
# classes visits most of them: see docs/speed.md).
OUTCOME_CLASSES_MIN_M = 512


def ucb1_lanes(K: int, reps: int, threads: int) -> int:
    """Repetitions interleaved per UCB1 call: 16 at most (the arm scan then runs on vectors of
    repetitions: 2.4-3x the one-at-a-time rate from K=64 to 4096), split over threads only down
    to 8 per group, because 2-4 lanes gain little over one (8 repetitions as 4 + 4 on two
    threads ran at 0.72x of 8 on one thread)."""
    reps = max(int(reps), 1)
    return max(1, min(reps, 16, max(8, -(-reps // max(threads, 1)))))


@nb.njit(cache=True, inline="always")
def _kl_bern(p, q):
    eps = 1e-15
    p = min(max(p, eps), 1.0 - eps)
    q = min(max(q, eps), 1.0 - eps)
    return p * np.log(p / q) + (1.0 - p) * np.log((1.0 - p) / (1.0 - q))


@nb.njit(cache=True)
def kl_ucb_index(mean, n, level):
    """``max{q in [mean, 1] : n kl(mean, q) <= level}`` (Bernoulli kl), to about 1e-10.

    Newton's method on the convex increasing ``f(q) = kl(mean, q) - level/n`` started to the
    right of the root (the Pinsker bound ``mean + sqrt(level / (2n))``, clipped below 1)
    converges monotonically from above; a final check falls back to bisection if it did not."""
    if mean >= 1.0:
        return 1.0
    target = level / n
    if target <= 0.0:
        return mean
    if mean <= 0.0:  # closed form: -log(1 - q) = target
        return -np.expm1(-target)
    p = mean
    q = min(p + np.sqrt(target / 2.0), 1.0 - 1e-12)
    if _kl_bern(p, q) <= target:
        return q
    for _ in range(50):
        f = _kl_bern(p, q) - target
        if f <= 1e-12:
            break
        q_new = q - f * q * (1.0 - q) / (q - p)
        if q_new <= p or q - q_new < 1e-13:
            break
        q = q_new
    if abs(_kl_bern(p, q) - target) > 1e-8:  # defensive: bisection
        lo, hi = p, min(p + np.sqrt(target / 2.0), 1.0)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _kl_bern(p, mid) > target:
                hi = mid
            else:
                lo = mid
        q = lo
    return q


@nb.njit(cache=True, inline="always")
def _klucb_level(t, c):
    """KL-UCB's exploration level ``log t + c log log t`` (``log t`` while ``log t <= 1``,
    never below 0) and the Pinsker slack ``sqrt(level / 2)``."""
    lt = np.log(t)
    level = lt + c * np.log(lt) if lt > 1.0 else lt
    level = max(level, 0.0)
    return level, np.sqrt(level / 2.0)


@nb.njit(cache=True, inline="always")
def _klucb_scan(s, n, pinsker, level, h):
    """KL-UCB's argmax over the arms ``0..len(pinsker)-1``: the first arm of largest Pinsker bound
    ``min(mean + h n^{-1/2}, 1)`` (>= the KL index) gets its exact index, then, in arm order,
    every other arm whose bound exceeds the best so far; ties to the lowest arm."""
    k = 0
    for a in range(pinsker.shape[0]):
        pinsker[a] = min(s[a] / n[a] + h / np.sqrt(n[a]), 1.0)
        if pinsker[a] > pinsker[k]:
            k = a
    best = kl_ucb_index(s[k] / n[k], n[k], level)
    kbest = k
    for a in range(pinsker.shape[0]):
        if a != k and pinsker[a] > best:
            idx = kl_ucb_index(s[a] / n[a], n[a], level)
            if idx > best or (idx == best and a < kbest):
                best = idx
                kbest = a
    return kbest


@nb.njit(cache=True, nogil=True)
def _klucb(st, phi, mu, bern, T, ckpt, out, c, picks):
    """KL-UCB with the argmax over every arm (:func:`_klucb_scan`); ``picks`` (length ``T``,
    or 0) receives the pulled arms, for the tests."""
    K = phi.shape[0]
    arm_mu, mu_star = _arm_means(phi, mu)
    n = np.zeros(K)
    s = np.zeros(K)
    pinsker = np.zeros(K)
    reg = 0.0
    ci = 0
    for t in range(T):
        if t < K:
            k = t
        else:
            level, h = _klucb_level(t, c)
            k = _klucb_scan(s, n, pinsker, level, h)
        if picks.shape[0] > 0:
            picks[t] = k
        r, reg, ci = _pull(st, arm_mu[k], mu_star, bern, reg, t + 1, ckpt, ci, out)
        n[k] += 1.0
        s[k] += r


# Margin on kl(p, q) - level/n beyond kl_ucb_index's own tolerance (1e-8 on the same
# difference) and the rounding of _kl_bern (about 1e-14): see _klucb_classes.
_KL_MARGIN = 2e-8


@nb.njit(cache=True)
def _kl_cut(p, b):
    """A target (level / n) below which every KL index kl_ucb_index computes for a mean <=
    ``p`` is below ``b``: ``kl(p, b - 1e-12)`` less kl_ucb_index's tolerance (it stops with
    ``kl(mean, q) - target <= 1e-8``) and _kl_bern's rounding (about 1e-13): kl decreases in
    p below q and increases in q above p. -inf (no cut) when ``p >= b - 1e-12``."""
    q = b - 1e-12
    return _kl_bern(p, q) - _KL_MARGIN if p < q else -np.inf


@nb.njit(cache=True, nogil=True)
def _klucb_classes(st, phi, mu, bern, T, ckpt, out, c, gap_half, picks, info):
    """KL-UCB (the same pulls, bit for bit, as :func:`_klucb`) with an argmax over pull-count
    classes, kept as in :func:`_ucb1_classes`: within a class (one ``n``) the KL index is
    increasing in the mean and the order does not depend on ``t``, so each class's best arm
    is its heap root, and only roots get an exact index (a Newton solve), the most-pulled
    class first, then by count upwards.

    Exact, not trusted: the scan's result is the first arm of largest computed index among
    the arms it evaluates, and every step checks, else runs the scan itself (``info[0]``
    counts those steps, ``info[1]`` the Newton solves):

    - a class is skipped, or the walk stops, only when no mean up to the root's (``top``,
      the largest mean so far, for every later class) can reach the best index ``B``: its
      Pinsker sum ``mean + sqrt(level / (2n))`` is below ``B`` (kl_ucb_index never returns
      more than that sum, computed the same way), or ``level / n`` is below :func:`_kl_cut`;
    - arms of a class with the root's mean have the root's index and higher arm numbers; an
      arm of a lower mean has mean <= ``p2`` (root's mean less half the least gap: ``0.5/n``
      for Bernoulli sums, ``gap_half`` for deterministic rewards), checked as above;
    - the scan evaluates the winner ``a`` exactly when its Pinsker bound exceeds its index (or
      both are 1): only an arm evaluated before it with the same index could stop it then.

    ``picks`` (length ``T``, or 0) receives the pulled arms; ``info`` (length 2, or 0)."""
    K = phi.shape[0]
    arm_mu, mu_star = _arm_means(phi, mu)
    cl, fl, head, tail, nfree = _classes_new(K)
    n, s, mean = fl[_N], fl[_S], fl[_MEAN]  # views, for the scan and the solves
    pinsker = np.empty(K)  # the scan writes each entry before reading it
    done = cl[_BUF]  # slots whose root got an exact index this step (no np.empty to compile)
    top = -np.inf
    fallbacks = 0
    solves = 0
    reg = 0.0
    ci = 0
    for t in range(T):
        d = -1
        if t < K:
            k = t
        else:
            level, h = _klucb_level(t, c)
            k = cl[_ROOT, tail]
            b = kl_ucb_index(mean[k], n[k], level)
            done[0] = tail
            nd = 1
            cut = _kl_cut(top, b)
            e = head
            while e != tail:
                r = cl[_ROOT, e]
                target = level / n[r]
                x = np.sqrt(target / 2.0)  # as kl_ucb_index's bound
                if top + x < b or target < cut:
                    break  # and every later class: smaller target, same top
                if not (mean[r] + x < b or target < _kl_cut(mean[r], b)):
                    idx = kl_ucb_index(mean[r], n[r], level)
                    if idx > b or (idx == b and r < k):
                        b = idx
                        k = r
                        cut = _kl_cut(top, b)
                    done[nd] = e
                    nd += 1
                e = cl[_NXT, e]
            solves += nd
            ok = True
            for j in range(nd):
                e = done[j]
                if cl[_SIZE, e] > 1:
                    r = cl[_ROOT, e]
                    p2 = mean[r] - (0.5 / n[r] if bern else gap_half)
                    target = level / n[r]
                    if p2 >= 0.0 and not (p2 + np.sqrt(target / 2.0) < b
                                          or target < _kl_cut(p2, b)):
                        ok = False
                        break
            if ok:
                pk = min(s[k] / n[k] + h / np.sqrt(n[k]), 1.0)
                ok = pk > b or (pk == b and b >= 1.0)
            if not ok:
                k = _klucb_scan(s, n, pinsker, level, h)
                fallbacks += 1
            d = cl[_SLOT, k]
            cl[_ROOT, d] = _heap_delete(fl, cl, cl[_ROOT, d], k)
        if picks.shape[0] > 0:
            picks[t] = k
        r_k, reg, ci = _pull(st, arm_mu[k], mu_star, bern, reg, t + 1, ckpt, ci, out)
        head, tail, nfree, top = _class_move(fl, cl, k, d, r_k, top, head, tail, nfree)
    if info.shape[0] >= 2:
        info[0] += fallbacks
        info[1] += solves


@nb.njit(cache=True, nogil=True)
def _thompson(st, phi, mu, bern, T, ckpt, out):
    K = phi.shape[0]
    arm_mu, mu_star = _arm_means(phi, mu)
    a_ = np.ones(K)
    b_ = np.ones(K)
    reg = 0.0
    ci = 0
    for t in range(T):
        k = 0
        best = -1.0
        for a in range(K):
            th = beta(st, a_[a], b_[a])
            if th > best:
                best = th
                k = a
        r, reg, ci = _pull(st, arm_mu[k], mu_star, bern, reg, t + 1, ckpt, ci, out)
        a_[k] += r
        b_[k] += 1.0 - r


@nb.njit(cache=True, nogil=True)
def _uniform(st, phi, mu, bern, T, ckpt, out):
    K = phi.shape[0]
    arm_mu, mu_star = _arm_means(phi, mu)
    reg = 0.0
    ci = 0
    for t in range(T):
        k = randint(st, K)
        # the reward is drawn (and ignored) for stream parity with the other learners
        _, reg, ci = _pull(st, arm_mu[k], mu_star, bern, reg, t + 1, ckpt, ci, out)


@nb.njit(cache=True, nogil=True)
def _outcome_ucb(st, phi, mu, p0_cdf, bern, T, ckpt, out, alpha, classes, picks):
    """Outcome-level UCB (module docstring). ``classes``: the argmax over the discovered
    outcomes by pull-count classes as in :func:`_ucb1_classes` (same choices, bit for bit,
    when :func:`ucb1_classes_exact` holds for the outcome means): the best known outcome is
    the first of largest index, and it is played when its index is >= the discovery
    action's; a discovery draw that reveals a known outcome moves it out of the middle of its
    class's heap. Else the scan over every discovered outcome. ``picks`` (length ``T``, or
    0) receives the outcome of each pull."""
    m = mu.shape[0]
    mu_star = -1.0
    for k in range(phi.shape[0]):
        mu_star = max(mu_star, mu[phi[k]])
    # Statistics of discovered outcomes by discovery position i (known[i] is the outcome), with
    # the index kept as mean + sqrt(alpha log t) * n^{-1/2}: one FMA per outcome per step.
    n = np.zeros(m)
    s = np.zeros(m)
    mean = np.zeros(m)
    inv_sqrt_n = np.zeros(m)
    cl, fl, head, tail, nfree = _classes_new(m if classes else 0)
    top = -np.inf  # the largest mean so far (classes)
    known = np.empty(m, np.int64)
    pos = np.full(m, -1, np.int64)
    c0 = np.zeros(m, np.int64)  # discovery draws that revealed each outcome
    d = 0
    n0 = 0.0  # the discovery action (draw an arm from p0)
    s0 = 0.0
    n1 = 0  # outcomes revealed by exactly one discovery draw (Good-Turing)
    reg = 0.0
    ci = 0
    for t in range(T):
        i = -1
        # Forced discovery while the Good-Turing unseen mass n1 / n0 exceeds sqrt(log t / t).
        if n0 > 0.0 and float(n1) * n1 * t <= n0 * n0 * np.log(t):
            bonus = np.sqrt(alpha * np.log(t))
            best = s0 / n0 + bonus * (1.0 / np.sqrt(n0))  # same rounding as below: exact ties
            if classes:
                if tail >= 0:
                    b, k = _ucb_classes_argmax(fl, cl, head, tail, bonus, top)
                    if b >= best:
                        i = k
            else:
                for a in range(d):
                    idx = mean[a] + bonus * inv_sqrt_n[a]
                    if idx >= best and (i < 0 or idx > best):
                        best = idx
                        i = a
        if i < 0:  # discovery: an arm from p0 reveals its outcome
            k = categorical_cdf(st, p0_cdf)
            j = phi[k]
            r = _draw(st, mu[j], bern)
            n0 += 1.0
            s0 += r
            c0[j] += 1
            if c0[j] == 1:
                n1 += 1
            elif c0[j] == 2:
                n1 -= 1
            if pos[j] < 0:
                pos[j] = d
                known[d] = j
                d += 1
            i = pos[j]
        else:  # play a known outcome (any arm of its preimage: the reward depends on j only)
            j = known[i]
            r = _draw(st, mu[j], bern)
        if picks.shape[0] > 0:
            picks[t] = j
        if classes:
            e = cl[_SLOT, i]  # -1 while i has no pull
            if e >= 0:
                cl[_ROOT, e] = _heap_delete(fl, cl, cl[_ROOT, e], i)
            head, tail, nfree, top = _class_move(fl, cl, i, e, r, top, head, tail, nfree)
        else:
            n[i] += 1.0
            s[i] += r
            mean[i] = s[i] / n[i]
            inv_sqrt_n[i] = 1.0 / np.sqrt(n[i])
        reg += mu_star - mu[j]
        ci = _record(t + 1, reg, ckpt, ci, out)


def ucb1_mode(K: int, lanes: int) -> int:
    """The scan :func:`_ucb1` compiles for ``K`` arms and ``lanes`` repetitions: 0 (one lane),
    the padded arm count 5..29 of a fixed scan (2 or more lanes, up to 29 arms), 2 (8-arm
    blocks: 16 or more lanes above 29 arms) or 1 (one arm per pass)."""
    if lanes == 1:
        return 0
    if K <= _FIXED_SCANS[-1]:
        return 1 + 4 * max(1, (K + 2) // 4)
    return 2 if lanes >= _BLOCK_MIN_REPS else 1


def _run_reps(learner, phi, mu, cdf, bern, T, ckpt, states, out, threads):
    """Run every repetition (UCB1: groups of :func:`ucb1_lanes` in lockstep) on ``threads``
    Python threads; the kernels release the GIL. One kernel per learner, and no ``prange``
    kernel over all five: that one compiled every learner for any cell (19 CPU-s cold for one
    UCB1 cell against 4 with this dispatch). Each repetition's result does not depend on the
    grouping or the thread count."""
    R = states.shape[0]
    alpha, c = float(learner.alpha), float(learner.c)
    jobs = []
    if learner.name == "ucb1" and ucb1_classes_exact(mu, phi, bern, T, alpha):
        picks = np.zeros(0, np.int64)
        for r in range(R):
            jobs.append((_ucb1_classes, (states[r].copy(), phi[r], mu[r], bern, T, ckpt, out[r],
                                         alpha, picks)))
    elif learner.name == "ucb1":
        lanes = ucb1_lanes(phi.shape[1], R, threads)
        for lo in range(0, R, lanes):
            hi = min(lo + lanes, R)
            jobs.append((_ucb1, (states[lo:hi].copy(), phi[lo:hi], mu[lo:hi], bern, T, ckpt,
                                 out[lo:hi], alpha, ucb1_mode(phi.shape[1], hi - lo))))
    else:
        none = np.zeros(0, np.int64)
        for r in range(R):
            args = (states[r].copy(), phi[r], mu[r], bern, T, ckpt, out[r])
            gap_half = klucb_gap_half(mu[r], bern, T) if learner.name == "kl-ucb" else None
            if gap_half is not None and phi.shape[1] >= KLUCB_CLASSES_MIN_K:
                jobs.append((_klucb_classes, args + (c, gap_half, none, none)))
            elif learner.name == "kl-ucb":
                jobs.append((_klucb, args + (c, none)))
            elif learner.name == "thompson":
                jobs.append((_thompson, args))
            elif learner.name == "uniform":
                jobs.append((_uniform, args))
            else:
                cls = mu.shape[1] >= OUTCOME_CLASSES_MIN_M and ucb1_classes_exact(
                    mu[r], np.arange(mu.shape[1]), bern, T, alpha, min_k=0)
                jobs.append((_outcome_ucb, args[:3] + (cdf[r],) + args[3:] + (alpha, cls,
                                                                                  none)))
    if threads <= 1 or len(jobs) == 1:
        for fn, args in jobs:
            fn(*args)
        return
    for fn, args in {id(fn): (fn, args) for fn, args in jobs}.values():
        fn.compile(tuple(nb.typeof(a) for a in args))  # once, before the threads start
    with ThreadPoolExecutor(min(threads, len(jobs))) as pool:
        for f in [pool.submit(fn, *args) for fn, args in jobs]:
            f.result()


def base_cdf(p0: np.ndarray) -> np.ndarray:
    """Cumulative ``p0`` for :func:`~obandits.nbrng.categorical_cdf`, ending at exactly 1.0 from
    the last arm of positive mass on: so arms of zero mass after it are never drawn (forcing
    only the last entry to 1.0 gave a trailing zero-mass arm the rounding residue)."""
    cdf = np.cumsum(p0)
    cdf[np.flatnonzero(p0 > 0)[-1]:] = 1.0
    return cdf


def run_learner(learner: LearnerConfig, instances: list[BanditInstance], T: int,
                ckpt: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Pseudo-regret ``(n_reps, len(ckpt))``: repetition ``i`` runs ``learner`` on
    ``instances[i]`` (one shared instance is fine too: pass it ``n_reps`` times) from the
    xoshiro state ``states[i]``."""
    if not isinstance(learner, LearnerConfig):
        raise ValueError(f"learner must be a LearnerConfig, got {learner!r}")
    T = v.int_scalar("T", T, min_value=1)
    ckpt = v.int_array("ckpt", ckpt, min_value=1)
    if len(ckpt) == 0 or (np.diff(ckpt) <= 0).any() or ckpt[-1] > T:
        raise ValueError(f"ckpt must be strictly increasing times in 1..T={T}, got {ckpt}")
    states = np.ascontiguousarray(states, dtype=np.uint64)
    if states.ndim != 2 or states.shape[1] != 4 or states.shape[0] != len(instances):
        raise ValueError(f"states must have shape ({len(instances)}, 4), got {states.shape}")
    inst0 = instances[0]
    for inst in instances:
        if not isinstance(inst, BanditInstance):
            raise ValueError(f"instances must be BanditInstance, got {type(inst).__name__}")
        if (inst.K, inst.m, inst.reward) != (inst0.K, inst0.m, inst0.reward):
            raise ValueError("all instances of one run must share K, m and reward")
    phi = np.stack([i.phi for i in instances])
    mu = np.stack([i.mu for i in instances])
    if learner.outcome_level:  # only the outcome level draws from p0 (0.8 ms at K=4096)
        cdf = np.stack([base_cdf(i.base) for i in instances])
    else:
        cdf = np.ones((len(instances), 1))
    out = np.zeros((len(instances), len(ckpt)))
    _run_reps(learner, phi, mu, cdf, inst0.reward == "bernoulli", T, ckpt, states, out,
              nb.get_num_threads())
    return out
