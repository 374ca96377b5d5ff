"""The count-class UCB1 argmax (issue 16) makes the scan's pulls bit for bit, ties included."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits import nbrng
from obandits.bandit.instances import BanditInstance
from obandits.bandit.learners import (
    UCB1_CLASSES_MIN_K,
    LearnerConfig,
    _ucb1,
    _ucb1_classes,
    run_learner,
    ucb1_classes_exact,
    ucb1_mode,
)
from obandits.seeding import rep_states

NO_PICKS = np.zeros(0, np.int64)


def scan_picks(inst, T, st_, alpha=2.0):
    """The lockstep kernel's argmax in plain Python, with its float expressions: index
    ``mean + sqrt(alpha log t) * (1 / sqrt(n))``, the first maximum."""
    am, bern = inst.arm_means, inst.reward == "bernoulli"
    n, s, mean, isn, picks = [0.0] * inst.K, [0.0] * inst.K, [0.0] * inst.K, [0.0] * inst.K, []
    for t in range(T):
        if t < inst.K:
            k = t
        else:
            bonus = math.sqrt(alpha * math.log(t))
            idx = [mean[a] + bonus * isn[a] for a in range(inst.K)]
            k = idx.index(max(idx))
        r = (1.0 if nbrng.uniform(st_) < am[k] else 0.0) if bern else float(am[k])
        n[k] += 1.0
        s[k] += r
        mean[k] = s[k] / n[k]
        isn[k] = 1.0 / math.sqrt(n[k])
        picks.append(k)
    return picks


def classes(inst, T, state, alpha=2.0, ckpt=None):
    ckpt = np.arange(1, T + 1) if ckpt is None else ckpt
    out = np.zeros(len(ckpt))
    picks = np.zeros(T, np.int64)
    _ucb1_classes(state.copy(), inst.phi, inst.mu, inst.reward == "bernoulli", T, ckpt, out,
                  alpha, picks)
    return picks, out


@settings(max_examples=60, deadline=None)
@given(K=st.integers(1, 24), levels=st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.9, 1.0]),
                                             min_size=1, max_size=5),
       reward=st.sampled_from(["bernoulli", "deterministic"]), seed=st.integers(0, 10_000),
       T=st.integers(1, 400), alpha=st.sampled_from([0.0, 0.5, 2.0]))
def test_classes_make_the_scans_pulls(K, levels, reward, seed, T, alpha):
    """Few mean levels, repeated: equal means (exact index ties) within and across count
    classes, all-equal means, zero means, alpha = 0 (no bonus), K = 1 and T = 1."""
    rng = np.random.default_rng(seed)
    m = min(len(levels), K)
    phi = np.concatenate([np.arange(m), rng.integers(0, m, K - m)])[rng.permutation(K)]
    inst = BanditInstance(K, m, phi, np.array(levels[:m]), reward=reward)
    state = rep_states(seed, "classes", 1)[0]
    picks, reg = classes(inst, T, state, alpha)
    assert picks.tolist() == scan_picks(inst, T, state.copy(), alpha)
    gaps = inst.mu_star - inst.arm_means[picks]
    np.testing.assert_array_equal(reg, np.cumsum(gaps))


def test_classes_equal_the_lockstep_kernel_at_many_arms():
    """Where run_learner takes the count classes (K >= UCB1_CLASSES_MIN_K), its regret equals
    the lockstep scan's, bit for bit, Bernoulli and deterministic rewards."""
    K, T, R = UCB1_CLASSES_MIN_K, 6000, 3
    rng = np.random.default_rng(0)
    for reward, mu in (("bernoulli", np.array([0.3, 0.5, 0.55, 0.7])),
                       ("deterministic", np.array([0.0, 1.0]))):
        m = len(mu)
        insts = [BanditInstance(K, m, np.concatenate([np.arange(m), rng.integers(0, m, K - m)]),
                                mu, reward=reward) for _ in range(R)]
        ck = np.unique(np.linspace(1, T, 50).astype(np.int64))
        states = rep_states(2, reward, R)
        phi = np.stack([i.phi for i in insts])
        mus = np.stack([i.mu for i in insts])
        assert ucb1_classes_exact(mus, phi, reward == "bernoulli", T, 2.0)
        got = run_learner(LearnerConfig("ucb1"), insts, T, ck, states)
        ref = np.zeros((R, len(ck)))
        _ucb1(states.copy(), phi, mus, reward == "bernoulli", T, ck, ref, 2.0, ucb1_mode(K, R))
        np.testing.assert_array_equal(got, ref)


def test_classes_not_taken_where_rounding_could_merge_means():
    """Deterministic means closer than the rounding of the index: the scan runs instead."""
    K = UCB1_CLASSES_MIN_K
    phi = np.arange(K) % 2
    assert not ucb1_classes_exact(np.array([[0.5, 0.5 + 1e-15]]), phi[None], False, 1000, 2.0)
    assert ucb1_classes_exact(np.array([[0.5, 0.6]]), phi[None], False, 1000, 2.0)
    assert not ucb1_classes_exact(np.array([[0.5, 0.6]]), phi[None, :100], False, 1000, 2.0)
    assert not ucb1_classes_exact(np.array([[0.5, 0.6]]), phi[None], True, 10 ** 15, 2.0)
