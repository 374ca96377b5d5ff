"""obandits.testing: the strategies, and check_advantage_fn finding the smallest failing batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from obandits.bonuses import BonusConfig, shaped_advantages, ucb_term
from obandits.testing import AdvantageMismatch, Batch, batches, check_advantage_fn


@settings(max_examples=50, deadline=None)
@given(batches())
def test_batches_are_consecutive_equal_groups(b: Batch):
    n = len(b.group)
    assert len(b.outcome) == len(b.reward) == len(b.count) == n
    assert (np.diff(b.group) >= 0).all() and b.group[0] == 0
    sizes = np.bincount(b.group)
    assert (sizes == sizes[0]).all() and sizes[0] >= 2
    assert set(np.unique(b.reward)) <= {0.0, 0.5, 1.0} and (b.count >= 0).all()
    pairs = {}
    for g, o, c in zip(b.group, b.outcome, b.count):
        assert pairs.setdefault((g, o), c) == c  # N(x, a) is a function of the pair


def test_correct_function_passes():
    def mine(group, outcome, reward, count, config):
        return shaped_advantages(group, outcome, reward, count, config, backend="numpy").total

    rep = check_advantage_fn(mine, max_examples=60)
    assert rep.examples >= 60 and rep.max_abs_error < 1e-9


def test_ucb_con_as_ucb_mean_is_caught_with_a_small_batch():
    """The bonus-as-reward failure: UCB-Con computed as UCB-Mean (the b0 baseline lost)."""

    def wrong(group, outcome, reward, count, config):
        u = ucb_term(count)
        mean = np.bincount(group, weights=u) / np.bincount(group)
        b = config.c * (u - mean[group])
        if config.all_correct_rule:
            wrong_g = np.bincount(group, weights=(reward < config.correct_threshold))
            b = np.where(wrong_g[group] == 0, 0.0, b)
        return b

    with pytest.raises(AdvantageMismatch) as err:
        check_advantage_fn(wrong, part="bonus", methods=("ucb-con",), max_examples=100)
    e = err.value
    assert len(e.batch.group) == 2  # shrunk to one group of the minimum size
    assert "smallest failing batch" in str(e) and "ucb-con" in str(e)
    assert not np.allclose(e.expected, e.got)


def test_fixed_config_and_bad_arguments():
    cfg = BonusConfig(method="batch", c=0.2)
    check_advantage_fn(lambda g, o, r, n, c: shaped_advantages(g, o, r, n, c).total,
                       config=cfg, max_examples=20)
    with pytest.raises(ValueError, match="part"):
        check_advantage_fn(lambda *a: 0, part="adv")
    with pytest.raises(ValueError, match="config"):
        check_advantage_fn(lambda *a: 0, config={"method": "ucb"})
    with pytest.raises(AdvantageMismatch):  # wrong length is a mismatch, not a crash
        check_advantage_fn(lambda g, o, r, n, c: np.zeros(1), max_examples=5)


# ---- the mutants of issue 24: each caught on every run at the default settings ------------

def _bonus_parts(group, outcome, reward, count, config, *, threshold=None, rule=None):
    """The right formulas with one knob that a mutant turns (threshold / all-correct rule)."""
    from dataclasses import replace

    cfg = replace(config, correct_threshold=config.correct_threshold if threshold is None
                  else threshold, all_correct_rule=config.all_correct_rule if rule is None
                  else rule)
    return shaped_advantages(group, outcome, reward, count, cfg, backend="numpy").total


def ignores_threshold(group, outcome, reward, count, config):
    return _bonus_parts(group, outcome, reward, count, config, threshold=1.0)


def bonus_when_all_correct(group, outcome, reward, count, config):
    return _bonus_parts(group, outcome, reward, count, config, rule=False)


MUTANTS = {"ignores correct_threshold": ignores_threshold,
           "bonus applied when every answer is correct": bonus_when_all_correct}


@pytest.mark.parametrize("seed_", range(10))
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_caught_every_time(name, seed_):
    with pytest.raises(AdvantageMismatch) as err:
        check_advantage_fn(MUTANTS[name], random_seed=seed_, max_examples=20)
    assert len(err.value.batch.group) == 2  # the smallest batch that shows it


def test_threshold_mutant_caught_by_random_examples_alone():
    """Without the fixed corpus, the partial-credit rewards and drawn thresholds still find the
    threshold mutant, shrunk to one group of two."""
    with pytest.raises(AdvantageMismatch) as err:
        check_advantage_fn(ignores_threshold, edge=False, max_examples=200)
    e = err.value
    assert len(e.batch.group) == 2 and e.config.correct_threshold == 0.5


def _history_fn(count_mode=None):
    """Code that keeps its own counts (as the LLM bridge does), optionally ignoring
    count_mode (the mutant); obandits.counts.History keyed by prompt id."""
    from dataclasses import replace

    from obandits.counts import History

    def make():
        hist = History()

        def fn(prompt, group, outcome, reward, config):
            cfg = config if count_mode is None else replace(config, count_mode=count_mode)
            keys, answers = prompt.tolist(), outcome.tolist()
            if cfg.count_mode == "after":
                hist.update(keys, answers)
            count = hist.lookup(keys, answers)
            if cfg.count_mode == "before":
                hist.update(keys, answers)
            return shaped_advantages(group, outcome, reward, count, config).total

        return fn

    return make


def test_history_check_passes_and_catches_count_mode_mutant():
    from obandits.testing import check_history_fn

    rep = check_history_fn(_history_fn(), max_examples=30)
    assert rep.examples > 30 and rep.max_abs_error < 1e-9
    for mode in ("before", "after"):  # a mutant stuck on one count mode
        with pytest.raises(AdvantageMismatch, match="advantages_with_history"):
            check_history_fn(_history_fn(mode), max_examples=5)
