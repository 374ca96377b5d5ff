"""Edge cases of the bandit learners and instances (issue 16): exact results or clear errors."""

import numpy as np
import pytest

from obandits.bandit import learners
from obandits.bandit.instances import BanditInstance, make_instance
from obandits.bandit.learners import LEARNERS, LearnerConfig, base_cdf, checkpoints, run_learner
from obandits.seeding import rep_states

THRESHOLDS = ("UCB1_CLASSES_MIN_K", "KLUCB_CLASSES_MIN_K", "OUTCOME_CLASSES_MIN_M")


@pytest.fixture(autouse=True, params=["default paths", "count classes everywhere"])
def selection_path(request, monkeypatch):
    """Every case twice: with run_learner's own choice of scan or count classes, and with the
    classes taken from one arm / outcome up (UCB1, KL-UCB, outcome-ucb)."""
    if request.param != "default paths":
        for name in THRESHOLDS:
            monkeypatch.setattr(learners, name, 1)
    return request.param


def _run(learner, insts, T, seed=0):
    return run_learner(LearnerConfig(learner), insts, T, checkpoints(T),
                       rep_states(seed, learner, len(insts)))


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("family", ["partition", "llm"])
@pytest.mark.parametrize("T", [1, 2, 37])
def test_one_arm_one_outcome_has_zero_regret(learner, family, T):
    inst = make_instance(family, 1, 1, 0.7, 0)
    reg = _run(learner, [inst] * 3, T)
    assert reg.shape == (3, len(checkpoints(T))) and np.all(reg == 0.0)


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("reward", ["bernoulli", "deterministic"])
def test_all_means_equal_gives_zero_regret(learner, reward):
    insts = [make_instance("partition", 7, 3, 0.0, s, reward=reward) for s in range(4)]
    assert np.all(_run(learner, insts, 300) == 0.0)


@pytest.mark.parametrize("learner", ["ucb1", "kl-ucb"])
def test_one_pull_is_arm_zero(learner):
    """T = 1: arm-level index learners pull arm 0 first, so R_1 = mu* - mu[phi[0]] exactly."""
    inst = BanditInstance(3, 3, np.array([2, 0, 1]), np.array([0.9, 0.5, 0.1]))
    assert _run(learner, [inst], 1)[0, 0] == 0.9 - 0.1


@pytest.mark.parametrize("learner", LEARNERS)
def test_means_zero_and_one_no_nan(learner):
    """Means exactly 0 and 1 (kl index at the boundary, Beta(1, n+1) draws): finite regret."""
    inst = BanditInstance(4, 2, np.array([0, 1, 0, 1]), np.array([0.0, 1.0]))
    reg = _run(learner, [inst] * 2, 500)
    assert np.all(np.isfinite(reg)) and np.all(reg >= 0) and np.all(reg <= 500)


def test_zero_mass_arms_are_never_drawn():
    """p0 with zeros first, inside and last: the cdf gives those arms no mass; the outcome whose
    arms all have zero mass (outcome 0, the best) is never discovered, so outcome-ucb's regret
    is exactly gap * t."""
    p0 = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
    cdf = base_cdf(p0)
    assert cdf.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    third = np.array([0.1, 0.0, 0.2, 0.7, 0.0])  # cumsum(0.1, 0.2, 0.7) rounds below 1
    assert np.all(np.diff(base_cdf(third))[[0, 3]] == 0.0) and base_cdf(third)[-1] == 1.0
    inst = BanditInstance(5, 2, np.array([0, 1, 0, 1, 0]), np.array([0.8, 0.3]), p0,
                          reward="deterministic")
    T = 2000
    reg = _run("outcome-ucb", [inst] * 3, T)
    np.testing.assert_allclose(reg, np.tile(0.5 * checkpoints(T), (3, 1)), rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(family="needle", K=1, m=1), "K"),
    (dict(family="needle", K=4, m=1), "m"),
    (dict(family="partition", K=3, m=4), "m"),
    (dict(family="partition", K=0, m=1), "K"),
])
def test_impossible_instances_are_refused(kwargs, match):
    kwargs = dict(kwargs)  # the parameter dict is shared by both selection paths
    with pytest.raises(ValueError, match=match):
        make_instance(kwargs.pop("family"), gap=0.5, seed=0, **kwargs)


def test_bad_horizon_and_states_are_refused():
    inst = make_instance("partition", 3, 2, 0.5, 0)
    with pytest.raises(ValueError, match="T"):
        run_learner(LearnerConfig("ucb1"), [inst], 0, [1], rep_states(0, "x", 1))
    with pytest.raises(ValueError, match="ckpt"):
        run_learner(LearnerConfig("ucb1"), [inst], 5, [6], rep_states(0, "x", 1))
    with pytest.raises(ValueError, match="states"):
        run_learner(LearnerConfig("ucb1"), [inst, inst], 5, [5], rep_states(0, "x", 1))
    with pytest.raises(ValueError, match="p0"):
        BanditInstance(2, 1, np.array([0, 0]), np.array([0.5]), np.array([0.0, 0.0]))
