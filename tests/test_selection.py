"""KL-UCB's and outcome-ucb's argmax over pull-count classes (issue 16) make the full scan's
pulls bit for bit, ties, zeros, ones and near-equal means included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.bandit import learners
from obandits.bandit.instances import BanditInstance
from obandits.bandit.learners import (
    LearnerConfig,
    _klucb,
    _klucb_classes,
    _outcome_ucb,
    base_cdf,
    klucb_gap_half,
    run_learner,
    ucb1_classes_exact,
)
from obandits.seeding import rep_states

NONE = np.zeros(0, np.int64)
# Repeated levels give exact index ties within and across classes; 0 and 1 hit the index's
# closed forms; 0.3 + 1e-9 is a deterministic level too close for the kl certificate (the
# step falls back to the scan, which may take an arm below its class's root).
LEVELS = [0.0, 0.1, 0.3, 0.3 + 1e-9, 0.5, 0.5, 0.55, 0.9, 1.0]


def instance(K, levels, seed, reward):
    rng = np.random.default_rng(seed)
    m = min(len(levels), K)
    phi = np.concatenate([np.arange(m), rng.integers(0, m, K - m)])[rng.permutation(K)]
    return BanditInstance(K, m, phi, np.array(levels[:m]), reward=reward)


def both(inst, T, state, c=0.0):
    """Picks and regret at every step of the scan and of the classes, and the classes' info."""
    bern = inst.reward == "bernoulli"
    ck = np.arange(1, T + 1)
    res = []
    for kind in ("scan", "classes"):
        picks, out = np.zeros(T, np.int64), np.zeros(T)
        info = np.zeros(2, np.int64)
        if kind == "scan":
            _klucb(state.copy(), inst.phi, inst.mu, bern, T, ck, out, c, picks)
        else:
            gap_half = klucb_gap_half(inst.mu, bern, T)
            assert gap_half is not None
            _klucb_classes(state.copy(), inst.phi, inst.mu, bern, T, ck, out, c, gap_half,
                           picks, info)
        res.append((picks, out, info))
    return res


@settings(max_examples=80, deadline=None)
@given(K=st.integers(1, 40), levels=st.lists(st.sampled_from(LEVELS), min_size=1, max_size=6),
       reward=st.sampled_from(["bernoulli", "deterministic"]), seed=st.integers(0, 10_000),
       T=st.integers(1, 600), c=st.sampled_from([0.0, 0.5, 3.0]))
def test_klucb_classes_make_the_scans_pulls(K, levels, reward, seed, T, c):
    inst = instance(K, levels, seed, reward)
    (p_scan, r_scan, _), (p_cls, r_cls, _) = both(inst, T, rep_states(seed, "kl", 1)[0], c)
    assert p_cls.tolist() == p_scan.tolist()
    np.testing.assert_array_equal(r_cls, r_scan)


def test_fallback_to_the_scan_is_exercised_and_exact():
    """Deterministic levels 1e-9 apart: the certificate fails, the step runs the scan (which
    may pick an arm below its class's root, removed from the middle of its heap)."""
    inst = instance(30, [0.3, 0.3 + 1e-9, 0.1], 3, "deterministic")
    (p_scan, r_scan, _), (p_cls, r_cls, info) = both(inst, 3000, rep_states(1, "fb", 1)[0])
    assert info[0] > 0
    assert p_cls.tolist() == p_scan.tolist()
    np.testing.assert_array_equal(r_cls, r_scan)


def test_bernoulli_needs_no_fallback():
    """Two levels, many arms: every step is settled by the class roots, a few Newton solves a
    step (the scan solves for every arm whose Pinsker bound beats the best so far)."""
    inst = instance(256, [0.4, 0.6], 0, "bernoulli")
    T = 4000
    (p_scan, _, _), (p_cls, _, info) = both(inst, T, rep_states(2, "nb", 1)[0])
    assert p_cls.tolist() == p_scan.tolist()
    assert info[0] == 0 and info[1] < 4 * (T - 256)


def test_run_learner_takes_the_classes_bit_for_bit():
    """run_learner at K >= KLUCB_CLASSES_MIN_K (classes) equals the scan kernel called
    directly, Bernoulli and deterministic, c = 0 and 1."""
    K, T, R = max(learners.KLUCB_CLASSES_MIN_K, 64), 1500, 3
    for reward, levels in (("bernoulli", [0.3, 0.5, 0.55, 0.7]), ("deterministic", [0.0, 1.0])):
        insts = [instance(K, levels, s, reward) for s in range(R)]
        ck = np.unique(np.linspace(1, T, 40).astype(np.int64))
        states = rep_states(4, reward, R)
        for c in (0.0, 1.0):
            got = run_learner(LearnerConfig("kl-ucb", c=c), insts, T, ck, states)
            for r, inst in enumerate(insts):
                ref = np.zeros(len(ck))
                _klucb(states[r].copy(), inst.phi, inst.mu, reward == "bernoulli", T, ck, ref,
                       c, NONE)
                np.testing.assert_array_equal(got[r], ref)


def test_gap_half_refuses_levels_rounding_could_merge():
    assert klucb_gap_half(np.array([0.5, 0.5 + 1e-15]), False, 1000) is None
    least = (0.6 - 0.5) - 2 * 1001 * 2.0 ** -52
    assert klucb_gap_half(np.array([0.5, 0.6]), False, 1000) == 0.5 * least
    assert klucb_gap_half(np.array([0.5]), False, 10) == np.inf
    assert klucb_gap_half(np.array([0.2, 0.5]), True, 10) == 0.0


def outcome_both(inst, T, state, alpha):
    """Outcomes pulled and regret at every step, outcome-ucb by the scan and by the classes."""
    bern = inst.reward == "bernoulli"
    ck = np.arange(1, T + 1)
    cdf = base_cdf(inst.base)
    res = []
    for classes in (False, True):
        picks, out = np.zeros(T, np.int64), np.zeros(T)
        _outcome_ucb(state.copy(), inst.phi, inst.mu, cdf, bern, T, ck, out, alpha, classes,
                     picks)
        res.append((picks, out))
    return res


@settings(max_examples=80, deadline=None)
@given(K=st.integers(1, 40), levels=st.lists(st.sampled_from(LEVELS), min_size=1, max_size=8),
       reward=st.sampled_from(["bernoulli", "deterministic"]), seed=st.integers(0, 10_000),
       T=st.integers(1, 600), alpha=st.sampled_from([0.0, 0.5, 2.0]),
       zeros=st.booleans())
def test_outcome_classes_make_the_scans_pulls(K, levels, reward, seed, T, alpha, zeros):
    """Few outcome levels (ties within and across count classes), p0 uniform or with zero-mass
    arms, discovery draws that hit known outcomes anywhere in their class's heap."""
    inst = instance(K, levels, seed, reward)
    if zeros and K > 1:
        p0 = np.random.default_rng(seed).random(K) * (np.arange(K) % 3 != 1)
        p0[0] += p0.sum() == 0
        inst = BanditInstance(K, inst.m, inst.phi, inst.mu, p0 / p0.sum(), reward=reward)
    assert ucb1_classes_exact(inst.mu, np.arange(inst.m), reward == "bernoulli", T, alpha,
                              min_k=0)
    (p_scan, r_scan), (p_cls, r_cls) = outcome_both(inst, T, rep_states(seed, "oc", 1)[0], alpha)
    assert p_cls.tolist() == p_scan.tolist()
    np.testing.assert_array_equal(r_cls, r_scan)


def test_run_learner_takes_outcome_classes_bit_for_bit():
    m = learners.OUTCOME_CLASSES_MIN_M
    K, T, R = 2 * m, 3000, 2
    insts = [instance(K, list(np.linspace(0.2, 0.8, m)), s, "bernoulli") for s in range(R)]
    ck = np.unique(np.linspace(1, T, 30).astype(np.int64))
    states = rep_states(6, "ocr", R)
    got = run_learner(LearnerConfig("outcome-ucb"), insts, T, ck, states)
    for r, inst in enumerate(insts):
        ref = np.zeros(len(ck))
        _outcome_ucb(states[r].copy(), inst.phi, inst.mu, base_cdf(inst.base), True, T, ck,
                     ref, 2.0, False, NONE)
        np.testing.assert_array_equal(got[r], ref)
