"""Bu et al.'s reward model, samplers and scoring (obandits.cot.bu2025_eval), against NumPy
references and brute force on the paper's tiny tree."""

from __future__ import annotations

import numpy as np
import pytest

from obandits.cot import bu2025_eval as ev
from obandits.cot.chain import build_chain, paper_config, rex
from obandits.nbrng import state_from_sequence


def _chain():
    # the seed-42 chain of their script has (1,1)->1 and (2,1)->0 high; until bu2025.build_chain
    # lands, any structure_seed gives a chain with their forced easy CoTs
    return build_chain(paper_config(structure_seed=0))


def _state(seed=0):
    return state_from_sequence(np.random.SeedSequence(seed))


def _np_mc_reward(chain, task, prefix, n_mc, lam, rng):
    """NumPy reference of their potential_reward / DPRM (l.953-1015)."""
    vals = []
    for _ in range(n_mc):
        path = list(prefix)
        for l in range(len(prefix) - 1, chain.L - 1):
            path.append(rng.choice(chain.M, p=chain.P[l, path[-1]]))
        vals.append(rex(chain, task, np.array([path]))[0])
    vals = np.array(vals)
    return np.log(np.mean(np.exp(lam * vals))) / lam if lam > 0 else vals.mean()


@pytest.mark.parametrize("task", [0, 1])
@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_mc_reward_matches_numpy_reference_in_distribution(task, lam):
    """Mean and spread of the compiled estimator equal those of the NumPy reference and its
    mean tends to the exact potential / DPRM (tolerance: 4 binomial-type standard errors)."""
    chain = _chain()
    s0 = chain.tasks[task][0]
    pre = np.array([[s0, 0]])
    n_mc, reps = 15, 3000
    st = _state(1)
    ours = np.array([(ev.dprm_mc(chain, task, pre, n_mc, lam, st) if lam
                      else ev.mc_potential(chain, task, pre, n_mc, st))[0] for _ in range(reps)])
    rng = np.random.default_rng(2)
    ref = np.array([_np_mc_reward(chain, task, pre[0], n_mc, lam, rng) for _ in range(400)])
    exact = (ev.dprm_exact(chain, task, pre, lam) if lam
             else ev.potential_exact(chain, task, pre))[0]
    se = ours.std() / np.sqrt(reps)
    if lam == 0.0:  # the potential estimator is unbiased
        assert abs(ours.mean() - exact) < 4 * se + 1e-12
    assert abs(ours.mean() - ref.mean()) < 4 * np.hypot(se, ref.std() / np.sqrt(len(ref))) + 1e-12
    assert abs(ours.std() - ref.std()) < 0.15 * ref.std() + 1e-12


def test_tables_match_per_prefix_values_and_full_paths_are_exact():
    chain = _chain()
    for task in (0, 1):
        for start in (0, 1):
            ex = ev.potential_exact_table(chain, task, start)
            mc = ev.mc_potential_table(chain, task, start, 7, _state(3))
            full = ev.prefixes_at(chain, start, chain.L - 1)
            # a full path has no completion left: the estimate is its Rex exactly
            np.testing.assert_allclose(mc[-1, :len(full)], rex(chain, task, full), rtol=1e-12)
            np.testing.assert_allclose(ex[-1, :len(full)], rex(chain, task, full), rtol=1e-12)
            if start != chain.tasks[task][0]:
                assert not ex.any() and not mc.any()
            # the root potential is E_P[Rex | start] = sum_o P(o) Rex(o)
            paths = ev.prefixes_at(chain, start, chain.L - 1)
            pp = np.prod(chain.P[np.arange(chain.L - 1), paths[:, :-1], paths[:, 1:]], axis=1)
            assert ex[0, 0] == pytest.approx(np.sum(pp * rex(chain, task, paths)))
            d = ev.dprm_exact_table(chain, task, start, 0.5)
            h = np.sum(pp * np.exp(0.5 * rex(chain, task, paths)))
            assert d[0, 0] == pytest.approx(np.log(h) / 0.5)
