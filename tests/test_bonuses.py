"""Spec 1 §1-2: GRPO advantages and the four bonuses, pinned by properties and exact values."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.bonuses import (
    METHODS,
    SCALES,
    BonusConfig,
    advantages_with_history,
    exploration_bonus,
    grpo_advantages,
    shaped_advantages,
    ucb_term,
)
from obandits.counts import CountTable

BACKENDS = ("numpy", "numba")


@st.composite
def batches(draw, max_groups=6, max_size=40, max_outcomes=6):
    """Random flat batches: group ids, outcomes, 0/1 rewards, history counts."""
    sizes = draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_groups))
    group = np.repeat(np.arange(len(sizes)), sizes)
    n = len(group)
    outcome = np.array(draw(st.lists(st.integers(0, max_outcomes - 1), min_size=n, max_size=n)))
    reward = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    count = np.array(draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)))
    perm = np.array(draw(st.permutations(range(n))))  # groups need not be contiguous
    return group[perm], outcome[perm], reward[perm], count[perm]


method_st = st.sampled_from(METHODS)
backend_st = st.sampled_from(BACKENDS)


@settings(max_examples=60, deadline=None)
@given(batches(), method_st, st.sampled_from(SCALES), st.floats(0, 2), st.floats(0, 1))
def test_kernel_equals_numpy_reference(b, method, scale, c, b0):
    g, o, r, n = b
    cfg = BonusConfig(method=method, scale=scale, c=c, b0=b0)
    ref = shaped_advantages(g, o, r, n, cfg, backend="numpy")
    ker = shaped_advantages(g, o, r, n, cfg, backend="numba")
    for a, k in zip(ref, ker):
        np.testing.assert_allclose(k, a, rtol=1e-12, atol=1e-12)


def test_kernel_equals_reference_on_large_groups():
    """Groups above 32 samples take the kernel's sorting path for the Batch bonus."""
    rng = np.random.default_rng(1)
    g = rng.integers(0, 5, 2000)
    o = rng.integers(-3, 30, 2000)
    r = rng.integers(0, 2, 2000).astype(float)
    n = rng.integers(0, 9, 2000)
    for m in METHODS:
        ref = shaped_advantages(g, o, r, n, method=m, backend="numpy")
        ker = shaped_advantages(g, o, r, n, method=m)
        np.testing.assert_allclose(ker.total, ref.total, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batches(max_groups=1), method_st, backend_st, st.data())
def test_permuting_a_group_permutes_its_bonuses(b, method, backend, data):
    g, o, r, n = b
    perm = np.array(data.draw(st.permutations(range(len(g)))))
    a = shaped_advantages(g, o, r, n, method=method, backend=backend)
    p = shaped_advantages(g[perm], o[perm], r[perm], n[perm], method=method, backend=backend)
    np.testing.assert_allclose(p.bonus, a.bonus[perm], atol=1e-12)
    np.testing.assert_allclose(p.total, a.total[perm], atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batches(), method_st, backend_st, st.data())
def test_relabelling_answers_leaves_bonuses_unchanged(b, method, backend, data):
    g, o, r, n = b
    labels = np.array(data.draw(st.permutations(range(-50, 50))))[:6] * 7 + 3
    a = shaped_advantages(g, o, r, n, method=method, backend=backend)
    z = shaped_advantages(g, labels[o], r, n, method=method, backend=backend)
    np.testing.assert_array_equal(z.bonus, a.bonus)


@settings(max_examples=60, deadline=None)
@given(batches(), backend_st, st.floats(0.01, 3))
def test_batch_bonus_is_minus_duplicates_over_n(b, backend, c):
    g, o, r, n = b
    bonus = exploration_bonus(g, o, r, n, method="batch", c=c, all_correct_rule=False) \
        if backend == "numpy" else \
        shaped_advantages(g, o, r, n, method="batch", c=c, all_correct_rule=False).bonus
    for i in range(len(g)):
        same_group = g == g[i]
        dup = int(np.sum(same_group & (o == o[i])))
        assert bonus[i] == pytest.approx(-c * (dup - 1) / same_group.sum(), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(batches(), backend_st, st.floats(0.05, 0.99), st.floats(0.01, 2))
def test_ucb_con_sign_flips_at_one_over_b0_squared(b, backend, b0, c):
    g, o, r, n = b
    n = n.astype(float)
    n[: len(n) // 2] = 1.0 / b0**2  # exactly on the threshold: bonus 0
    bonus = shaped_advantages(g, o, r, n, method="ucb-con", b0=b0, c=c,
                              all_correct_rule=False, backend=backend).bonus
    thr = 1.0 / b0**2
    # An integer count can sit on 1/b0^2 up to rounding (b0 = 0.2: 25 vs 24.999999999999996,
    # bonus c(1/5 - 0.2) = 0): counts that close to the threshold count as on it.
    on = np.isclose(n, thr, rtol=1e-12, atol=0.0)
    assert np.all(bonus[(n < thr) & ~on] > 0)
    assert np.all(bonus[(n > thr) & ~on] < 0)
    np.testing.assert_allclose(bonus[on], 0.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batches(), backend_st)
def test_ucb_mean_bonuses_sum_to_zero_per_group(b, backend):
    g, o, r, n = b
    bonus = shaped_advantages(g, o, r, n, method="ucb-mean", backend=backend).bonus
    np.testing.assert_allclose(np.bincount(g, weights=bonus), 0.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batches(), method_st, backend_st)
def test_all_correct_rule_zeroes_a_fully_correct_group(b, method, backend):
    g, o, _, n = b
    r = np.ones(len(g))
    adv = shaped_advantages(g, o, r, n, method=method, backend=backend)
    np.testing.assert_array_equal(adv.bonus, 0.0)
    np.testing.assert_array_equal(adv.grpo, 0.0)  # identical rewards: no GRPO signal either
    off = shaped_advantages(g, o, r, n, method=method, all_correct_rule=False, backend=backend)
    if method == "ucb":  # without the rule the same group does get a bonus
        assert np.all(off.bonus > 0.0)


@settings(max_examples=40, deadline=None)
@given(batches(), method_st, backend_st)
def test_c_zero_is_plain_grpo(b, method, backend):
    g, o, r, n = b
    adv = shaped_advantages(g, o, r, n, method=method, c=0.0, backend=backend)
    base = shaped_advantages(g, o, r, n, method="none", backend=backend)
    np.testing.assert_array_equal(adv.total, base.total)
    np.testing.assert_array_equal(adv.total, adv.grpo + adv.bonus)


def test_exact_values_with_fractions():
    """One group of 4: rewards (1,0,0,0), answers (a,b,b,c), counts (0,4,4,9), c=1/5, b0=1/2."""
    r = [Fraction(1), Fraction(0), Fraction(0), Fraction(0)]
    mean = sum(r) / 4
    var = sum((x - mean) ** 2 for x in r) / 4  # population std (ddof=0)
    std = float(var) ** 0.5
    grpo = [float(x - mean) / (std + 1e-6) for x in r]
    g, o = np.zeros(4, int), np.array([0, 1, 1, 2])
    rew, cnt = np.array([1.0, 0, 0, 0]), np.array([0, 4, 4, 9])
    u = [1.0, 0.5, 0.5, 1 / 3]
    expected = {
        "none": [0.0] * 4,
        "ucb": [0.2 * x for x in u],
        "ucb-mean": [0.2 * (x - sum(u) / 4) for x in u],
        "ucb-con": [0.2 * (x - 0.5) for x in u],
        "batch": [0.0, -0.2 / 4, -0.2 / 4, 0.0],
    }
    for backend in BACKENDS:
        for m, bonus in expected.items():
            adv = shaped_advantages(g, o, rew, cnt, method=m, c=0.2, b0=0.5, backend=backend)
            np.testing.assert_allclose(adv.grpo, grpo, rtol=1e-12)
            np.testing.assert_allclose(adv.bonus, bonus, rtol=1e-12, atol=1e-15)


def test_grpo_scales():
    g = np.array([0, 0, 1, 1, 1])
    r = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    none = grpo_advantages(g, r, scale="none")
    np.testing.assert_allclose(none, [0.5, -0.5, 1 / 3, 1 / 3, -2 / 3])
    batch = grpo_advantages(g, r, scale="batch", eps=0.0 + 1e-12)
    np.testing.assert_allclose(batch, none / np.sqrt((none**2).mean()), rtol=1e-9)
    ddof1 = grpo_advantages(g, r, ddof=1, eps=1e-12)
    np.testing.assert_allclose(ddof1[:2], [0.5 / np.sqrt(0.5), -0.5 / np.sqrt(0.5)], rtol=1e-9)
    # A single-sample group has zero advantage, never NaN.
    assert grpo_advantages([0], [1.0], ddof=1)[0] == 0.0


def test_ucb_term():
    np.testing.assert_allclose(ucb_term([0, 1, 4, 100]), [1.0, 1.0, 0.5, 0.1])


def test_sparse_group_ids_are_accepted():
    g = np.array([10**9, 10**9, 7, 7])
    o, r, n = np.array([0, 0, 1, 2]), np.array([1.0, 0, 0, 1]), np.zeros(4)
    a = shaped_advantages(g, o, r, n, method="batch")
    b = shaped_advantages(np.array([1, 1, 0, 0]), o, r, n, method="batch")
    np.testing.assert_array_equal(a.total, b.total)


def test_history_count_modes():
    table = CountTable()
    p, g, o, r = np.zeros(3, int), np.zeros(3, int), np.array([0, 0, 1]), np.array([0.0, 0, 1])
    first = advantages_with_history(table, p, g, o, r, method="ucb")
    np.testing.assert_allclose(first.bonus, 0.2)  # N = 0 before the first batch
    np.testing.assert_array_equal(table.counts, [[2, 1]])
    after = advantages_with_history(table, p, g, o, r, method="ucb", count_mode="after")
    # counts now include this batch: N = 4 for answer 0, 2 for answer 1
    np.testing.assert_allclose(after.bonus, [0.1, 0.1, 0.2 / np.sqrt(2)])
    np.testing.assert_array_equal(table.counts, [[4, 2]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(c=-0.1), "c must be >= 0"),
    (dict(b0=1.5), "b0 must be <= 1"),
    (dict(method="ucb2"), "method must be one of"),
    (dict(scale="std"), "scale must be one of"),
    (dict(eps=0.0), "eps must be > 0"),
    (dict(count_mode="during"), "count_mode must be one of"),
    (dict(ddof=2), "ddof must be <= 1"),
])
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BonusConfig(**kwargs)


@pytest.mark.parametrize("args, match", [
    (([0, 0], [0, 1], [1.0], [0, 0]), "same length"),
    (([], [], [], []), "must not be empty"),
    (([0, 0], [0.5, 1], [1.0, 0.0], [0, 0]), "outcome must hold integer ids"),
    (([0, 0], [0, 1], [np.nan, 0.0], [0, 0]), "reward must be finite"),
    (([0, 0], [0, 1], [1.0, 0.0], [-1, 0]), "count must be >= 0"),
    (([-1, 0], [0, 1], [1.0, 0.0], [0, 0]), "group must be >= 0"),
    (([0, 0], ["a", "b"], [1.0, 0.0], [0, 0]), "outcome must hold integer ids"),
])
def test_bad_inputs_are_rejected(args, match):
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=match):
            shaped_advantages(*args, method="batch", backend=backend)


def test_a_rejected_batch_is_never_counted():
    for mode in ("before", "after"):
        table = CountTable()
        with pytest.raises(ValueError, match="reward must be finite"):
            advantages_with_history(table, [0, 0], [0, 0], [1, 2], [1.0, np.nan],
                                    method="ucb", count_mode=mode)
        with pytest.raises(ValueError, match="same length"):
            advantages_with_history(table, [0], [0, 0], [1, 2], [1.0, 0.0], count_mode=mode)
        assert table.counts.size == 0


def test_config_stores_converted_values():
    cfg = BonusConfig(c=np.float32(0.25), ddof=1.0)
    assert cfg.c == 0.25 and type(cfg.c) is float and cfg.ddof == 1
    # one rule for every field (issue 26): a string is refused, numeric or not, as is a bool
    with pytest.raises(ValueError, match="c must be a real number, got '0.25'"):
        BonusConfig(c="0.25")
    with pytest.raises(ValueError, match="c must be a real number, got True"):
        BonusConfig(c=True)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_huge_rewards_are_refused_not_zeroed(scale, backend):
    """Issue 15: rewards >= ~1e154 squared to inf, giving advantages 0 or NaN without a word."""
    group, outcome, count = [0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 2, 3]
    for big in (1e154, 1e200, -1e300):
        with pytest.raises(ValueError, match=r"reward must lie in \[-1e\+150, 1e\+150\]"):
            shaped_advantages(group, outcome, [0.0, big, 0.0, 1.0], count, backend=backend,
                              scale=scale)
    with pytest.raises(ValueError, match="reward must lie"):
        grpo_advantages(group, [0.0, 1e160, 0.0, 1.0], scale=scale)
    # At the bound the advantages are still the exact, finite, non-zero values.
    adv = shaped_advantages(group, outcome, [0.0, 1e150, 0.0, -1e150], count, backend=backend,
                            scale=scale)
    assert np.all(np.isfinite(adv.total)) and np.all(adv.grpo != 0)


def test_huge_reward_batch_is_never_counted():
    table = CountTable()
    with pytest.raises(ValueError, match="reward must lie"):
        advantages_with_history(table, [0, 0], [0, 0], [0, 1], [0.0, 1e155], count_mode="after")
    assert table.counts.size == 0
