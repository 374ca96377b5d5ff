"""Bu et al.'s chain (issue 14): explicit-edge TreeChain constructors, the replay of their
seed -> chain rule, and Bu2025Config's validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from obandits.cot.bu2025 import Bu2025Config, authors_high_edges, build_chain
from obandits.cot.bu2025.authors import authors_script, load_script, script_missing
from obandits.cot.bu2025.config import SEED42_HIGH_EDGES
from obandits.cot.chain import (
    TreeChain,
    chain_from_edges,
    chain_from_transitions,
    coverage,
    paper_config,
    valid_mass,
)
from obandits.cot.chain import build_chain as build_seeded_chain

AUTHORS_SCRIPT = authors_script()  # $OBANDITS_BU2025_SCRIPT, or None

#: High successor of (layer 1, state 1) and of (layer 2, state 1) in the chain their
#: ``TMC(L=4, M0=2, M=2, C_size=1, seed=s)`` builds; every other high edge is forced:
#: (0,0,0), (0,1,0), (1,0,0), (2,0,0), (2,0,1). Derived once by running their code:
#:   python -c "from obandits.cot.bu2025.authors import *; m = load_script(authors_script());
#:     [print(k, sorted(e for e, t in m.TMC(4, 2, 2, 1, k).edge_types.items() if t == 'high'))
#:      for k in list(range(21)) + [42]]"
AUTHORS_TABLE = {0: (1, 0), 1: (1, 0), 2: (1, 0), 3: (0, 1), 4: (0, 1), 5: (0, 1), 6: (1, 0),
                 7: (1, 0), 8: (0, 1), 9: (0, 1), 10: (0, 0), 11: (0, 0), 12: (0, 1),
                 13: (1, 1), 14: (1, 0), 15: (0, 1), 16: (0, 0), 17: (1, 0), 18: (0, 0),
                 19: (1, 0), 20: (0, 1), 42: (1, 0)}


def _edges(x, y):
    return tuple(sorted({(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, x), (2, 0, 0), (2, 0, 1),
                         (2, 1, y)}))


@pytest.mark.parametrize("seed", sorted(AUTHORS_TABLE))
def test_authors_high_edges_match_their_table(seed):
    assert authors_high_edges(seed) == _edges(*AUTHORS_TABLE[seed])


def test_seed42_default_is_their_published_chain():
    assert authors_high_edges(42) == SEED42_HIGH_EDGES
    chain = build_chain(Bu2025Config())
    # their printed structure (run_seed42.log): P(0000) = 0.413223, Rex = 0.727995
    p0000 = chain.P[0, 0, 0] * chain.P[1, 0, 0] * chain.P[2, 0, 0]
    assert p0000 == pytest.approx(0.413223, abs=1e-6)
    assert p0000 / valid_mass(chain, 0) == pytest.approx(0.727995, abs=1e-6)
    assert chain.P[2, 0].tolist() == [0.5, 0.5]
    assert chain.high.sum() == 7


@pytest.mark.skipif(AUTHORS_SCRIPT is None, reason=script_missing())
@pytest.mark.parametrize("shape", [(4, 2, 2, 1), (5, 3, 3, 2), (6, 2, 4, 1), (3, 2, 2, 2)])
def test_authors_high_edges_replay_their_tmc(shape):
    """Against their own TMC class, other shapes included (their draw order matters there)."""
    mod = load_script(AUTHORS_SCRIPT)
    L, M0, M, C = shape
    for seed in range(12):
        tm = mod.TMC(L=L, M0=M0, M=M, C_size=C, seed=seed)
        theirs = tuple(sorted((int(a), int(b), int(c)) for (a, b, c), t in tm.edge_types.items()
                              if t == "high"))
        assert authors_high_edges(seed, L, M0, M, C) == theirs
        ours = build_chain(Bu2025Config(L=L, M0=M0, M=M, C_size=C, seed=seed,
                                        chain_from_seed=True))
        for l in range(L - 1):
            for s in range(tm.state_sizes[l]):
                np.testing.assert_allclose(ours.P[l, s], tm.P[(l, s)], rtol=0, atol=1e-15)


def test_chain_from_seed_uses_the_seed():
    cfg = Bu2025Config(seed=13, chain_from_seed=True)
    assert cfg.chain_edges() == _edges(1, 1)
    assert Bu2025Config(seed=13).chain_edges() == SEED42_HIGH_EDGES


def test_from_edges_equals_seeded_build_on_the_same_edges():
    seeded = build_seeded_chain(paper_config(structure_seed=3))
    edges = [tuple(int(x) for x in e) for e in np.argwhere(seeded.high)]
    ours = TreeChain.from_edges(edges, L=4, M0=2, M=2)
    np.testing.assert_allclose(ours.P, seeded.P, atol=1e-15)
    assert (ours.high == seeded.high).all()
    assert coverage(ours, 0, ours.P) == pytest.approx(coverage(seeded, 0, seeded.P))


@settings(max_examples=30, deadline=None)
@given(hs.integers(3, 6), hs.integers(2, 3), hs.integers(2, 4), hs.integers(0, 2**31))
def test_from_transitions_roundtrip(L, M0, M, seed):
    rng = np.random.default_rng(seed)
    Mx = max(M0, M)
    P = rng.random((L - 1, Mx, M)) + 0.01
    P /= P.sum(axis=2, keepdims=True)
    P[0, M0:] = 0.0  # padded rows (stored as 0)
    P[1:, M:] = 0.0
    c = chain_from_transitions(P, M0=M0, tasks=((0, 0),))
    np.testing.assert_array_equal(c.P, P)
    for l in range(L - 1):  # each row's maximum is high
        assert c.high[l, :c.n_states[l]].any(axis=1).all()
    assert c.n_states.tolist() == [M0] + [M] * (L - 1)


def test_bad_transitions_named():
    P = build_chain(Bu2025Config()).P
    with pytest.raises(ValueError, match="P must be a 3-D"):
        chain_from_transitions(P[0])
    with pytest.raises(ValueError, match=r"P\[1, 0\] sums to"):
        Q = P.copy()
        Q[1, 0, 0] += 0.01
        chain_from_transitions(Q)
    with pytest.raises(ValueError, match="negative"):
        Q = P.copy()
        Q[1, 0] = [1.5, -0.5]
        chain_from_transitions(Q)
    with pytest.raises(ValueError, match=r"tasks\[1\].*no path"):
        Q = P.copy()
        Q[2, :, :] = [1.0, 0.0]  # nothing reaches state 1 of the last layer
        chain_from_transitions(Q)
    with pytest.raises(ValueError, match="high must be a bool array"):
        chain_from_transitions(P, high=np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        chain_from_transitions(P, M0=5)


def test_bad_edges_named():
    with pytest.raises(ValueError, match=r"high_edges\[1\] must be a \(layer"):
        chain_from_edges([(0, 0, 0), (0, 1)], L=4, M0=2, M=2)
    with pytest.raises(ValueError, match=r"high_edges\[0\] next"):
        chain_from_edges([(0, 0, 2)], L=4, M0=2, M=2)
    with pytest.raises(ValueError, match="high_edges"):
        Bu2025Config(high_edges=((3, 0, 0),))


@pytest.mark.parametrize("field,value,match", [
    ("finetune_methods", ("REINFORCE", "GRPO"), r"finetune_methods\[1\]"),
    ("finetune_methods", "REINFORCE", "finetune_methods must be a tuple"),
    ("finetune_methods", ("PPO", "PPO"), "repeat"),
    ("rl_variant", "mine", "rl_variant"),
    ("ppo_potential", "x", "ppo_potential"),
    ("scoring", "approx", "scoring"),
    ("denominator", "some", "denominator"),
    ("base_start", "zero", "base_start"),
    ("K", 0, "K must be"),
    ("N", 0, "N must be"),
    ("mc_budget", 0, "mc_budget"),
    ("finetune_iterations", 0, "finetune_iterations"),
    ("num_trials", 0, "num_trials"),
    ("rej_threshold", 0, "rej_threshold"),
    ("n_rollouts", 0, "n_rollouts"),
    ("ppo_epochs", 0, "ppo_epochs"),
    ("eta", 0.0, "eta"),
    ("finetune_lr", float("nan"), "finetune_lr"),
    ("temperature", 0.0, "temperature"),
    ("C_size", 3, "C_size"),
    ("quirk_mc_cache", "yes", "quirk_mc_cache"),
])
def test_config_bad_field_named(field, value, match):
    with pytest.raises(ValueError, match=match):
        Bu2025Config(**{field: value})


def test_config_zero_pretraining_and_unknown_field():
    with pytest.raises(ValueError, match="T1 \\+ T2"):
        Bu2025Config(T1=0, T2=0)
    with pytest.raises(ValueError, match="no field 'tempreature'"):
        Bu2025Config().with_(tempreature=1.0)


def test_config_defaults_are_their_params_at_temperature_one():
    c = Bu2025Config()
    assert (c.L, c.K, c.N, c.mc_budget, c.T1, c.T2, c.eta, c.M0, c.M, c.C_size, c.seed,
            c.num_trials, c.finetune_iterations, c.finetune_lr, c.finetune_beta, c.clip_eps,
            c.rej_threshold) == (4, 30, 15, 1000, 2000, 500, 0.05, 2, 2, 1, 42, 200, 1000,
                                 0.05, 1.0, 0.2, 5)
    assert c.temperature == 1.0 and c.tau == 0.5
    assert not (c.quirk_orm_bon_all or c.quirk_task1_reward or c.quirk_mc_cache
                or c.chain_from_seed)
    a = Bu2025Config.authors()
    assert a.quirk_orm_bon_all and a.quirk_task1_reward and a.quirk_mc_cache and a.chain_from_seed
