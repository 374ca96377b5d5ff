"""Property-test your own advantage code against :mod:`obandits.bonuses` (Spec 1 §1-2).

Public hypothesis strategies for rollout batches and bonus configurations, and one call,
:func:`check_advantage_fn`, that runs a user's advantage function on generated batches and
reports the smallest batch on which it disagrees with :func:`obandits.bonuses.shaped_advantages`::

    from obandits.testing import check_advantage_fn

    def my_advantages(group, outcome, reward, count, config):
        ...                                 # e.g. a wrapper around a verl estimator
        return advantages                   # one float per sample

    check_advantage_fn(my_advantages, methods=("ucb-con",))   # raises AdvantageMismatch

Batches use *consecutive* groups (rows of one prompt together, as TRL and verl lay them out)
with ids 0..G-1; ``outcome`` ids are small integers so repeats are frequent; ``count`` is the
history count ``N(x, a_i)`` the bonus reads; rewards are drawn from {0, 0.5, 1} by default (0/1
verifiable rewards plus partial credit, so that ``correct_threshold`` decides something).

Before the random examples, :func:`check_advantage_fn` runs a fixed corpus of small batches
(:func:`edge_cases`) that separates each known way of getting the formulas wrong (all-correct
rule ignored or inverted, ``correct_threshold`` ignored, UCB-Con's ``b0`` lost, a one-count or
zero-count ``b_ucb`` off, Batch's ``1/n``, the std's ``ddof``/``eps``), so these are caught on
every run whatever the seed; a failure is reported on the smallest failing batch found by
either. ``count_mode`` has no effect on a function that is given the counts: functions that
keep their own history are checked over a sequence of batches by :func:`check_history_fn`.
Needs ``hypothesis`` (the ``dev`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .bonuses import (
    COUNT_MODES,
    METHODS,
    SCALES,
    BonusConfig,
    advantages_with_history,
    shaped_advantages,
)

REWARD_VALUES = (0.0, 0.5, 1.0)
THRESHOLDS = (1.0, 0.5)


@dataclass(frozen=True)
class Batch:
    """Flat per-sample arrays of one batch (the arguments of ``shaped_advantages``)."""

    group: np.ndarray
    outcome: np.ndarray
    reward: np.ndarray
    count: np.ndarray

    def __repr__(self) -> str:
        return (f"Batch(group={self.group.tolist()}, outcome={self.outcome.tolist()}, "
                f"reward={self.reward.tolist()}, count={self.count.tolist()})")


@st.composite
def batches(draw, *, max_groups: int = 5, min_group_size: int = 2, max_group_size: int = 8,
            max_outcomes: int = 4, max_count: int = 20, binary_rewards: bool = True,
            equal_group_sizes: bool = True, consistent_counts: bool = True,
            reward_values: Sequence[float] = REWARD_VALUES) -> Batch:
    """A batch of ``1..max_groups`` consecutive groups of ``min..max_group_size`` rollouts.

    ``binary_rewards`` (default) draws rewards from ``reward_values`` (default 0, 0.5, 1);
    otherwise any float in [-1, 1].

    ``equal_group_sizes`` (default) gives every group the same size, as TRL and verl do;
    ``consistent_counts`` (default) draws one count per (group, outcome) pair, since
    ``N(x, a)`` is a function of the pair (code keeping its own history needs this).
    """
    n_groups = draw(st.integers(1, max_groups))
    if equal_group_sizes:
        sizes = [draw(st.integers(min_group_size, max_group_size))] * n_groups
    else:
        sizes = draw(st.lists(st.integers(min_group_size, max_group_size), min_size=n_groups,
                              max_size=n_groups))
    n = sum(sizes)
    group = np.repeat(np.arange(n_groups), sizes)
    outcome = np.array(draw(st.lists(st.integers(0, max_outcomes - 1), min_size=n, max_size=n)))
    if binary_rewards:
        reward = np.array(draw(st.lists(st.sampled_from(list(reward_values)), min_size=n,
                                        max_size=n)))
    else:
        reward = np.array(draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=n,
                                        max_size=n)))
    if consistent_counts:
        table = np.array(draw(st.lists(st.integers(0, max_count), min_size=n_groups * max_outcomes,
                                       max_size=n_groups * max_outcomes)))
        count = table.reshape(n_groups, max_outcomes)[group, outcome]
    else:
        count = np.array(draw(st.lists(st.integers(0, max_count), min_size=n, max_size=n)))
    return Batch(group, outcome.astype(np.int64), reward.astype(np.float64), count)


def bonus_configs(*, methods: Sequence[str] = METHODS, scales: Sequence[str] = SCALES,
                  count_modes: Sequence[str] = COUNT_MODES, ddofs: Sequence[int] = (0, 1),
                  eps: Sequence[float] = (1e-6,), thresholds: Sequence[float] = THRESHOLDS):
    """Valid :class:`BonusConfig` values over the given choices (``c``, ``b0`` drawn)."""
    return st.builds(BonusConfig, method=st.sampled_from(list(methods)),
                     c=st.floats(0.0, 1.0, allow_nan=False), b0=st.floats(0.0, 1.0),
                     all_correct_rule=st.booleans(), count_mode=st.sampled_from(list(count_modes)),
                     correct_threshold=st.sampled_from(list(thresholds)),
                     scale=st.sampled_from(list(scales)), ddof=st.sampled_from(list(ddofs)),
                     eps=st.sampled_from(list(eps)))


class AdvantageMismatch(AssertionError):
    """A user advantage function disagrees with obandits; carries the smallest failing case."""

    def __init__(self, message: str, batch: Batch, config: BonusConfig, expected, got):
        super().__init__(message)
        self.batch, self.config, self.expected, self.got = batch, config, expected, got


@dataclass(frozen=True)
class CheckReport:
    examples: int
    max_abs_error: float


def _b(group, outcome, reward, count) -> Batch:
    return Batch(np.asarray(group, np.int64), np.asarray(outcome, np.int64),
                 np.asarray(reward, np.float64), np.asarray(count, np.int64))


# Small batches, smallest first, each separating at least one wrong formula from the right one.
EDGE_BATCHES = (
    _b([0, 0], [0, 1], [0.0, 0.0], [0, 5]),      # all wrong: b_ucb 1 vs 1/sqrt(5); b0 shows
    _b([0, 0], [0, 1], [1.0, 1.0], [0, 4]),      # all correct, distinct answers
    _b([0, 0], [0, 0], [1.0, 1.0], [3, 3]),      # all correct, one answer (Batch's duplicates)
    _b([0, 0], [0, 1], [1.0, 0.5], [1, 4]),      # partial credit: correct only at threshold 0.5
    _b([0, 0], [0, 0], [0.5, 0.5], [2, 2]),      # partial credit, one answer
    _b([0, 0], [0, 0], [1.0, 0.0], [1, 1]),      # mixed, duplicates: -(c/n) with n = 2
    _b([0, 0, 0], [0, 0, 1], [1.0, 0.0, 0.0], [1, 1, 0]),     # n = 3; ddof shows in the std
    _b([0, 0, 1, 1], [0, 1, 0, 0], [1.0, 0.0, 1.0, 1.0], [2, 0, 5, 5]),  # two groups
)


def edge_cases(*, config: BonusConfig | None = None, methods: Sequence[str] = METHODS,
               scales: Sequence[str] = SCALES, ddofs: Sequence[int] = (0, 1),
               eps: Sequence[float] = (1e-6,), thresholds: Sequence[float] = THRESHOLDS):
    """``(batch, config)`` pairs of the fixed corpus :func:`check_advantage_fn` runs first:
    :data:`EDGE_BATCHES` under ``config``, or under every allowed method, scale, ddof, the
    all-correct rule on and off, and each threshold (``c = 0.2``, ``b0 = 0.5``, ``eps[0]``)."""
    if config is not None:
        cfgs = [config]
    else:
        cfgs = [BonusConfig(method=m, c=0.2, b0=0.5, all_correct_rule=rule,
                            correct_threshold=t, scale=sc, ddof=d, eps=eps[0])
                for m in methods for sc in scales for d in ddofs for rule in (True, False)
                for t in thresholds]
    return [(b, cfg) for b in EDGE_BATCHES for cfg in cfgs]


def _size(batch: Batch) -> tuple:
    return (len(batch.group), int(batch.group.max()) + 1 if len(batch.group) else 0,
            int(np.abs(batch.count).sum()), int(np.abs(batch.outcome).sum()))


def _compare(user_fn, batch: Batch, cfg: BonusConfig, part: str, atol: float, rtol: float):
    exp = getattr(shaped_advantages(batch.group, batch.outcome, batch.reward, batch.count,
                                    cfg), part)
    got = np.asarray(user_fn(batch.group.copy(), batch.outcome.copy(), batch.reward.copy(),
                             batch.count.copy(), cfg), dtype=np.float64).reshape(-1)
    ok = got.shape == exp.shape and np.allclose(got, exp, atol=atol, rtol=rtol)
    return ok, exp, got


def _mismatch(user_fn, what: str, failures: list) -> AdvantageMismatch:
    batch, cfg, exp, got = min(failures, key=lambda f: _size(f[0]))
    msg = (f"advantage function {getattr(user_fn, '__name__', user_fn)!r} disagrees with "
           f"obandits.bonuses.{what} on the smallest failing batch:\n"
           f"  {batch!r}\n  config: {cfg!r}\n  expected: {np.round(exp, 6).tolist()}\n"
           f"  got:      {np.round(got, 6).tolist()}")
    return AdvantageMismatch(msg, batch, cfg, exp, got)


def check_advantage_fn(user_fn: Callable[..., Sequence[float]], *,
                       config: BonusConfig | None = None, methods: Sequence[str] = METHODS,
                       scales: Sequence[str] = SCALES, ddofs: Sequence[int] = (0, 1),
                       eps: Sequence[float] = (1e-6,), part: str = "total",
                       atol: float = 1e-5, rtol: float = 1e-5, max_examples: int = 200,
                       random_seed: int = 0, batch_strategy=None,
                       thresholds: Sequence[float] = THRESHOLDS,
                       edge: bool = True) -> CheckReport:
    """Check ``user_fn(group, outcome, reward, count, config) -> advantages`` against
    :func:`obandits.bonuses.shaped_advantages` (``part``: ``total``, ``grpo`` or ``bonus``).

    First the fixed corpus of :func:`edge_cases` (``edge``), then ``max_examples`` hypothesis
    examples: with ``config`` fixed only batches vary; otherwise configs are drawn over
    ``methods``, ``scales``, ``ddofs``, ``eps`` and ``thresholds`` (``count_mode`` is fixed:
    the counts are given; see :func:`check_history_fn`). On disagreement raises
    :class:`AdvantageMismatch` whose message shows the smallest failing batch of both stages
    (hypothesis shrinks its own), the config, and both answers. Returns a
    :class:`CheckReport` when every example agrees. Reproducible from ``random_seed``.
    """
    if not callable(user_fn):
        raise ValueError(f"user_fn must be callable, got {user_fn!r}")
    if part not in ("total", "grpo", "bonus"):
        raise ValueError(f"part must be 'total', 'grpo' or 'bonus', got {part!r}")
    if config is not None and not isinstance(config, BonusConfig):
        raise ValueError(f"config must be a BonusConfig or None, got {config!r}")
    failures: list[tuple] = []
    worst = [0.0, 0]
    if edge:
        for batch, cfg in edge_cases(config=config, methods=methods, scales=scales, ddofs=ddofs,
                                     eps=eps, thresholds=thresholds):
            ok, exp, got = _compare(user_fn, batch, cfg, part, atol, rtol)
            worst[1] += 1
            if not ok:
                failures.append((batch, cfg, exp, got))
            elif len(exp):
                worst[0] = max(worst[0], float(np.abs(got - exp).max()))
    if failures and _size(min(failures, key=lambda f: _size(f[0]))[0])[0] <= 2:
        raise _mismatch(user_fn, f"shaped_advantages ({part})", failures)  # none is smaller
    cfgs = st.just(config) if config is not None else bonus_configs(
        methods=methods, scales=scales, ddofs=ddofs, eps=eps, count_modes=("before",),
        thresholds=thresholds)
    bs = batch_strategy if batch_strategy is not None else batches()
    found: list[tuple] = []

    @seed(random_seed)
    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow], print_blob=False,
              report_multiple_bugs=False)
    @given(batch=bs, cfg=cfgs)
    def prop(batch: Batch, cfg: BonusConfig):
        ok, exp, got = _compare(user_fn, batch, cfg, part, atol, rtol)
        if not ok:
            found.append((batch, cfg, exp, got))
        elif len(exp):
            worst[0] = max(worst[0], float(np.abs(got - exp).max()))
        worst[1] += 1
        assert ok

    try:
        prop()
    except AssertionError:
        if not found:
            raise
    if failures or found:
        raise _mismatch(user_fn, f"shaped_advantages ({part})", failures + found)
    return CheckReport(examples=worst[1], max_abs_error=worst[0])


@st.composite
def histories(draw, *, max_batches: int = 3, max_prompts: int = 3, **batch_kw):
    """A sequence of ``1..max_batches`` batches for code that keeps its own counts: each is
    ``(prompt, batch)`` with one prompt id in ``0..max_prompts-1`` per group (prompts repeat
    across batches, so counts carry over); the batches' ``count`` is not used."""
    out = []
    for _ in range(draw(st.integers(1, max_batches))):
        b = draw(batches(**batch_kw))
        n_groups = int(b.group.max()) + 1
        prompt_of = np.array(draw(st.lists(st.integers(0, max_prompts - 1), min_size=n_groups,
                                           max_size=n_groups)))
        out.append((prompt_of[b.group].astype(np.int64), b))
    return out


EDGE_HISTORIES = (
    # one answer twice, then again with a new one: before / after differ from the first batch
    [(np.array([0, 0]), _b([0, 0], [0, 0], [0.0, 0.0], [0, 0])),
     (np.array([0, 0]), _b([0, 0], [0, 1], [0.0, 0.0], [0, 0]))],
    # two prompts share an outcome id: counts are per (prompt, answer)
    [(np.array([0, 0, 1, 1]), _b([0, 0, 1, 1], [0, 0, 0, 0], [0.0, 0.0, 0.0, 0.0], [0] * 4)),
     (np.array([1, 1]), _b([0, 0], [0, 1], [0.0, 0.0], [0, 0]))],
)


def check_history_fn(make_fn: Callable[[], Callable], *, config: BonusConfig | None = None,
                     methods: Sequence[str] = ("ucb", "ucb-mean", "ucb-con"),
                     count_modes: Sequence[str] = COUNT_MODES, scales: Sequence[str] = SCALES,
                     ddofs: Sequence[int] = (0, 1), eps: Sequence[float] = (1e-6,),
                     part: str = "total", atol: float = 1e-5, rtol: float = 1e-5,
                     max_examples: int = 100, random_seed: int = 0) -> CheckReport:
    """Check code that keeps its own answer counts ``N(x, a)`` over a sequence of batches
    against :func:`obandits.bonuses.advantages_with_history` (Spec 1 §2, ``count_mode``).

    ``make_fn()`` returns a fresh ``fn(prompt, group, outcome, reward, config) ->
    advantages`` with empty counts; it is called on each batch of a sequence in turn. The
    fixed :data:`EDGE_HISTORIES` run first (every method, count mode, scale, ddof), then
    ``max_examples`` hypothesis sequences (:func:`histories`). Raises
    :class:`AdvantageMismatch` on the shortest failing sequence's first failing batch."""
    from .counts import CountTable

    if not callable(make_fn):
        raise ValueError(f"make_fn must be callable, got {make_fn!r}")
    if part not in ("total", "grpo", "bonus"):
        raise ValueError(f"part must be 'total', 'grpo' or 'bonus', got {part!r}")
    worst = [0.0, 0]

    def run(seq, cfg):
        fn, table = make_fn(), CountTable()
        for prompt, b in seq:
            exp = getattr(advantages_with_history(table, prompt, b.group, b.outcome, b.reward,
                                                  cfg), part)
            got = np.asarray(fn(prompt.copy(), b.group.copy(), b.outcome.copy(),
                                b.reward.copy(), cfg), dtype=np.float64).reshape(-1)
            worst[1] += 1
            if got.shape != exp.shape or not np.allclose(got, exp, atol=atol, rtol=rtol):
                return (b, cfg, exp, got)
            if len(exp):
                worst[0] = max(worst[0], float(np.abs(got - exp).max()))
        return None

    cfgs = [config] if config is not None else [
        BonusConfig(method=m, c=0.2, b0=0.5, count_mode=cm, scale=sc, ddof=d, eps=eps[0])
        for m in methods for cm in count_modes for sc in scales for d in ddofs]
    for seq in EDGE_HISTORIES:
        for cfg in cfgs:
            bad = run(seq, cfg)
            if bad:
                raise _mismatch(make_fn, "advantages_with_history (" + part + ")", [bad])
    found: list[tuple] = []
    cfg_st = st.just(config) if config is not None else bonus_configs(
        methods=methods, scales=scales, ddofs=ddofs, eps=eps, count_modes=count_modes)

    @seed(random_seed)
    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow], print_blob=False,
              report_multiple_bugs=False)
    @given(seq=histories(), cfg=cfg_st)
    def prop(seq, cfg):
        bad = run(seq, cfg)
        if bad:
            found.append(bad)
        assert bad is None

    try:
        prop()
    except AssertionError:
        if not found:
            raise
        raise _mismatch(make_fn, "advantages_with_history (" + part + ")", found) from None
    return CheckReport(examples=worst[1], max_abs_error=worst[0])
