"""Spec 1 §3: unbiased pass@k, distinct answers, token entropy; power-law fits."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.metrics import (
    distinct_answers,
    mean_token_entropy,
    pass_at_k,
    pass_at_k_curve,
    power_law_fit,
    token_entropy,
)


def exact_pass_at_k(n, c, k):
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_equals_exact_fraction(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_monotone_and_bounded(nc):
    n, c = nc
    by_k = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= x <= 1.0 for x in by_k)
    assert all(a <= b + 1e-15 for a, b in zip(by_k, by_k[1:]))
    k = max(1, n // 3)
    by_c = [pass_at_k(n, cc, k) for cc in range(n + 1)]
    assert all(a <= b + 1e-15 for a, b in zip(by_c, by_c[1:]))


def test_pass_at_k_vectorised_and_exact_one():
    out = pass_at_k(np.array([10, 10, 32]), np.array([0, 8, 1]), 4)
    assert out[0] == 0.0 and out[1] == 1.0  # n - c = 2 < k = 4: exactly 1
    assert out[2] == pytest.approx(4 / 32)
    curve = pass_at_k_curve([32, 32], [0, 1])
    assert list(curve) == [1, 2, 4, 8, 16, 32] and curve[32] == 0.5


@pytest.mark.parametrize("args, match", [
    ((4, 2, 5), "k must be <= n"),
    ((4, 5, 2), "c must be <= n"),
    ((4, -1, 2), "c must be >= 0"),
    ((4, 2, 0), "k must be >= 1"),
    (([4, 4], [1], 2), "same shape"),
])
def test_pass_at_k_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        pass_at_k(*args)


def test_distinct_answers_split_by_solved():
    group = [0, 0, 0, 1, 1, 1, 2, 2]
    outcome = [5, 5, 6, 1, 2, 3, 4, 4]
    correct = np.array([1, 0, 0, 0, 0, 0, 0, 0], bool)
    d = distinct_answers(group, outcome, correct)
    assert d.all == pytest.approx((2 + 3 + 1) / 3)
    assert d.solved == 2 and d.unsolved == 2 and (d.n_solved, d.n_unsolved) == (1, 2)
    assert distinct_answers([0], [1], np.array([False])).solved is None
    with pytest.raises(ValueError, match="correct must be a boolean"):
        distinct_answers([0], [1], [1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=20))
def test_token_entropy_matches_definition(logits):
    x = np.array(logits)
    p = np.exp(x - x.max())
    p /= p.sum()
    expected = -sum(pi * np.log(pi) for pi in p if pi > 0)
    assert token_entropy(x) == pytest.approx(expected, abs=1e-9)
    assert 0 <= token_entropy(x) <= np.log(len(x)) + 1e-9


def test_mean_token_entropy_split_and_mask():
    ent = np.array([[1.0, 3.0, 9.0], [2.0, 2.0, 2.0]])
    mask = np.array([[True, True, False], [True, True, True]])
    s = mean_token_entropy(ent, mask, correct=np.array([True, False]))
    assert s.correct == 2.0 and s.incorrect == 2.0 and s.all == pytest.approx(10 / 5)
    assert mean_token_entropy(ent).correct is None
    with pytest.raises(ValueError, match="entropy must be finite"):
        mean_token_entropy(np.array([[np.nan]]))


def test_power_law_fit_recovers_exponent_with_interval():
    rng = np.random.default_rng(0)
    x = np.array([100, 300, 1000, 3000, 10000.0])
    y = 2.0 * x[:, None] ** 0.5 * rng.lognormal(0, 0.1, size=(5, 20))
    fit = power_law_fit(x, y, seed=1)
    assert fit.b_low < 0.5 < fit.b_high and fit.b_high - fit.b_low < 0.1
    assert fit.b == pytest.approx(0.5, abs=0.03)
    fit1 = power_law_fit(x, y.mean(axis=1), seed=1)
    assert fit1.b_low <= fit1.b <= fit1.b_high


@pytest.mark.parametrize("x, y, match", [
    ([1, 2, 3], [1, 0, 2], "y must be > 0"),
    ([0, 2, 3], [1, 1, 2], "x must be > 0"),
    ([1, 2], [1, 2], "at least 3 points"),
    ([1, 1, 1], [1, 2, 3], "at least 2 distinct"),
    ([1, 2, 3], [1, np.nan, 3], "y must be finite"),
])
def test_power_law_fit_rejects_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        power_law_fit(x, y)


def test_token_entropy_allows_masked_logits():
    assert token_entropy(np.array([0.0, -np.inf, 0.0])) == pytest.approx(np.log(2))
    assert token_entropy(np.array([5.0, -np.inf])) == 0.0
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        token_entropy(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="at least one finite"):
        token_entropy(np.array([-np.inf, -np.inf]))
