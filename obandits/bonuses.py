"""GRPO advantages and the outcome-based exploration bonuses (Spec 1, sections 1-2).

Everything works on flat per-sample arrays:

* ``group``   -- non-negative integer id of the rollout group a sample belongs to;
* ``outcome`` -- integer id of the sample's final answer (ids only need to be equal for equal
  answers; the LLM bridge maps answers to ids with :mod:`obandits.counts`);
* ``reward``  -- the verifiable reward, finite;
* ``count``   -- ``N(x, a_i)``, the history count of the sample's (prompt, answer) pair, as
  looked up by the caller (by default *before* the batch, Spec 1 §2; see
  :func:`advantages_with_history` for the bookkeeping).

Two implementations of each formula exist on purpose, and only these two: a vectorised NumPy
reference (``backend="numpy"``) that the tests read like the spec, and the Numba kernel
:func:`shaped_advantages_nb` (``backend="numba"``, the default) that simulators call from their
own compiled loops. A test checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from . import _validate as v

METHODS = ("none", "ucb", "ucb-mean", "ucb-con", "batch")
SCALES = ("group", "none", "batch")
COUNT_MODES = ("before", "after")

# Integer codes used inside compiled kernels.
M_NONE, M_UCB, M_UCB_MEAN, M_UCB_CON, M_BATCH = range(5)
S_GROUP, S_NONE, S_BATCH = range(3)
METHOD_CODE = {m: i for i, m in enumerate(METHODS)}
SCALE_CODE = {s: i for i, s in enumerate(SCALES)}


@dataclass(frozen=True)
class BonusConfig:
    """Validated configuration of advantage shaping (Spec 1 §1-2).

    Attributes:
        method: ``none`` (plain GRPO), ``ucb`` (naive UCB), ``ucb-mean``, ``ucb-con``, ``batch``.
        c: bonus scale, ``c >= 0`` (paper: 0.2).
        b0: UCB-Con baseline in [0, 1] (paper: 1 on MATH, 0.5 on DAPO).
        all_correct_rule: zero every bonus of a group whose rollouts are all correct.
        correct_threshold: a sample counts as correct when ``reward >= correct_threshold``
            **(ours)**; 1.0 matches 0/1 verifiable rewards.
        count_mode: ``before`` -- the bonus uses counts from before this batch (default,
            **ours**); ``after`` -- the batch is counted in first.
        scale: GRPO normalisation: ``group`` std (default), ``none`` (Dr. GRPO), ``batch`` std.
        eps: added to the std in the denominator (default 1e-6).
        ddof: degrees of freedom of the std (0: population std, default **ours**; 1: as TRL).
    """

    method: str = "none"
    c: float = 0.2
    b0: float = 0.5
    all_correct_rule: bool = True
    correct_threshold: float = 1.0
    count_mode: str = "before"
    scale: str = "group"
    eps: float = 1e-6
    ddof: int = 0

    def __post_init__(self) -> None:
        v.choice("method", self.method, METHODS)
        fix = object.__setattr__  # frozen: store the validated, converted values
        fix(self, "c", v.finite_scalar("c", self.c, min_value=0.0))
        fix(self, "b0", v.finite_scalar("b0", self.b0, min_value=0.0, max_value=1.0))
        if not isinstance(self.all_correct_rule, (bool, np.bool_)):
            raise ValueError(f"all_correct_rule must be a bool, got {self.all_correct_rule!r}")
        fix(self, "correct_threshold",
            v.finite_scalar("correct_threshold", self.correct_threshold))
        v.choice("count_mode", self.count_mode, COUNT_MODES)
        v.choice("scale", self.scale, SCALES)
        fix(self, "eps", v.finite_scalar("eps", self.eps, min_value=0.0, strict_min=True))
        fix(self, "ddof", v.int_scalar("ddof", self.ddof, min_value=0, max_value=1))

    @property
    def method_code(self) -> int:
        return METHOD_CODE[self.method]

    @property
    def scale_code(self) -> int:
        return SCALE_CODE[self.scale]


class Advantages(NamedTuple):
    """Per-sample ``total = grpo + bonus``; the parts let a caller mask the bonus on answer
    tokens (Spec 1 §2, answer-token masking)."""

    total: np.ndarray
    grpo: np.ndarray
    bonus: np.ndarray


# --------------------------------------------------------------------------------------------
# Validation shared by both backends
# --------------------------------------------------------------------------------------------


# The std squares centred rewards: beyond ~1e154 the squares overflow and the advantages would
# silently be 0 (std = inf) or NaN (inf / inf). 1e150 leaves room for sums over 10^8 samples.
MAX_ABS_REWARD = 1e150


def _check_reward(reward) -> np.ndarray:
    reward = v.float_array("reward", reward)
    if reward.size and np.abs(reward).max() > MAX_ABS_REWARD:
        bad = reward[np.abs(reward) > MAX_ABS_REWARD][0]
        raise ValueError(f"reward must lie in [-{MAX_ABS_REWARD:g}, {MAX_ABS_REWARD:g}] (the "
                         f"std's squares would overflow float64), got {bad:g}; rescale rewards")
    return reward


def _check_samples(group, outcome, reward, count):
    group = v.int_array("group", group, min_value=0)
    outcome = v.int_array("outcome", outcome)
    reward = _check_reward(reward)
    count = v.float_array("count", count, min_value=0.0)
    v.same_length(group=group, outcome=outcome, reward=reward, count=count)
    return group, outcome, reward, count


def _dense_groups(group: np.ndarray) -> tuple[np.ndarray, int]:
    """Group ids as given when they are compact, else relabelled 0..G-1 (order preserved)."""
    n_groups = int(group.max()) + 1
    if n_groups > 4 * len(group) + 16:  # sparse ids would waste memory in per-group arrays
        uniq, group = np.unique(group, return_inverse=True)
        n_groups = len(uniq)
    return group, n_groups


# --------------------------------------------------------------------------------------------
# NumPy reference
# --------------------------------------------------------------------------------------------


def ucb_term(count) -> np.ndarray:
    """``b_ucb = min{1, sqrt(1/N)}`` (Spec 1 §2), with ``N = 0`` giving 1."""
    n = v.float_array("count", count, ndim=None, min_value=0.0)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.sqrt(1.0 / np.maximum(n, 0.0)))


def _grpo_numpy(group, reward, n_groups, scale, eps, ddof):
    size = np.bincount(group, minlength=n_groups).astype(np.float64)
    mean = np.bincount(group, weights=reward, minlength=n_groups) / np.maximum(size, 1.0)
    centred = reward - mean[group]
    if scale == "none":
        return centred
    if scale == "batch":
        n = len(reward)
        std = np.sqrt((centred**2).sum() / (n - ddof)) if n > ddof else 0.0
        return centred / (std + eps)
    ss = np.bincount(group, weights=centred**2, minlength=n_groups)
    denom = size - ddof
    std = np.sqrt(np.divide(ss, denom, out=np.zeros_like(ss), where=denom > 0))
    return centred / (std[group] + eps)


def grpo_advantages(group, reward, *, scale: str = "group", eps: float = 1e-6,
                    ddof: int = 0) -> np.ndarray:
    """GRPO advantage ``Â_i = (r_i - mean_g r) / (std_g r + eps)`` (Spec 1 §1).

    ``scale="none"`` drops the std (Dr. GRPO); ``scale="batch"`` centres per group and divides by
    the std of the whole batch's centred rewards. A group of one sample gets advantage 0.
    """
    cfg = BonusConfig(scale=scale, eps=eps, ddof=ddof)
    group = v.int_array("group", group, min_value=0)
    reward = _check_reward(reward)
    v.same_length(group=group, reward=reward)
    group, n_groups = _dense_groups(group)
    return _grpo_numpy(group, reward, n_groups, cfg.scale, cfg.eps, cfg.ddof)


def _batch_dup_counts(group: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """For each sample, how many samples of its group share its outcome (itself included)."""
    order = np.lexsort((outcome, group))
    g, o = group[order], outcome[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (g[1:] != g[:-1]) | (o[1:] != o[:-1])
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id)
    out = np.empty(len(order), dtype=np.int64)
    out[order] = run_len[run_id]
    return out


def _bonus_numpy(group, outcome, reward, count, n_groups, cfg: BonusConfig) -> np.ndarray:
    if cfg.method == "none" or cfg.c == 0.0:
        return np.zeros(len(group))
    size = np.bincount(group, minlength=n_groups).astype(np.float64)
    if cfg.method == "batch":
        b = -(_batch_dup_counts(group, outcome) - 1) / size[group]
    else:
        u = ucb_term(count)
        if cfg.method == "ucb":
            b = u
        elif cfg.method == "ucb-mean":
            b = u - (np.bincount(group, weights=u, minlength=n_groups) / np.maximum(size, 1))[group]
        else:  # ucb-con
            b = u - cfg.b0
    b = cfg.c * b
    if cfg.all_correct_rule:
        wrong = np.bincount(group, weights=(reward < cfg.correct_threshold).astype(np.float64),
                            minlength=n_groups)
        b = np.where(wrong[group] == 0, 0.0, b)
    return b


def exploration_bonus(group, outcome, reward, count, config: BonusConfig | None = None,
                      **overrides) -> np.ndarray:
    """The bonus ``B_i`` of Spec 1 §2 (NumPy reference).

    naive UCB ``c b_ucb(a_i)``; UCB-Mean ``c (b_ucb(a_i) - mean_g b_ucb)``; UCB-Con
    ``c (b_ucb(a_i) - b0)``; Batch ``-(c/n) sum_{j != i} 1{a_i = a_j}``; zero for a group whose
    samples are all correct when the all-correct rule is on.
    """
    cfg = _config(config, overrides)
    group, outcome, reward, count = _check_samples(group, outcome, reward, count)
    group, n_groups = _dense_groups(group)
    return _bonus_numpy(group, outcome, reward, count, n_groups, cfg)


def _config(config: BonusConfig | None, overrides: dict) -> BonusConfig:
    if config is None:
        return BonusConfig(**overrides)
    if not isinstance(config, BonusConfig):
        raise ValueError(f"config must be a BonusConfig, got {type(config).__name__}")
    if overrides:
        from dataclasses import replace

        return replace(config, **overrides)
    return config


def shaped_advantages(group, outcome, reward, count, config: BonusConfig | None = None, *,
                      backend: str = "numba", **overrides) -> Advantages:
    """``A_i = Â_i + B_i`` (Spec 1 §2): GRPO advantage plus the exploration bonus added after
    normalisation. ``backend`` is ``numba`` (the compiled kernel) or ``numpy`` (the reference).
    """
    cfg = _config(config, overrides)
    v.choice("backend", backend, ("numba", "numpy"))
    group, outcome, reward, count = _check_samples(group, outcome, reward, count)
    group, n_groups = _dense_groups(group)
    if backend == "numpy":
        grpo = _grpo_numpy(group, reward, n_groups, cfg.scale, cfg.eps, cfg.ddof)
        bonus = _bonus_numpy(group, outcome, reward, count, n_groups, cfg)
        return Advantages(grpo + bonus, grpo, bonus)
    n = len(group)
    total, grpo, bonus = np.empty(n), np.empty(n), np.empty(n)
    shaped_advantages_nb(group, outcome, reward, count, n_groups, cfg.method_code, cfg.c,
                         cfg.b0, cfg.all_correct_rule, cfg.correct_threshold, cfg.scale_code,
                         cfg.eps, cfg.ddof, total, grpo, bonus)
    return Advantages(total, grpo, bonus)


# --------------------------------------------------------------------------------------------
# Numba kernel (what simulators call inside their compiled loops)
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _batch_bonus_nb(group, outcome, n_groups, size, skip, c, out_bonus):
    """Batch bonus ``-(c/n) (dups - 1)``: samples gathered per group by a counting sort."""
    n = group.shape[0]
    start = np.empty(n_groups + 1, np.int64)
    fill = np.empty(n_groups, np.int64)
    start[0] = 0
    for g in range(n_groups):
        fill[g] = start[g]
        start[g + 1] = start[g] + size[g]
    order = np.empty(n, np.int64)
    keys = np.empty(0, np.int64)  # hash table for groups above 32, allocated on first use
    dups = np.empty(0, np.int64)
    used = np.empty(0, np.bool_)
    for i in range(n):
        g = group[i]
        order[fill[g]] = i
        fill[g] += 1
    for g in range(n_groups):
        s, e = start[g], start[g + 1]
        m = e - s
        if m == 0 or skip[g]:
            continue
        if m <= 32:  # small groups: pairwise comparison beats hashing
            for j in range(s, e):
                a = outcome[order[j]]
                dup = 0
                for k in range(s, e):
                    if outcome[order[k]] == a:
                        dup += 1
                out_bonus[order[j]] = -c * (dup - 1) / m
        else:  # larger groups: duplicates counted in an open-addressing hash table
            if keys.shape[0] == 0:
                cap = 64
                while cap < 2 * n:
                    cap *= 2
                keys = np.empty(cap, np.int64)
                dups = np.empty(cap, np.int64)
                used = np.empty(cap, np.bool_)
            cap = 64
            while cap < 2 * m:
                cap *= 2
            mask = cap - 1
            for h in range(cap):
                used[h] = False
            for j in range(s, e):
                h = _slot(keys, used, mask, outcome[order[j]])
                if used[h]:
                    dups[h] += 1
                else:
                    used[h] = True
                    keys[h] = outcome[order[j]]
                    dups[h] = 1
            for j in range(s, e):
                h = _slot(keys, used, mask, outcome[order[j]])
                out_bonus[order[j]] = -c * (dups[h] - 1) / m


@nb.njit(cache=True, nogil=True)
def _slot(keys, used, mask, x):
    """Slot of key ``x`` (linear probing; a free slot when absent). Hand-written: the
    ``np.argsort`` this replaces cost about a second of compilation."""
    h = ((x * -7046029254386353131) >> 29) & mask  # Fibonacci hashing (odd 64-bit constant)
    while used[h] and keys[h] != x:
        h = (h + 1) & mask
    return h


@nb.njit(cache=True, nogil=True)
def shaped_advantages_nb(group, outcome, reward, count, n_groups, method, c, b0,
                         all_correct_rule, correct_threshold, scale, eps, ddof,
                         out_total, out_grpo, out_bonus):
    """Compiled ``A_i = Â_i + B_i`` over flat arrays (Spec 1 §1-2); no validation.

    ``group`` must hold ids in ``[0, n_groups)``; ``method`` and ``scale`` are the integer codes
    ``M_*`` / ``S_*`` of this module. Writes the three output arrays in place. Per-group
    statistics are accumulated in streaming passes over the samples (no gather), which is what
    makes it faster than the NumPy reference on shuffled groups.
    """
    shaped_parts_nb(group, outcome, reward, count, n_groups, method, c, b0, all_correct_rule,
                    correct_threshold, scale, eps, ddof, out_total, out_grpo, out_bonus,
                    True, True)


def kernel_parts(method_code: int, c: float) -> tuple:
    """``(bonus_on, batch_on)`` for :func:`shaped_parts_nb`: ``None`` where the part is not
    needed, so that kernels calling it compile only the parts a run uses (cold start)."""
    if method_code == M_NONE or c == 0.0:
        return None, None
    return True, (True if method_code == M_BATCH else None)


@nb.njit(cache=True, nogil=True)
def shaped_parts_nb(group, outcome, reward, count, n_groups, method, c, b0,
                    all_correct_rule, correct_threshold, scale, eps, ddof,
                    out_total, out_grpo, out_bonus, bonus_on, batch_on):
    """:func:`shaped_advantages_nb` with ``bonus_on`` / ``batch_on`` each ``None`` or ``True``
    (see :func:`kernel_parts`): Numba prunes the branches behind a ``None`` at compile time,
    so the bonus code (``bonus_on``) and the Batch bonus's sort (``batch_on``) compile only
    where used. A method that needs a pruned part raises ``ValueError``.
    """
    n = group.shape[0]
    size = np.zeros(n_groups, np.int64)
    mean = np.zeros(n_groups)
    wrong = np.zeros(n_groups, np.int64)
    for i in range(n):
        g = group[i]
        size[g] += 1
        mean[g] += reward[i]
        if reward[i] < correct_threshold:
            wrong[g] += 1
    for g in range(n_groups):
        if size[g] > 0:
            mean[g] /= size[g]
    # GRPO part: centre, then scale by the group or batch std.
    ss = np.zeros(n_groups)
    batch_ss = 0.0
    for i in range(n):
        d = reward[i] - mean[group[i]]
        out_grpo[i] = d
        ss[group[i]] += d * d
        batch_ss += d * d
    if scale == S_GROUP:
        for g in range(n_groups):
            ss[g] = 1.0 / ((np.sqrt(ss[g] / (size[g] - ddof)) if size[g] > ddof else 0.0) + eps)
        for i in range(n):
            out_grpo[i] *= ss[group[i]]
    elif scale == S_BATCH:
        inv = 1.0 / ((np.sqrt(batch_ss / (n - ddof)) if n > ddof else 0.0) + eps)
        for i in range(n):
            out_grpo[i] *= inv
    # Bonus part; skip[g] marks groups the all-correct rule silences.
    for i in range(n):
        out_bonus[i] = 0.0
    if bonus_on is not None:
        if method != M_NONE and c != 0.0:
            skip = np.zeros(n_groups, np.bool_)
            if all_correct_rule:
                for g in range(n_groups):
                    skip[g] = wrong[g] == 0
            if method == M_BATCH:
                if batch_on is not None:
                    _batch_bonus_nb(group, outcome, n_groups, size, skip, c, out_bonus)
                else:
                    raise ValueError("shaped_parts_nb: method Batch with batch_on=None")
            else:
                base = np.empty(n_groups)
                for g in range(n_groups):
                    base[g] = b0 if method == M_UCB_CON else 0.0
                for i in range(n):
                    u = 1.0 if count[i] <= 1.0 else np.sqrt(1.0 / count[i])
                    out_bonus[i] = u
                    if method == M_UCB_MEAN:
                        base[group[i]] += u
                if method == M_UCB_MEAN:
                    for g in range(n_groups):
                        if size[g] > 0:
                            base[g] /= size[g]
                for i in range(n):
                    g = group[i]
                    out_bonus[i] = 0.0 if skip[g] else c * (out_bonus[i] - base[g])
    elif method != M_NONE and c != 0.0:
        raise ValueError("shaped_parts_nb: a bonus method with bonus_on=None")
    for i in range(n):
        out_total[i] = out_grpo[i] + out_bonus[i]


# --------------------------------------------------------------------------------------------
# Bookkeeping with a history of counts
# --------------------------------------------------------------------------------------------


def advantages_with_history(table, prompt, group, outcome, reward,
                            config: BonusConfig | None = None, *, backend: str = "numba",
                            **overrides) -> Advantages:
    """Look up ``N(x_i, a_i)`` in ``table`` (a :class:`obandits.counts.CountTable`), compute the
    shaped advantages, and record the batch in the table.

    With ``count_mode="before"`` (default) the bonus sees the counts from before this batch and
    the batch is added afterwards; with ``"after"`` the batch is added first (Spec 1 §2).
    """
    cfg = _config(config, overrides)
    prompt = v.int_array("prompt", prompt, min_value=0)
    group = v.int_array("group", group, min_value=0)
    outcome = v.int_array("outcome", outcome, min_value=0)
    reward = _check_reward(reward)
    v.same_length(prompt=prompt, group=group, outcome=outcome, reward=reward)
    # Everything is validated before the table changes, so a bad batch is never counted.
    if cfg.count_mode == "after":
        table.update(prompt, outcome)
    count = table.lookup(prompt, outcome)
    adv = shaped_advantages(group, outcome, reward, count, cfg, backend=backend)
    if cfg.count_mode == "before":
        table.update(prompt, outcome)
    return adv
