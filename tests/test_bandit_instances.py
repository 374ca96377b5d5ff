"""Instances and generator families of the outcome bandit (Spec 1 §5)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.bandit.instances import (
    BanditInstance,
    llm_like,
    make_instance,
    needle,
    random_partition,
    zipf_masses,
)


def test_valid_instance_and_properties():
    inst = BanditInstance(4, 2, [0, 1, 1, 0], [0.2, 0.9], [0.1, 0.2, 0.3, 0.4])
    assert inst.mu_star == 0.9
    np.testing.assert_allclose(inst.arm_means, [0.2, 0.9, 0.9, 0.2])
    np.testing.assert_allclose(inst.outcome_mass(), [0.5, 0.5])
    with pytest.raises(ValueError):
        inst.phi[0] = 1  # frozen arrays


@pytest.mark.parametrize("kwargs, match", [
    ({"K": 2, "m": 3, "phi": [0, 1], "mu": [0.1, 0.2, 0.3]}, "m .* must be <= K"),
    ({"K": 3, "m": 2, "phi": [0, 0, 0], "mu": [0.1, 0.2]}, "outcome 1 has none"),
    ({"K": 3, "m": 2, "phi": [0, 1, 2], "mu": [0.1, 0.2]}, "outcomes 0..1"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, 1.2]}, "mu must be <= 1"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [-0.1, 0.2]}, "mu must be >= 0"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, float("nan")]}, "mu must be finite"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, 0.2], "p0": [0.5, 0.6]},
     "p0 must be a distribution"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, 0.2], "p0": [1.5, -0.5]}, "p0 must be >= 0"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, 0.2], "p0": [1.0]}, "p0 must have length"),
    ({"K": 2, "m": 2, "phi": [0, 1, 1], "mu": [0.1, 0.2]}, "phi must have length"),
    ({"K": 2, "m": 2, "phi": [0, 1], "mu": [0.1, 0.2], "reward": "gaussian"},
     "reward must be one of"),
    ({"K": 0, "m": 1, "phi": [], "mu": [0.1]}, "K must be >= 1"),
])
def test_bad_instances_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BanditInstance(**kwargs)


@settings(max_examples=40, deadline=None)
@given(K=st.integers(2, 300), m=st.integers(2, 20), gap=st.floats(0, 1),
       seed=st.integers(0, 2**32), fam=st.sampled_from(["partition", "needle", "llm"]))
def test_generators_valid(K, m, gap, seed, fam):
    m = min(m, K)
    inst = make_instance(fam, K, m, gap, seed)
    assert inst.K == K and inst.m == m
    assert np.isclose(inst.base.sum(), 1.0)
    assert sorted(set(inst.phi)) == list(range(m))  # every outcome has an arm
    best = np.flatnonzero(inst.mu == inst.mu.max())
    if gap > 1e-6:  # below that, 0.5 +- gap/2 round to one float
        assert len(best) == 1 and np.isclose(inst.mu.max() - inst.mu.min(), gap)
    again = make_instance(fam, K, m, gap, seed)
    np.testing.assert_array_equal(inst.phi, again.phi)  # reproducible from the seed


def test_needle_has_one_best_arm_and_fraction():
    inst = needle(1000, 3, 0.5, 7)
    assert (inst.phi == 0).sum() == 1 and inst.mu.argmax() == 0
    inst = needle(1000, 3, 0.5, 7, needle_frac=0.01)
    assert (inst.phi == 0).sum() == 10
    with pytest.raises(ValueError, match="needs|m must be >= 2"):
        needle(10, 1, 0.5, 0)


@pytest.mark.parametrize("K", [16, 256, 4096])
def test_llm_like_masses_do_not_depend_on_K(K):
    q = zipf_masses(8, 1.0, 0.05)
    inst = llm_like(K, 8, 0.3, 3)
    np.testing.assert_allclose(inst.outcome_mass(), q, atol=1e-12)
    assert inst.mu.argmax() == 0 and np.isclose(q[0], 0.05)
    assert np.all(np.diff(q[1:]) <= 0)  # Zipf-like: decreasing masses on the wrong answers
    counts = np.bincount(inst.phi, minlength=8)
    assert counts.sum() == K and counts.min() >= 1


def test_zipf_and_partition_validation():
    with pytest.raises(ValueError, match="correct_mass"):
        zipf_masses(4, 1.0, 0.0)
    with pytest.raises(ValueError, match="m must be <= "):
        random_partition(3, 4, 0.1, 0)
    with pytest.raises(ValueError, match="family must be one of"):
        make_instance("tree", 4, 2, 0.1, 0)
    with pytest.raises(ValueError, match="gap must be <= 1"):
        random_partition(4, 2, 1.5, 0)
