"""Bu et al.'s reward model, samplers and scoring (obandits.cot.bu2025.rewards, .samplers,
.moments, .scoring), against NumPy references and brute force on the paper's tiny tree."""

from __future__ import annotations

import numpy as np
import pytest

from obandits.cot.bu2025 import moments, rewards, samplers, scoring
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
    ours = np.array([(rewards.dprm_mc(chain, task, pre, n_mc, lam, st) if lam
                      else rewards.mc_potential(chain, task, pre, n_mc, st))[0]
                     for _ in range(reps)])
    rng = np.random.default_rng(2)
    ref = np.array([_np_mc_reward(chain, task, pre[0], n_mc, lam, rng) for _ in range(400)])
    exact = (rewards.dprm_exact(chain, task, pre, lam) if lam
             else rewards.potential_exact(chain, task, pre))[0]
    se = ours.std() / np.sqrt(reps)
    if lam == 0.0:  # the potential estimator is unbiased
        assert abs(ours.mean() - exact) < 4 * se + 1e-12
    assert abs(ours.mean() - ref.mean()) < 4 * np.hypot(se, ref.std() / np.sqrt(len(ref))) + 1e-12
    assert abs(ours.std() - ref.std()) < 0.15 * ref.std() + 1e-12


def test_tables_match_per_prefix_values_and_full_paths_are_exact():
    chain = _chain()
    for task in (0, 1):
        for start in (0, 1):
            ex = rewards.potential_exact_table(chain, task, start)
            mc = rewards.mc_potential_table(chain, task, start, 7, _state(3))
            full = rewards.prefixes_at(chain, start, chain.L - 1)
            # a full path has no completion left: the estimate is its Rex exactly
            np.testing.assert_allclose(mc[-1, :len(full)], rex(chain, task, full), rtol=1e-12)
            np.testing.assert_allclose(ex[-1, :len(full)], rex(chain, task, full), rtol=1e-12)
            if start != chain.tasks[task][0]:
                assert not ex.any() and not mc.any()
            # the root potential is E_P[Rex | start] = sum_o P(o) Rex(o)
            paths = rewards.prefixes_at(chain, start, chain.L - 1)
            pp = np.prod(chain.P[np.arange(chain.L - 1), paths[:, :-1], paths[:, 1:]], axis=1)
            assert ex[0, 0] == pytest.approx(np.sum(pp * rex(chain, task, paths)))
            d = rewards.dprm_exact_table(chain, task, start, 0.5)
            h = np.sum(pp * np.exp(0.5 * rex(chain, task, paths)))
            assert d[0, 0] == pytest.approx(np.log(h) / 0.5)


# ------------------------------------------------------------------------------------------
# The chain of their seed-42 run, built directly (bu2025.build_chain builds the same)
# ------------------------------------------------------------------------------------------

def _authors_chain():
    from obandits.cot.bu2025 import Bu2025Config, build_chain

    return build_chain(Bu2025Config())


def test_seed42_chain_is_theirs():
    """l.45-117 with seed 42: (1,1)->1 and (2,1)->0 high, (2,0) has two high edges (1/2 each)."""
    c = _authors_chain()
    np.testing.assert_allclose(c.P[2, 0], [0.5, 0.5])
    np.testing.assert_allclose(c.P[1, 1], [0.1 / 1.1, 1 / 1.1])
    np.testing.assert_allclose(c.P[2, 1], [1 / 1.1, 0.1 / 1.1])


def _policies(chain):
    theta = np.log(chain.P)
    easy = theta.copy()
    easy[:, :, 0] += 3.0  # a collapsed model, like their fine-tuned ones
    return {"pretrained": theta, "REINFORCE": easy, "RAFT": easy, "PPO": easy,
            "Reinforce-rej": theta + 0.3}


QUIRKS = dict(quirk_orm_bon_all=True, quirk_task1_reward=True, quirk_mc_cache=True)


def _subsets(chain, task):
    """Every correct set C of an instance with its probability (valid CoTs independent)."""
    paths = scoring.all_paths(chain)
    p = rex(chain, task, paths)
    idx = np.flatnonzero(p > 0)
    out = []
    for mask in range(1 << len(idx)):
        inc = (mask >> np.arange(len(idx))) & 1 == 1
        out.append((idx[inc], float(np.prod(np.where(inc, p[idx], 1 - p[idx])))))
    return out


def _brute_miss(chain, task, q, k):
    return sum(w * (1 - q[c].sum()) ** k for c, w in _subsets(chain, task))


# ------------------------------------------------------------------------------------------
# Samplers against literal NumPy versions of their loops
# ------------------------------------------------------------------------------------------


def test_node_rules_follow_their_formulas():
    vals = np.array([[0.2, 0.5], [0.3, 0.3], [0.0, 0.0]])
    base = np.array([0.9, 0.1])
    t = samplers.node_policy("tilt", vals, base, 0.5)  # l.741: p * exp(A * T / beta)
    ref = base * np.exp(vals * 0.5)
    np.testing.assert_allclose(t, ref / ref.sum(1, keepdims=True))
    a = samplers.node_policy("argmax", vals)  # l.897-899
    np.testing.assert_allclose(a, [[0, 1], [0.5, 0.5], [0.5, 0.5]])
    s = samplers.node_policy("soft", vals, None, 0.5)  # l.862-863
    ref = np.exp(0.5 * vals)
    np.testing.assert_allclose(s, ref / ref.sum(1, keepdims=True))


def test_tas_candidate_sets_match_their_loop():
    """l.762-771: draw until N distinct; the set's law by subsets vs the loop itself."""
    chain = _authors_chain()
    q = np.full(16, 1 / 16)
    q[:8] = chain.P[0, 0, 0] / 8 * 2  # any non-uniform proposal will do
    q = q / q.sum()
    w, members = samplers.tas_candidate_sets(q, 15)
    assert w.sum() == pytest.approx(1.0) and members.sum(1).tolist() == [15] * len(w)
    rng = np.random.default_rng(5)
    n = 3000
    missing = np.empty(n, dtype=np.int64)
    cdf = np.cumsum(q)
    for i in range(n):
        seen: set = set()
        while len(seen) < 15:  # their while loop, draws taken 64 at a time
            for x in np.minimum(np.searchsorted(cdf, rng.random(64), side="right"), 15):
                seen.add(int(x))
                if len(seen) == 15:
                    break
        missing[i] = (set(range(16)) - seen).pop()
    freq = np.bincount(missing, minlength=16) / n
    prob = np.zeros(16)
    for wi, m in zip(w, members):
        prob[~m] += wi
    se = np.sqrt(prob * (1 - prob) / n)
    assert np.all(np.abs(freq - prob) <= 4.5 * se + 1e-12)


def test_bon_distribution_matches_literal_best_of_n():
    chain = _authors_chain()
    rng = np.random.default_rng(6)
    q = rng.dirichlet(np.ones(16))
    r = rex(chain, 0, scoring.all_paths(chain))
    d = samplers.bon_distribution(q, r, 4)
    assert d.sum() == pytest.approx(1.0)
    n = 20000
    cand = rng.choice(16, size=(n, 4), p=q)
    sc = r[cand] + 1e-15 * rng.random(cand.shape)  # random order among ties
    pick = cand[np.arange(n), sc.argmax(1)]
    freq = np.bincount(pick, minlength=16) / n
    assert np.all(np.abs(freq - d) <= 4.5 * np.sqrt(d * (1 - d) / n) + 1e-12)


def test_their_orm_bon_with_n_below_k_returns_every_candidate():
    """l.797-799: argsort(rewards)[::-1][:K] with N=15 < K=30 keeps all 15, unsorted by any
    selection: the row is the proposal itself, 15 paths a call."""
    chain = _authors_chain()
    rows = scoring.score(chain, scoring.EvalSettings(**QUIRKS), _policies(chain),
                    np.random.default_rng(0), mode="exact", strategies=("Base Model", "ORM-BoN"))
    base, bon = rows[0], rows[1]
    assert bon["k"] == 15 and base["k"] == 30
    for m in ("easy", "hard", "invalid"):
        assert bon[m] == pytest.approx(base[m])
    top = samplers.bon_top_sample(np.full(16, 1 / 16), np.arange(16.0), 15, 30, 3,
                            np.random.default_rng(1))
    assert top.shape == (3, 15)
    top = samplers.bon_top_sample(np.full(16, 1 / 16), np.arange(16.0), 15, 2, 50,
                            np.random.default_rng(1))
    assert top.shape == (50, 2) and np.all(top[:, 0] >= top[:, 1])


# ------------------------------------------------------------------------------------------
# Exact scoring against brute force
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [0, 1])
def test_exact_miss_of_a_fixed_distribution_enumerates_instances(task):
    """The K draws share one instance: E_C[(1 - q(C))^K] over the 2^4 correct sets, not
    1 - (1 - p)^K."""
    chain = _authors_chain()
    q = np.random.default_rng(task).dirichlet(np.ones(16))
    p = rex(chain, task, scoring.all_paths(chain))
    for k in (1, 2, 30):
        got = scoring.exact_miss(chain, scoring.Plan(k, q=q), p)
        assert got == pytest.approx(_brute_miss(chain, task, q, k), rel=1e-12, abs=1e-15)
    naive = (1 - np.sum(q * p)) ** 30
    assert abs(scoring.exact_miss(chain, scoring.Plan(30, q=q), p) - naive) > 1e-3


def test_exact_miss_of_a_frozen_argmax_tree_enumerates_every_cache():
    """PRM-BoN with their cache: every combination of the 7 nodes' outcomes (tie or a winner)
    times every correct set."""
    import itertools

    chain = _authors_chain()
    st = scoring.EvalSettings(quirk_mc_cache=True, N=3)
    b = scoring._Builder(chain, st, {}, "exact", _state(0), {}, np.random.default_rng(0))
    plan = b.build("PRM-BoN", 0)
    nodes = [nd for level in plan.tree for nd in level]
    assert all(len(w) <= 3 for w, _ in nodes) and len(nodes) == 7
    p = rex(chain, 0, scoring.all_paths(chain))
    ref = 0.0
    for combo in itertools.product(*[range(len(w)) for w, _ in nodes]):
        wt = np.prod([nodes[i][0][j] for i, j in enumerate(combo)])
        pis, i = [], 0
        for level in plan.tree:
            pis.append(np.stack([nodes[i + c][1][combo[i + c]] for c in range(len(level))]))
            i += len(level)
        q = scoring._embed(chain, 0, samplers.tree_leaf_probs(pis))
        ref += wt * _brute_miss(chain, 0, q, 30)
    assert scoring.exact_miss(chain, plan, p) == pytest.approx(ref, rel=1e-10)


def test_mix_moments_two_child_shortcut_equals_convolution():
    rng = np.random.default_rng(3)
    R, K = 200, 12
    pi0 = rng.random(R)
    pi0[:3] = (0.0, 1.0, 0.5)  # certain children and a tie
    pi = np.stack([pi0, 1 - pi0], axis=1)
    w = rng.dirichlet(np.ones(R))
    cm = np.cumprod(rng.uniform(0.5, 1, (2, K + 1)), axis=1)
    cm[:, 0] = 1
    b = moments._binom(K)
    full = moments.mix_moments_nb(w, pi, cm, b)
    np.testing.assert_allclose(moments.mix_moments(w, pi, cm, b), full, rtol=1e-12)
    assert moments.mix_moments(w, pi, cm, b, top_only=True)[K] == pytest.approx(full[K], rel=1e-12)


@pytest.mark.parametrize("task", [0, 1])
def test_exact_coverage_and_pass_of_models_and_base(task):
    chain = _authors_chain()
    pol = _policies(chain)
    rows = scoring.score(chain, scoring.EvalSettings(), pol, np.random.default_rng(0), mode="exact",
                    strategies=("Base Model", "REINFORCE"))
    rows = [r for r in rows if r["task"] == f"TASK{task + 1}"]
    s0 = chain.tasks[task][0]
    Q = scoring.transition_arrays({"m": pol["REINFORCE"]}, "theta", 1.0)["m"]
    from obandits.cot.chain import coverage

    for r, Qm, w in ((rows[0], chain.P, 0.5), (rows[1], Q, 1.0)):
        e, h, i = coverage(chain, task, Qm)  # Spec 2 §4 from the task's start
        assert r["easy"] == pytest.approx(w * e) and r["hard"] == pytest.approx(w * h)
        assert r["invalid"] == pytest.approx(1 - w * (e + h))
    # the Base row: the true chain from a uniformly random start (l.221-231)
    q = np.zeros(16)
    q[s0 * 8:(s0 + 1) * 8] = samplers.tree_leaf_probs(
        samplers.markov_node_policies(chain.P, s0)) / 2
    q[(1 - s0) * 8:(2 - s0) * 8] = samplers.tree_leaf_probs(
        samplers.markov_node_policies(chain.P, 1 - s0)) / 2
    assert rows[0]["pass_at_k"] == pytest.approx(1 - _brute_miss(chain, task, q, 30))


# ------------------------------------------------------------------------------------------
# Step-by-step samplers: their loops (l.713-748, l.837-936) with a given cache
# ------------------------------------------------------------------------------------------


def _literal_path(chain, rule, cache, start, rng, Q_base=None, strength=1.0):
    """One path of PPOSampler.sample_path / potential_bon_sampling / dprm_bon_sampling /
    dprm_sampling, the reward values read from ``cache[prefix]``."""
    path = [start]
    for l in range(chain.L - 1):
        vals = np.array([cache[tuple(path + [a])] for a in range(chain.M)])
        if rule == "tilt":  # l.729-742; V(path) is common to all children
            w = Q_base[l, path[-1]] * np.exp((vals - cache[tuple(path)]) * strength)
        elif rule == "soft":  # l.856-863
            w = np.exp(vals * strength)
        else:  # l.890-899
            best = [a for a in range(chain.M) if vals[a] == vals.max()]
            w = np.isin(np.arange(chain.M), best).astype(float)
        path.append(int(rng.choice(chain.M, p=w / w.sum())))
    return tuple(path)


@pytest.mark.parametrize("rule,lam", [("tilt", 0.0), ("argmax", 0.0), ("argmax", 0.5),
                                      ("soft", 0.5)])
def test_table_policies_match_their_step_loops(rule, lam):
    chain = _authors_chain()
    start = 0
    table = (rewards.dprm_mc_table(chain, 0, start, 3, lam, _state(4)) if lam
             else rewards.mc_potential_table(chain, 0, start, 3, _state(4)))
    cache = {}
    for d in range(chain.L):
        for c, pre in enumerate(rewards.prefixes_at(chain, start, d)):
            cache[tuple(int(x) for x in pre)] = table[d, c]
    Qb = scoring.transition_arrays({"p": np.log(chain.P) + 0.2}, "theta", 1.0)["p"]
    strength = lam if rule == "soft" else 0.5
    pis = samplers.table_node_policies(chain, rule, table, start, strength, Qb)
    q = samplers.tree_leaf_probs(pis)
    rng = np.random.default_rng(8)
    n = 4000
    paths = rewards.prefixes_at(chain, start, chain.L - 1)
    index = {tuple(int(x) for x in p): i for i, p in enumerate(paths)}
    freq = np.bincount([index[_literal_path(chain, rule, cache, start, rng, Qb, strength)]
                        for _ in range(n)], minlength=len(paths)) / n
    assert q.sum() == pytest.approx(1.0)
    assert np.all(np.abs(freq - q) <= 4.5 * np.sqrt(q * (1 - q) / n) + 1e-12)


@pytest.mark.parametrize("rule,lam", [("argmax", 0.0), ("soft", 0.5), ("tilt", 0.0)])
def test_node_outcome_law_matches_drawn_caches(rule, lam):
    """The enumerated law of a node's next-state distribution over the Monte-Carlo noise equals
    that of caches drawn by the compiled estimator (root node of TASK1, N = 3)."""
    chain = _authors_chain()
    base = chain.P[0, 0]
    w, pis = samplers.node_realisations(chain, rule, 0, 0, 0, 0, 3, lam, 0.5, base)
    assert w.sum() == pytest.approx(1.0) and np.allclose(pis.sum(1), 1.0)
    st = _state(9)
    n = 3000
    draws = np.empty(n)
    for i in range(n):
        t = (rewards.dprm_mc_table(chain, 0, 0, 3, lam, st) if lam
             else rewards.mc_potential_table(chain, 0, 0, 3, st))
        draws[i] = samplers.table_node_policies(chain, rule, t, 0, 0.5, chain.P)[0][0, 0]
    mean = float(w @ pis[:, 0])
    var = float(w @ (pis[:, 0] - mean) ** 2)
    assert abs(draws.mean() - mean) <= 4.5 * np.sqrt(var / n) + 1e-12
    assert draws.var() == pytest.approx(var, rel=0.15, abs=1e-9)


# ------------------------------------------------------------------------------------------
# Sampled scoring agrees with exact scoring within sampling noise
# ------------------------------------------------------------------------------------------


def test_sampled_agrees_with_exact_within_binomial_noise():
    """Default settings (values drawn afresh, no shared cache): the instances, the calls and
    the paths are independent, so a sampled pass@K over ``reps * num_trials`` instances and a
    coverage share over ``reps * num_trials * k`` paths are binomial proportions around the
    exact values; tolerance 4.5 binomial standard errors (88 comparisons)."""
    chain = _authors_chain()
    pol = _policies(chain)
    st = scoring.EvalSettings(num_trials=100, K=10, N=4)
    exact = scoring.score(chain, st, pol, np.random.default_rng(0), mode="exact")
    reps = 12
    rng = np.random.default_rng(1)
    acc = np.zeros((len(exact), 4))
    for _ in range(reps):
        rows = scoring.score(chain, st, pol, rng, mode="sampled")
        acc += [[r[m] for m in scoring.METRICS] for r in rows]
    acc /= reps
    for r, a in zip(exact, acc):
        for j, m in enumerate(scoring.METRICS):
            n = reps * st.num_trials * (1 if m == "pass_at_k" else r["k"])
            se = np.sqrt(r[m] * (1 - r[m]) / n)
            assert abs(a[j] - r[m]) <= 4.5 * se + 1e-12, (r["strategy"], r["task"], m)


def test_sampled_agrees_with_exact_under_their_quirks():
    """Their conventions and quirks: one frozen cache per run correlates a run's numbers, so
    the tolerance is 4.5 standard errors of the mean over independent runs (each run's own
    spread), plus the binomial error of one run as a floor."""
    chain = _authors_chain()
    pol = _policies(chain)
    st = scoring.EvalSettings(num_trials=60, K=10, N=4, **QUIRKS)
    exact = scoring.score(chain, st, pol, np.random.default_rng(0), mode="exact")
    reps = 40
    rng = np.random.default_rng(2)
    runs = np.array([[[r[m] for m in scoring.METRICS] for r in scoring.score(chain, st, pol, rng,
                                                                  mode="sampled")]
                     for _ in range(reps)])
    mean, sd = runs.mean(0), runs.std(0, ddof=1)
    for i, r in enumerate(exact):
        for j, m in enumerate(scoring.METRICS):
            n = st.num_trials * (1 if m == "pass_at_k" else r["k"])
            floor = np.sqrt(r[m] * (1 - r[m]) / n) / np.sqrt(reps)
            assert abs(mean[i, j] - r[m]) <= 4.5 * max(sd[i, j] / np.sqrt(reps), floor) + 1e-12, \
                (r["strategy"], r["task"], m)


# ------------------------------------------------------------------------------------------
# Properties on random chains
# ------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402


def _random_chain(seed, eps):
    from obandits.cot.chain import TreeChain

    rng = np.random.default_rng(seed)
    high = rng.random((3, 2, 2)) < 0.5
    high[:, :, 0] |= ~high[:, :, 1]  # every state keeps one high successor
    w = np.where(high, 1.0, eps)
    return TreeChain(paper_config(), high, w / w.sum(axis=2, keepdims=True),
                     np.array([2, 2, 2, 2]))


@settings(max_examples=15, deadline=None)
@given(seed=hs.integers(0, 10**6), eps=hs.floats(0.01, 1.0), n_mc=hs.integers(1, 6),
       lam=hs.floats(0.05, 5.0))
def test_reward_values_lie_in_unit_interval(seed, eps, n_mc, lam):
    chain = _random_chain(seed, eps)
    for task in (0, 1):
        for start in (0, 1):
            for t in (rewards.potential_exact_table(chain, task, start),
                      rewards.dprm_exact_table(chain, task, start, lam),
                      rewards.mc_potential_table(chain, task, start, n_mc, _state(seed)),
                      rewards.dprm_mc_table(chain, task, start, n_mc, lam, _state(seed))):
                assert np.all(t >= -1e-12) and np.all(t <= 1 + 1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=hs.integers(0, 10**6), eps=hs.floats(0.02, 1.0), quirks=hs.booleans(),
       N=hs.integers(1, 5))
def test_every_plan_is_a_distribution_and_pass_grows_with_k(seed, eps, quirks, N):
    chain = _random_chain(seed, eps)
    rng = np.random.default_rng(seed)
    pol = {k: rng.normal(size=(3, 2, 2)) for k in ("pretrained",) + scoring.MODELS}
    extra = QUIRKS if quirks else {}
    prev = None
    for K in (N, N + 2, N + 7):  # their ORM-BoN has no exact score with N > K
        st = scoring.EvalSettings(K=K, N=N, **extra)
        b = scoring._Builder(chain, st, scoring.transition_arrays(pol, "theta", 1.0), "exact",
                             _state(0), {}, rng)
        for name in scoring.STRATEGIES:
            for task in (0, 1):
                plan = b.build(name, task)
                assert plan.mean_q(chain).sum() == pytest.approx(1.0)
                if plan.mix_q is not None:
                    np.testing.assert_allclose(plan.mix_q.sum(1), 1.0)
                    assert plan.mix_w.sum() == pytest.approx(1.0)
        rows = scoring.score(chain, st, pol, rng, mode="exact")
        cur = np.array([r["pass_at_k"] for r in rows])
        assert np.all((cur >= -1e-12) & (cur <= 1 + 1e-12))
        if prev is not None:
            assert np.all(cur >= prev - 1e-12)
        prev = cur


# ------------------------------------------------------------------------------------------
# Their quirks and conventions
# ------------------------------------------------------------------------------------------


def test_task1_reward_makes_task2_step_samplers_uniform():
    """l.1337-1339 pass no task_id: TASK2 prefixes get TASK1's reward, 0 everywhere, so PRM-BoN,
    DPRM-BoN and DPRM pick uniformly: 12.5 / 37.5 / 50 % (their seed-42 run: 12.7 / 37.5 / 49.8,
    11.7 / 38.7 / 49.6, 13.0 / 37.4 / 49.6). Per-task rewards select TASK2's easy CoT."""
    chain = _authors_chain()
    pol = _policies(chain)
    names = ("PRM-BoN", "DPRM-BoN", "DPRM")
    for quirk in (True, False):
        rows = scoring.score(chain, scoring.EvalSettings(quirk_task1_reward=quirk), pol,
                        np.random.default_rng(0), mode="exact", strategies=names)
        t2 = [r for r in rows if r["task"] == "TASK2"]
        for r in t2:
            if quirk:
                assert (r["easy"], r["hard"], r["invalid"]) == pytest.approx((0.125, 0.375, 0.5))
            elif r["strategy"] != "DPRM":
                assert r["easy"] > 0.9


def test_conventions_denominator_and_base_start():
    chain = _authors_chain()
    pol = _policies(chain)
    rng = np.random.default_rng(0)
    kw = dict(mode="exact", strategies=("Base Model", "PPO", "ORM-TAS", "ORM-BoN"))
    a = scoring.score(chain, scoring.EvalSettings(), pol, rng, **kw)
    s = scoring.score(chain, scoring.EvalSettings(denominator="solvable"), pol, rng, **kw)
    t = scoring.score(chain, scoring.EvalSettings(base_start="task"), pol, rng, **kw)
    for task in (0, 1):
        p = rex(chain, task, scoring.all_paths(chain))
        solvable = 1 - np.prod(1 - p[p > 0])
        for x, y in zip(a, s):
            assert y["pass_at_k"] == pytest.approx(x["pass_at_k"] / solvable) or \
                x["task"] != f"TASK{task + 1}"
    from obandits.cot.chain import valid_mass

    for r in t:
        task = int(r["task"][-1]) - 1
        if r["strategy"] == "Base Model":
            assert r["invalid"] == pytest.approx(1 - valid_mass(chain, task))
        if r["strategy"] == "ORM-TAS":  # N=15 > 8 paths from one start: all 8 are candidates
            s0 = chain.tasks[task][0]
            r_own = rex(chain, task, scoring.all_paths(chain))[s0 * 8:(s0 + 1) * 8]
            e = np.exp(0.5 * r_own)
            inv = e[r_own == 0].sum() / e.sum()
            assert r["invalid"] == pytest.approx(inv)


def test_ppo_table_is_shared_with_the_samplers():
    """Their PPO, GRPO-KL and PRM-BoN read one cached TASK1 potential per prefix: a table
    passed in is used (here a table favouring the hard first step 0 -> 1)."""
    chain = _authors_chain()
    t = rewards.potential_exact_table(chain, 0, 0)
    t[1, :2] = [0.0, 1.0]
    rows = scoring.score(chain, scoring.EvalSettings(**QUIRKS), _policies(chain),
                         np.random.default_rng(0),
                    mode="sampled", strategies=("PRM-BoN",),
                    tables={scoring.potential_key(chain, 15): t})
    assert rows[0]["hard"] == 1.0
    with pytest.raises(ValueError, match="tables"):
        scoring.score(chain, scoring.EvalSettings(**QUIRKS), _policies(chain),
                      np.random.default_rng(0),
                 strategies=("PRM-BoN",), tables={scoring.potential_key(chain, 15): t[:2]})


def test_score_reads_a_bu2025_config():
    from obandits.cot.bu2025 import Bu2025Config

    chain = _authors_chain()
    rows = scoring.score(chain, Bu2025Config.authors(scoring="exact"), _policies(chain),
                    np.random.default_rng(0))
    assert [r["strategy"] for r in rows] == list(scoring.STRATEGIES) * 2
    assert {r["task"] for r in rows} == {"TASK1", "TASK2"}
    orm_bon = [r for r in rows if r["strategy"] == "ORM-BoN"]
    assert all(r["k"] == 15 for r in orm_bon)  # the quirk is on in the authors' preset
    assert len(scoring.tidy(rows)) == 4 * len(rows)


def test_bad_input_names_the_field():
    chain = _authors_chain()
    pol = _policies(chain)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="strategies"):
        scoring.score(chain, scoring.EvalSettings(), pol, rng, strategies=("ORM-BoN", "PRM-BON"))
    with pytest.raises(ValueError, match="pretrained"):
        scoring.score(chain, scoring.EvalSettings(), {"PPO": pol["PPO"]}, rng,
                 strategies=("PPO", "GRPO-KL"))
    with pytest.raises(ValueError, match="mode"):
        scoring.score(chain, scoring.EvalSettings(), pol, rng, mode="expected")
    with pytest.raises(ValueError, match="policies\\['PPO'\\]"):
        scoring.score(chain, scoring.EvalSettings(), {**pol, "PPO": np.zeros((3, 2))}, rng)
    with pytest.raises(ValueError, match="policies\\['PPO'\\]"):
        scoring.score(chain, scoring.EvalSettings(), {**pol, "PPO": np.zeros((3, 2, 3))}, rng)
    for field, value in (("K", 0), ("N", 0), ("num_trials", 0), ("denominator", "some"),
                         ("base_start", "first"), ("tau", 0.0), ("quirk_mc_cache", "yes")):
        with pytest.raises(ValueError, match=field):
            scoring.EvalSettings(**{field: value})
    with pytest.raises(ValueError, match="N > K"):
        scoring.score(chain, scoring.EvalSettings(quirk_orm_bon_all=True, N=40), pol, rng,
                      mode="exact",
                 strategies=("ORM-BoN",))
    with pytest.raises(ValueError, match="n_mc"):
        rewards.mc_potential(chain, 0, [[0, 0]], 0, _state())


@pytest.mark.parametrize("quirks", [False, True])
def test_three_successors_sampled_agrees_with_exact(quirks):
    """M = 3 takes the general (not two-child) paths of the node rules and moments."""
    from obandits.cot.chain import ChainConfig

    chain = build_chain(ChainConfig(L=3, M0=2, M=3, C_size=1, eps=0.3, tasks=((0, 0), (1, 1)),
                                    easy_paths=((0, 0, 0), (1, 0, 1)), structure_seed=1))
    rng = np.random.default_rng(4)
    pol = {k: rng.normal(size=chain.P.shape) for k in ("pretrained",) + scoring.MODELS}
    st = scoring.EvalSettings(num_trials=80, K=6, N=3, **(QUIRKS if quirks else {}))
    exact = scoring.score(chain, st, pol, rng, mode="exact")
    reps = 25
    runs = np.array([[[r[m] for m in scoring.METRICS] for r in scoring.score(chain, st, pol, rng)]
                     for _ in range(reps)])
    mean, sd = runs.mean(0), runs.std(0, ddof=1)
    for i, r in enumerate(exact):
        for j, m in enumerate(scoring.METRICS):
            n = st.num_trials * (1 if m == "pass_at_k" else r["k"])
            floor = np.sqrt(r[m] * (1 - r[m]) / n / reps)
            tol = 4.5 * (max(sd[i, j] / np.sqrt(reps), floor) if quirks else floor)
            assert abs(mean[i, j] - r[m]) <= tol + 1e-12, (r["strategy"], r["task"], m)


# pass@K of the 22 rows (STRATEGIES x 2 tasks) scored exactly, computed by main's code at
# 63c25c9 (before the faster kernels) on the seed-0 authors' chain with the policies of
# _reference_policies: the kernels may reorder sums, never change a number beyond 1e-12.
_EXACT_REFERENCE = {
    "authors": ({}, (
        0.774502178931325, 0.7740142921624412, 0.7463655354480492, 0.5536259060198769,
        0.7915245445199757, 0.7176900433345524, 0.7582118352844531, 0.7390165273300655,
        0.7230516057212895, 0.7245203872859736, 0.7933525551338148, 0.9549629128958379,
        0.9537377253720128, 0.938450177733934, 0.9429112734696786, 0.8146896473797904,
        0.9575504818275455, 0.8312236108187783, 0.9261801573526327, 0.9409435953032625,
        0.9409435953032625, 0.9409435953032625,)),
    "per_task": ({"quirk_task1_reward": False}, (
        0.774502178931325, 0.7740142921624412, 0.7463655354480492, 0.5536259060198769,
        0.7915245445199757, 0.7176900433345524, 0.7582118352844531, 0.7390165273300655,
        0.7230516057212895, 0.7245203872859736, 0.7933525551338148, 0.9549629128958379,
        0.9537377253720128, 0.938450177733934, 0.9429112734696786, 0.8146896473797904,
        0.9575504818275455, 0.9220637317784834, 0.9261801573526327, 0.9555829450051837,
        0.9555829450051837, 0.9561942442171452,)),
    "fresh_mc": ({"quirk_mc_cache": False}, (
        0.774502178931325, 0.7740142921624412, 0.7463655354480492, 0.5536259060198769,
        0.7915245445199757, 0.7177954311048225, 0.7582118352844531, 0.7390165273300655,
        0.736866546873638, 0.7340010360062719, 0.7933983050970046, 0.9549629128958379,
        0.9537377253720128, 0.938450177733934, 0.9429112734696786, 0.8146896473797904,
        0.9575518716101645, 0.8312236108187783, 0.9261801573526327, 0.9409435953032625,
        0.9409435953032625, 0.9409435953032625,)),
    "clean": ({"quirk_task1_reward": False, "quirk_mc_cache": False, "base_start": "task",
               "quirk_orm_bon_all": False, "denominator": "solvable"}, (
        0.9907790900878963, 0.9714930033089553, 0.9367900605206765, 0.6948756626266731,
        0.9934707469033187, 0.9009307013921676, 0.9957386357046548, 0.9141818881074391,
        0.9248675404432106, 0.9212709353330201, 0.9958225707764595, 0.9983552329349302,
        0.9959396203650103, 0.9799756147626929, 0.9846341093102756, 0.8507388106203377,
        0.9999225385776245, 0.9980174216183779, 0.9979819426706079, 0.9979810187411786,
        0.9979810187411786, 0.9985578299514274,)),
    "N8_K12": ({"N": 8, "K": 12, "quirk_task1_reward": False}, (
        0.7138191392026523, 0.6260887680574817, 0.5656620789410776, 0.3560190711829293,
        0.7060538175421469, 0.5192978247225792, 0.704616038422587, 0.6419893960720374,
        0.6866753302920903, 0.697344049360649, 0.7208294562853519, 0.8964514102342652,
        0.8547533031354178, 0.7610574323037776, 0.7806295526576108, 0.5167664432538688,
        0.9493073880256476, 0.8738973901797298, 0.8059280525476935, 0.949156125224552,
        0.949156125224552, 0.8886497470660689)),
}
# coverage (easy, hard, invalid) of ORM-TAS on TASK1 and TASK2 in the authors' setting
_TAS_COVERAGE_REFERENCE = ((0.09237329870128534, 0.18921090467915697, 0.718415796619512),
                          (0.06418956182271446, 0.17280307708574472, 0.7630073610914954))


def _reference_policies(chain):
    rng = np.random.default_rng(3)
    return {m: 0.5 * rng.standard_normal(chain.P.shape) for m in ("pretrained",) + scoring.MODELS}


@pytest.mark.parametrize("name", list(_EXACT_REFERENCE))
def test_exact_scores_equal_the_reference_implementation(name):
    """Exact scoring is deterministic: the same numbers as before the fast kernels."""
    from obandits.cot.bu2025 import Bu2025Config
    from obandits.cot.bu2025 import build_chain as build_bu_chain

    cfg = Bu2025Config.authors(seed=0)
    chain = build_bu_chain(cfg)
    overrides, ref = _EXACT_REFERENCE[name]
    rows = scoring.score(chain, cfg, _reference_policies(chain), np.random.default_rng(0),
                    mode="exact", **overrides)
    got = np.array([r["pass_at_k"] for r in rows])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    if name == "authors":
        tas = [r for r in rows if r["strategy"] == "ORM-TAS"]
        for r, cov in zip(tas, _TAS_COVERAGE_REFERENCE):
            np.testing.assert_allclose([r["easy"], r["hard"], r["invalid"]], cov, rtol=0,
                                       atol=1e-12)


def test_first_distinct_law_equals_ordered_enumeration():
    """The subset pass of _first_distinct_nb against the sum over ordered draws of distinct
    items (o_1..o_k): prod_i q_{o_i} / (1 - q(o_1..o_{i-1}))."""
    from itertools import permutations

    from obandits.cot.bu2025.samplers import _first_distinct_nb

    q = np.random.default_rng(4).dirichlet(np.ones(6))
    for n_keep in (0, 1, 3, 5, 6):
        masks, prob = _first_distinct_nb(q, n_keep)
        ref = {}
        for seq in permutations(range(6), n_keep):
            p, used = 1.0, 0.0
            for o in seq:
                p *= q[o] / (1 - used)
                used += q[o]
            key = sum(1 << o for o in seq)
            ref[key] = ref.get(key, 0.0) + p
        assert sorted(masks.tolist()) == sorted(ref)
        np.testing.assert_allclose(prob, [ref[m] for m in masks], rtol=1e-12, atol=1e-15)
        assert prob.sum() == pytest.approx(1.0, rel=1e-12)
