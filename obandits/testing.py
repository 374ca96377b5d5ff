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
history count ``N(x, a_i)`` the bonus reads; rewards are 0/1 (verifiable) by default.
Needs ``hypothesis`` (the ``dev`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .bonuses import COUNT_MODES, METHODS, SCALES, BonusConfig, shaped_advantages


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
            equal_group_sizes: bool = True, consistent_counts: bool = True) -> Batch:
    """A batch of ``1..max_groups`` consecutive groups of ``min..max_group_size`` rollouts.

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
        reward = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
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
                  eps: Sequence[float] = (1e-6,)):
    """Valid :class:`BonusConfig` values over the given choices (``c``, ``b0`` drawn)."""
    return st.builds(BonusConfig, method=st.sampled_from(list(methods)),
                     c=st.floats(0.0, 1.0, allow_nan=False), b0=st.floats(0.0, 1.0),
                     all_correct_rule=st.booleans(), count_mode=st.sampled_from(list(count_modes)),
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


def check_advantage_fn(user_fn: Callable[..., Sequence[float]], *,
                       config: BonusConfig | None = None, methods: Sequence[str] = METHODS,
                       scales: Sequence[str] = SCALES, ddofs: Sequence[int] = (0, 1),
                       eps: Sequence[float] = (1e-6,), part: str = "total",
                       atol: float = 1e-5, rtol: float = 1e-5, max_examples: int = 200,
                       random_seed: int = 0, batch_strategy=None) -> CheckReport:
    """Check ``user_fn(group, outcome, reward, count, config) -> advantages`` against
    :func:`obandits.bonuses.shaped_advantages` (``part``: ``total``, ``grpo`` or ``bonus``).

    With ``config`` fixed only batches vary; otherwise configs are drawn over ``methods``,
    ``scales``, ``ddofs`` and ``eps``. On disagreement raises :class:`AdvantageMismatch` whose
    message shows the smallest failing batch hypothesis found, the config, and both answers.
    Returns a :class:`CheckReport` when every example agrees. Reproducible from ``random_seed``.
    """
    if not callable(user_fn):
        raise ValueError(f"user_fn must be callable, got {user_fn!r}")
    if part not in ("total", "grpo", "bonus"):
        raise ValueError(f"part must be 'total', 'grpo' or 'bonus', got {part!r}")
    if config is not None and not isinstance(config, BonusConfig):
        raise ValueError(f"config must be a BonusConfig or None, got {config!r}")
    cfgs = st.just(config) if config is not None else bonus_configs(
        methods=methods, scales=scales, ddofs=ddofs, eps=eps)
    bs = batch_strategy if batch_strategy is not None else batches()
    failures: list[tuple] = []
    worst = [0.0, 0]

    @seed(random_seed)
    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow], print_blob=False)
    @given(batch=bs, cfg=cfgs)
    def prop(batch: Batch, cfg: BonusConfig):
        exp = getattr(shaped_advantages(batch.group, batch.outcome, batch.reward, batch.count,
                                        cfg), part)
        got = np.asarray(user_fn(batch.group.copy(), batch.outcome.copy(), batch.reward.copy(),
                                 batch.count.copy(), cfg), dtype=np.float64).reshape(-1)
        ok = got.shape == exp.shape and np.allclose(got, exp, atol=atol, rtol=rtol)
        if not ok:
            failures.append((batch, cfg, exp, got))  # hypothesis replays the minimal one last
        worst[0] = max(worst[0], float(np.abs(got - exp).max()) if ok and len(exp) else 0.0)
        worst[1] += 1
        assert ok

    try:
        prop()
    except AssertionError:
        if not failures:
            raise
        batch, cfg, exp, got = failures[-1]
        msg = (f"advantage function {getattr(user_fn, '__name__', user_fn)!r} disagrees with "
               f"obandits.bonuses.shaped_advantages ({part}) on the smallest failing batch:\n"
               f"  {batch!r}\n  config: {cfg!r}\n  expected: {np.round(exp, 6).tolist()}\n"
               f"  got:      {np.round(got, 6).tolist()}")
        raise AdvantageMismatch(msg, batch, cfg, exp, got) from None
    return CheckReport(examples=worst[1], max_abs_error=worst[0])
