"""Bu et al.'s learner, pretraining and fine-tuning (obandits.cot.bu2025.train, issue 14).

The references below follow their script (``multi_task_tmc.py``, l.253-651) in THEIR layout
(``thetas[l]`` of shape ``(M_{l+1}, M_l)``, updates ``np.outer(grad, e_s)``), drawing from the
same :mod:`obandits.nbrng` stream in the same order as the kernels, so kernel and reference
must agree to rounding.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from obandits.cot.bu2025 import FINETUNE_METHODS, Bu2025Config, build_chain
from obandits.cot.bu2025 import train as bt
from obandits.cot.bu2025.authors import authors_script, load_script, script_missing
from obandits.cot.bu2025.rewards import potential_exact_table
from obandits.cot.chain import coverage, rex
from obandits.cot.instances import make_instances
from obandits.cot.learner import policy, support_error
from obandits.cot.posttrain import RLConfig, post_train
from obandits.nbrng import categorical_cdf, randint, uniform

CFG = Bu2025Config()
CHAIN = build_chain(CFG)


def _state(seed):
    return bt.nb_state(np.random.default_rng(seed))


def _theirs(theta):
    """Our (L-1, Mx, M) layout -> their dict of (M_{l+1}, M_l) matrices."""
    return {l: theta[l, :CHAIN.n_states[l], :].T.copy() for l in range(theta.shape[0])}


def _ours(thetas, like):
    out = np.zeros_like(like)
    for l, t in thetas.items():
        out[l, :t.shape[1], :] = t.T
    return out


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _predict(thetas, l, s):
    return _softmax(thetas[l] @ np.eye(thetas[l].shape[1])[:, s])


def _grad_logp(thetas, l, s, a):
    """Their ``_compute_grad_logp`` (l.610-616)."""
    p = _predict(thetas, l, s)
    g = -p
    g[a] = 1 - p[a]
    return np.outer(g, np.eye(thetas[l].shape[1])[:, s])


def _draw(st, p):
    """Inversion as obandits.cot.learner.draw."""
    u, acc = uniform(st), 0.0
    for j in range(len(p) - 1):
        acc += p[j]
        if u < acc:
            return j
    return len(p) - 1


def _sample(thetas, start, st):
    path = [start]
    for l in range(len(thetas)):
        path.append(_draw(st, _predict(thetas, l, path[-1])))
    return path


def _correct(inst, i, path):
    s, g = CHAIN.tasks[0]
    codes = inst.codes[inst.ptr[i]:inst.ptr[i + 1]]
    code = 0
    for x in path[1:-1]:
        code = code * CHAIN.M + x
    return float(path[-1] == g and code in codes)


def _completion(prefix, st, cdf):
    path = list(prefix)
    for l in range(len(prefix) - 1, CHAIN.L - 1):
        path.append(int(categorical_cdf(st, cdf[l, path[-1]])))
    return path


def _potential_mc(prefix, n, st, cdf):
    """Their ``potential_reward`` (l.953-981) without the cache: mean TASK1 Rex of ``n``
    true-chain completions."""
    return np.mean([rex(CHAIN, 0, [_completion(prefix, st, cdf)])[0] for _ in range(n)])


def _advantages(thetas, path, st, cdf, n, table=None, v_exact=False):
    """Their ``_compute_advantages`` (l.618-651)."""
    if table is None:
        pots = [_potential_mc(path[:i + 1], n, st, cdf) for i in range(len(path))]
    else:
        pots = [table[i, _code(path[:i + 1])] for i in range(len(path))]
    adv = []
    for i in range(len(path) - 1):
        p = _predict(thetas, i, path[i])
        value = 0.0
        for s2 in range(CHAIN.M):
            pre = path[:i + 1] + [s2]
            if v_exact:
                r = table[i + 1, _code(pre)]
            else:
                r = rex(CHAIN, 0, [_completion(pre, st, cdf)])[0]
            value += r * p[s2]
        adv.append(pots[i + 1] - value)
    return adv


def _code(prefix):
    c = 0
    for x in prefix[1:]:
        c = c * CHAIN.M + x
    return c


def _reference_finetune(theta, method, inst, n_iters, st, cfg, table=None, v_exact=False):
    """Their ``finetune`` loop (l.452-489) and update rules (l.491-608), their layout."""
    thetas = _theirs(theta)
    cdf = np.cumsum(CHAIN.P, axis=2)
    start = CHAIN.tasks[0][0]
    lr, skipped = cfg.finetune_lr, 0
    for _ in range(n_iters):
        i = int(randint(st, inst.n))
        if method == "Reinforce-rej":
            solved = False
            for _r in range(cfg.rej_threshold):  # their loop breaks at the first success
                if _correct(inst, i, _sample(thetas, start, st)):
                    solved = True
                    break
            if solved:
                skipped += 1
                continue
        path = _sample(thetas, start, st)
        R = _correct(inst, i, path)
        if method == "PPO":
            adv = _advantages(thetas, path, st, cdf, cfg.N, table, v_exact)
        for l in range(len(path) - 1):
            g = _grad_logp(thetas, l, path[l], path[l + 1])
            if method in ("REINFORCE", "Reinforce-rej"):
                thetas[l] += lr * R * g
            elif method == "RAFT":
                logp = np.log(_predict(thetas, l, path[l])[path[l + 1]])
                thetas[l] += lr * (1 + logp) * g * R
            else:
                sign = 2 * (adv[l] >= 0) - 1
                thetas[l] += lr * (1 + sign * cfg.clip_eps) * adv[l] * g
    return _ours(thetas, theta), skipped


@pytest.fixture(scope="module")
def pretrained():
    return bt.pretrain(CHAIN, CFG, np.random.default_rng(0))


@pytest.fixture(scope="module")
def inst():
    return make_instances(CHAIN, 0, 50, np.random.default_rng(1))


def test_init_is_their_layout_transposed():
    theta = bt.init_theta(CHAIN, CFG, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    for l in range(CHAIN.L - 1):
        theirs = rng.standard_normal((CHAIN.M, CHAIN.n_states[l])) * 0.1  # l.261
        np.testing.assert_array_equal(theta[l], theirs.T)


def test_init_scale_statistics():
    cfg = Bu2025Config(M=6, M0=6, L=5)
    chain = build_chain(cfg)
    x = np.concatenate([bt.init_theta(chain, cfg, np.random.default_rng(s)).ravel()
                        for s in range(40)])
    assert abs(x.mean()) < 4 * 0.1 / np.sqrt(x.size)
    assert x.std() == pytest.approx(0.1, rel=4 / np.sqrt(2 * x.size))


def test_pretrain_matches_their_sgd():
    """Their ``train`` (l.372-450): one true-chain path per step, uniform start, eta then
    eta/2; same stream as learner.pretrain_nb (start, then one categorical draw per layer)."""
    cfg = CFG.with_(T1=60, T2=40)
    rng = np.random.default_rng(3)
    got = bt.pretrain(CHAIN, cfg, rng)
    rng = np.random.default_rng(3)
    theta = bt.init_theta(CHAIN, cfg, rng)
    st = bt.nb_state(rng)
    thetas = _theirs(theta)
    cdf = np.cumsum(CHAIN.P, axis=2)
    for t in range(cfg.T1 + cfg.T2):
        eta = cfg.eta if t < cfg.T1 else cfg.eta * 0.5
        path = _completion([int(randint(st, CHAIN.n_states[0]))], st, cdf)
        for l in range(len(path) - 1):
            target = np.zeros(CHAIN.M)
            target[path[l + 1]] = 1
            probs = _predict(thetas, l, path[l])
            thetas[l] -= eta * np.outer(probs - target, np.eye(thetas[l].shape[1])[:, path[l]])
    np.testing.assert_allclose(got, _ours(thetas, theta), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", FINETUNE_METHODS)
def test_finetune_matches_their_update_rules(pretrained, inst, method):
    """Each rule against their code: REINFORCE l.491-508, RAFT (1 + log p) l.510-538,
    PPO (MC potential - one-sample value, clip-scaled) l.540-577 + l.618-651, rej l.579-608."""
    cfg = CFG.with_(finetune_iterations=40, rej_threshold=2)
    st = _state(11)
    stats = {}
    theta = pretrained.copy()
    theta[0, 0] += [0.0, 1.5]  # make the rare CoTs frequent so every branch is exercised
    got = bt.finetune_state(CHAIN, theta, method, cfg, st.copy(), inst, stats=stats)
    ref, skipped = _reference_finetune(theta, method, inst, 40, st.copy(), cfg)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert stats["skipped"] == skipped
    assert stats["updates"] > 0
    if method == "Reinforce-rej":
        assert 0 < skipped < 40


def test_ppo_exact_and_cached_tables(pretrained, inst):
    table = potential_exact_table(CHAIN, 0, 0)
    cfg = CFG.with_(finetune_iterations=30, ppo_potential="exact")
    st = _state(4)
    got = bt.finetune_state(CHAIN, pretrained, "PPO", cfg, st.copy(), inst)
    ref, _ = _reference_finetune(pretrained, "PPO", inst, 30, st.copy(), cfg, table, True)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    # a given (frozen) table: Q read from it, V still one-sample as theirs
    frozen = table + 0.01
    cfg = CFG.with_(finetune_iterations=30)
    got = bt.finetune_state(CHAIN, pretrained, "PPO", cfg, st.copy(), inst, pot_table=frozen)
    ref, _ = _reference_finetune(pretrained, "PPO", inst, 30, st.copy(), cfg, frozen, False)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_ppo_advantage_mc_is_unbiased_for_the_exact_one(pretrained):
    """E[Q_mc] = potential and E[V_one-sample] = sum_s' p(s') potential(prefix + s'), so the
    mean MC advantage along a fixed path equals the exact-table one."""
    table = potential_exact_table(CHAIN, 0, 0)
    path = np.array([0, 0, 1, 0])
    L, M = CHAIN.L, CHAIN.M
    args = (CHAIN.P, np.cumsum(CHAIN.P, axis=2), 0, 0, 1.0 / rex_norm(), CFG.N)
    buf = (np.empty(L), np.empty(L - 1), np.empty(M), np.empty(L, np.int64))
    bt.ppo_advantages_nb(pretrained, path, *args, table, True, True, _state(0), *buf)
    exact = buf[1].copy()
    Q = policy(pretrained)
    for l in range(L - 1):  # the exact formula, by hand
        pre = list(path[:l + 1])
        v = sum(Q[l, path[l], s2] * table[l + 1, _code(pre + [s2])] for s2 in range(M))
        assert exact[l] == pytest.approx(table[l + 1, _code(list(path[:l + 2]))] - v, abs=1e-15)
    st = _state(1)
    draws = []
    for _ in range(3000):
        bt.ppo_advantages_nb(pretrained, path, *args, np.zeros((1, 1)), False, False, st, *buf)
        draws.append(buf[1].copy())
    draws = np.array(draws)
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - exact) < 5 * se + 1e-12)


def rex_norm():
    from obandits.cot.chain import valid_mass

    return valid_mass(CHAIN, 0)


@settings(max_examples=20, deadline=None)
@given(hs.sampled_from(FINETUNE_METHODS), hs.sampled_from(("authors", "group")),
       hs.integers(0, 2**31))
def test_row_sums_of_theta_are_invariant(method, variant, seed):
    """Every update is a multiple of e_a - p, so no row sum of theta moves."""
    cfg = CFG.with_(finetune_iterations=50, rl_variant=variant, T1=50, T2=10)
    rng = np.random.default_rng(seed)
    theta0 = bt.init_theta(CHAIN, cfg, np.random.default_rng(seed))
    pre = bt.pretrain(CHAIN, cfg, np.random.default_rng(seed))
    np.testing.assert_allclose(pre.sum(axis=2), theta0.sum(axis=2), atol=1e-12)
    out = bt.finetune(CHAIN, pre, method, cfg, rng)
    np.testing.assert_allclose(out.sum(axis=2), pre.sum(axis=2), atol=1e-12)


def test_group_variant_is_posttrain(pretrained, inst):
    cfg = CFG.with_(rl_variant="group", finetune_iterations=30, n_rollouts=4, ppo_epochs=3)
    for method, name, reject in [("PPO", "ppo", 0), ("Reinforce-rej", "reinforce", 5),
                                 ("RAFT", "raft", 0)]:
        st = _state(9)
        got = bt.finetune_state(CHAIN, pretrained, method, cfg, st.copy(), inst)
        run = post_train(CHAIN, pretrained, inst, RLConfig(method=name, iters=30, n_rollouts=4,
                                                           lr=0.05, clip_eps=0.2, ppo_epochs=3,
                                                           reject=reject), st.copy())
        np.testing.assert_array_equal(got, run.theta)


def test_pretraining_approaches_the_chain_on_the_support():
    """Their budgets (T1=2000, T2=500, eta=0.05): the max error on the support falls from
    ~0.45 at init to a few hundredths (their seed-42 log: 0.029), and the mean pretrained
    transition over seeds is near the truth (SGD's stationary noise and bias remain)."""
    errs, inits, Qs = [], [], []
    for s in range(30):
        rng = np.random.default_rng(100 + s)
        inits.append(support_error(CHAIN, policy(bt.init_theta(CHAIN, CFG,
                                                               np.random.default_rng(100 + s)))))
        th = bt.pretrain(CHAIN, CFG, rng)
        errs.append(support_error(CHAIN, policy(th)))
        Qs.append(policy(th))
    assert max(errs) < 0.15 and np.median(errs) < 0.06
    assert np.median(inits) > 0.3
    assert np.abs(np.mean(Qs, axis=0) - CHAIN.P).max() < 0.04
    short = [support_error(CHAIN, policy(bt.pretrain(CHAIN, CFG.with_(T1=100, T2=0),
                                                     np.random.default_rng(100 + s))))
             for s in range(30)]
    assert np.median(short) > 2 * np.median(errs)


def test_reinforce_concentrates_on_the_easy_cot():
    """The paper's phenomenon: REINFORCE on TASK1 drives the easy CoT 0000 toward all of the
    mass (their seed-42 run: 94.5% easy), and TASK2, never trained, collapses (97% invalid);
    Reinforce-rej keeps TASK1's easy share near the base's."""
    for s in range(5):
        rng = np.random.default_rng(200 + s)
        th = bt.pretrain(CHAIN, CFG, rng)
        inst = bt.finetune_instances(CHAIN, CFG, rng)
        easy0 = coverage(CHAIN, 0, policy(th))[0]
        rl = policy(bt.finetune(CHAIN, th, "REINFORCE", CFG, rng, reward=inst))
        rej = policy(bt.finetune(CHAIN, th, "Reinforce-rej", CFG, rng, reward=inst))
        assert easy0 < 0.6
        assert coverage(CHAIN, 0, rl)[0] > 0.85
        assert coverage(CHAIN, 1, rl)[2] > 0.9
        assert coverage(CHAIN, 0, rej)[0] < easy0 + 0.3


def test_bad_input_named(pretrained, inst):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="method"):
        bt.finetune(CHAIN, pretrained, "GRPO", CFG, rng)
    with pytest.raises(ValueError, match="theta0"):
        bt.finetune(CHAIN, pretrained[:2], "RAFT", CFG, rng)
    with pytest.raises(ValueError, match="theta0"):
        bt.finetune(CHAIN, pretrained * np.nan, "RAFT", CFG, rng)
    with pytest.raises(ValueError, match="reward"):
        bt.finetune(CHAIN, pretrained, "RAFT", CFG, rng,
                    reward=make_instances(CHAIN, 1, 5, rng))
    with pytest.raises(ValueError, match="pot_table"):
        bt.finetune(CHAIN, pretrained, "PPO", CFG, rng, reward=inst, pot_table=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        bt.pretrain(CHAIN, CFG, 0)


AUTHORS_SCRIPT = authors_script()  # $OBANDITS_BU2025_SCRIPT, or None


def _exact_coverages(theta):
    Q = policy(theta)
    return np.array(coverage(CHAIN, 0, Q) + coverage(CHAIN, 1, Q))


@pytest.mark.slow
@pytest.mark.skipif(AUTHORS_SCRIPT is None, reason=script_missing())
def test_training_agrees_with_their_code():
    """Their own classes (seed-42 chain, their budgets, their fine-tuning set of 200 TASK1
    instances) against ours over many seeds: the exact TASK1 / TASK2 (easy, hard, invalid)
    shares of each trained policy must agree within sampling noise (4 combined standard
    errors + 0.5 points). Ours with ``quirk_mc_cache`` (their PPO reads frozen potentials).
    ~5 s per seed of theirs (4 by default);
    ``BU2025_THEIR_SEEDS=100 pytest -s -m slow -k agrees`` prints the table of the report."""
    import contextlib
    import io
    import os

    mod = load_script(AUTHORS_SCRIPT)
    n_theirs = int(os.environ.get("BU2025_THEIR_SEEDS", "4"))
    names = ("base",) + FINETUNE_METHODS
    theirs = {k: [] for k in names}
    for s in range(n_theirs):
        with contextlib.redirect_stdout(io.StringIO()):
            tm = mod.TMC(L=4, M0=2, M=2, C_size=1, seed=42)
            np.random.seed(1000 + s)  # their script's only generator is NumPy's global one
            base = mod.LinearSoftmaxModel([2, 2, 2, 2])
            base.train(tm, T1=2000, T2=500, eta=0.05, eval_interval=10**9)
            rm = mod.RewardModel(tm, mc_budget=1000)
            inst = mod.generate_question_instances(tm, 200, "TASK1")
            models = {"base": base}
            for m in FINETUNE_METHODS:
                fm = mod.LinearSoftmaxModel([2, 2, 2, 2])
                fm.thetas = {l: base.thetas[l].copy() for l in base.thetas}
                fm.finetune(tm, rm, inst, method=m, iterations=1000, lr=0.05, beta=1.0,
                            epsilon_clip=0.2, N=15, rej_threshold=5, eval_k=1,
                            progress_interval=10**9)
                models[m] = fm
        for k, model in models.items():
            theirs[k].append(_exact_coverages(_ours(model.thetas, np.zeros_like(CHAIN.P))))
    cfg = CFG.with_(quirk_mc_cache=True)
    ours = {k: [] for k in names}
    for s in range(200):
        rng = np.random.default_rng(7000 + s)
        th = bt.pretrain(CHAIN, cfg, rng)
        inst = bt.finetune_instances(CHAIN, cfg, rng)
        ours["base"].append(_exact_coverages(th))
        for m in FINETUNE_METHODS:
            ours[m].append(_exact_coverages(bt.finetune(CHAIN, th, m, cfg, rng, reward=inst)))
    for k in names:
        a, b = np.array(theirs[k]), np.array(ours[k])
        se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
        print(f"{k:14s} theirs {np.round(100 * a.mean(0), 1)} ours {np.round(100 * b.mean(0), 1)}"
              f" 1.96 se {np.round(196 * se, 1)}")
        assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se + 0.005), k
