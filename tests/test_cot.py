"""Tests of the tree Markov chain model (Spec 2): layer DP against brute-force enumeration,
exact policy gradients against finite differences and against the compiled kernel, the
closed-form KL tilt, pretraining, selection rules, bad configurations, and the CLI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from obandits.bonuses import BonusConfig
from obandits.cot import chain as C
from obandits.cot.instances import (
    Instances,
    exact_pass_at_k,
    make_instances,
    mc_pass_at_k,
    success_probs,
)
from obandits.cot.learner import PretrainConfig, policy, pretrain, support_error
from obandits.cot.posttrain import RL_METHODS, RLConfig, exact_gradient, objective, post_train
from obandits.cot.select import SelectConfig, select_pool
from obandits.seeding import rep_generators, rep_states

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def random_chain(seed: int):
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 6))
    M0 = int(rng.integers(1, 4))
    M = int(rng.integers(2, 4))
    csize = int(rng.integers(1, M + 1))
    eps = float(rng.uniform(0.05, 1.0))
    tasks, paths = [], []
    for _ in range(int(rng.integers(1, 3))):
        p = (int(rng.integers(M0)),) + tuple(int(x) for x in rng.integers(M, size=L - 1))
        tasks.append((p[0], p[-1]))
        paths.append(p)
    cfg = C.ChainConfig(L=L, M0=M0, M=M, C_size=csize, eps=eps, tasks=tuple(tasks),
                        easy_paths=tuple(paths), structure_seed=seed)
    ch = C.build_chain(cfg)
    theta = rng.normal(size=ch.P.shape)
    return ch, policy(theta), theta, rng


def all_paths(ch, start):
    return C.enumerate_paths(ch, start)


def brute_rex(ch, task, paths):
    s, g = ch.tasks[task]
    allp = all_paths(ch, s)
    pr = C.path_prob(ch.P, allp)
    Z = pr[allp[:, -1] == g].sum()
    out = []
    for o in paths:
        ok = o[0] == s and o[-1] == g
        out.append(np.prod([ch.P[l, o[l], o[l + 1]] for l in range(ch.L - 1)]) / Z if ok
                   else 0.0)
    return np.array(out)


# ------------------------------------------------------------------------------------------
# Dynamic programming against enumeration
# ------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(hs.integers(0, 10_000))
def test_dp_matches_enumeration(seed):
    ch, Q, _, rng = random_chain(seed)
    for task, (s, g) in enumerate(ch.tasks):
        allp = all_paths(ch, s)
        q = C.path_prob(Q, allp)
        assert q.sum() == pytest.approx(1.0, abs=1e-12)
        valid = allp[:, -1] == g
        easy = C.is_easy(ch, allp)
        # masses
        assert C.valid_mass(ch, task, Q) == pytest.approx(q[valid].sum(), abs=1e-12)
        e, h, i = C.coverage(ch, task, Q)
        assert e == pytest.approx(q[valid & easy].sum(), abs=1e-12)
        assert h == pytest.approx(q[valid & ~easy].sum(), abs=1e-12)
        assert i == pytest.approx(q[~valid].sum(), abs=1e-12)
        # Rex, and the per-code probabilities of the valid CoTs
        r = C.rex(ch, task, allp)
        np.testing.assert_allclose(r, brute_rex(ch, task, allp), atol=1e-12)
        assert r.sum() == pytest.approx(1.0)
        vp = C.valid_paths(ch, task)
        np.testing.assert_array_equal(C.path_codes(ch, vp), np.arange(len(vp)))
        np.testing.assert_allclose(C.valid_path_probs(ch, task, Q), C.path_prob(Q, vp),
                                   atol=1e-14)
        # PRM potential and DPRM value of every prefix, against sums over completions
        lam = float(rng.uniform(0.5, 8.0))
        for l in range(ch.L):
            prefixes = np.unique(allp[:, :l + 1], axis=0)
            pot = C.potential(ch, task, Q, prefixes)
            dv = C.dprm_value(ch, task, Q, prefixes, lam)
            for pre, pv, d in zip(prefixes, pot, dv):
                m = np.all(allp[:, :l + 1] == pre, axis=1)
                cond = q[m] / q[m].sum()
                assert pv == pytest.approx(np.sum(cond * r[m]), abs=1e-12)
                assert d == pytest.approx(np.log(np.sum(cond * np.exp(lam * r[m]))) / lam,
                                          rel=1e-9, abs=1e-12)
        # state-conditional step advantages
        A = C.state_advantages(ch, task, Q)
        for l in range(ch.L - 1):
            for st in range(ch.n_states[l]):
                at = allp[:, l] == st
                if q[at].sum() == 0:
                    continue
                v = np.sum(q[at] * r[at]) / q[at].sum()
                for a in range(ch.M):
                    m = at & (allp[:, l + 1] == a)
                    qv = np.sum(q[m] * r[m]) / q[m].sum()
                    assert A[l, st, a] == pytest.approx(qv - v, abs=1e-12)


def test_large_tree_without_enumeration():
    ch = C.build_chain(C.two_task_config(L=10, M0=4, M=4, C_size=1, eps=0.1))
    assert ch.M ** (ch.L - 1) * 4 > 1_000_000  # a million paths, never listed below
    Q = policy(np.random.default_rng(0).normal(size=ch.P.shape))
    for task in range(2):
        e, h, i = C.coverage(ch, task, Q)
        assert e + h + i == pytest.approx(1.0)
        assert 0 < e < 1 and 0 < h < 1
        pre = np.array([[ch.tasks[task][0], 0, 0]])
        assert 0 < C.potential(ch, task, Q, pre)[0] < 1
        assert np.isfinite(C.dprm_value(ch, task, Q, pre, 3.0)[0])
    # the mass of every valid CoT sums to the valid mass
    assert C.valid_path_probs(ch, 0, Q).sum() == pytest.approx(C.valid_mass(ch, 0, Q))


def test_paper_preset_structure():
    ch = C.build_chain(C.paper_config())
    assert ch.P[0, 0, 0] == pytest.approx(1 / 1.1)  # 0.909 vs 0.091
    assert ch.P[0, 0, 1] == pytest.approx(0.1 / 1.1)
    for task, easy in ((0, (0, 0, 0, 0)), (1, (1, 0, 0, 1))):
        allp = C.enumerate_paths(ch, ch.tasks[task][0])
        ok = (allp[:, -1] == ch.tasks[task][1]) & C.is_easy(ch, allp)
        assert [tuple(p) for p in allp[ok]] == [easy]
    # the easy CoTs share the transition 0 -> 0 between layers 1 and 2
    assert ch.high[1, 0, 0]


# ------------------------------------------------------------------------------------------
# KL-tilted closed form
# ------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(hs.integers(0, 10_000), hs.floats(0.05, 5.0))
def test_kl_tilt_normalised_and_limits(seed, tau):
    ch, Q, _, _ = random_chain(seed)
    for task in range(len(ch.tasks)):
        Pk = C.kl_tilted_policy(ch, task, Q, tau, 0.3)
        for l in range(ch.L - 1):
            n = ch.n_states[l]
            np.testing.assert_allclose(Pk[l, :n].sum(axis=1), 1.0, atol=1e-12)
            assert (Pk[l, :n] > 0).all()
        far = C.kl_tilted_policy(ch, task, Q, tau, 1e9)
        np.testing.assert_allclose(far, Q, atol=1e-8)
        # the tilt is exactly exponential in the advantage: log(p / p_base) - tau A / beta is
        # one constant per state (the log-normaliser), and the advantage has mean 0 under Q
        A = C.state_advantages(ch, task, Q)
        for l in range(ch.L - 1):
            n = ch.n_states[l]
            d = np.log(Pk[l, :n] / Q[l, :n]) - tau * A[l, :n] / 0.3
            np.testing.assert_allclose(d, d[:, :1] * np.ones_like(d), atol=1e-10)
            np.testing.assert_allclose((Q[l, :n] * A[l, :n]).sum(axis=1), 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# Exact policy gradients: finite differences, and the compiled kernel's expected update
# ------------------------------------------------------------------------------------------


def _small_setup(seed=3):
    ch = C.build_chain(C.paper_config())
    rng = np.random.default_rng(seed)
    theta = rng.normal(scale=0.5, size=ch.P.shape)
    base = rng.normal(scale=0.5, size=ch.P.shape)
    inst = make_instances(ch, 0, 40, rng)
    return ch, theta, base, inst


@pytest.mark.parametrize("method", RL_METHODS)
@pytest.mark.parametrize("kl_beta", [0.0, 0.7])
def test_exact_gradient_matches_finite_differences(method, kl_beta):
    ch, theta, base, inst = _small_setup()
    g = exact_gradient(method, ch, inst, theta, base, kl_beta)
    from obandits.cot.chain import forward

    alpha = forward(policy(theta), ch.tasks[0][0])  # held fixed (stop-gradient)
    h = 1e-6
    fd = np.zeros_like(theta)
    for idx in itertools.product(*map(range, theta.shape)):
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += h
        tm[idx] -= h
        fd[idx] = (objective(method, ch, inst, tp, base, kl_beta, alpha)
                   - objective(method, ch, inst, tm, base, kl_beta, alpha)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-7, rtol=1e-5)


def _one_instance(ch, task, codes):
    codes = np.sort(np.asarray(codes, np.int64))
    vp = C.valid_paths(ch, task)
    has_easy = bool(C.is_easy(ch, vp[codes]).any()) if len(codes) else False
    return Instances(task, np.array([0, len(codes)]), codes, np.array([has_easy]),
                     np.array([len(codes) > 0]))


@pytest.mark.parametrize("method", RL_METHODS)
def test_kernel_update_is_unbiased_for_exact_gradient(method):
    """One iteration with a huge group: (theta1 - theta0) / lr -> the exact gradient of the
    method's population objective (module docstring of posttrain)."""
    ch = C.build_chain(C.paper_config())
    theta = np.random.default_rng(1).normal(scale=0.3, size=ch.P.shape)
    inst = _one_instance(ch, 0, [0, 3])  # CoTs 0000 and 0110 correct
    lr, G = 1e-3, 200_000
    cfg = RLConfig(method=method, iters=1, n_rollouts=G, lr=lr, ppo_epochs=1, snap_every=1)
    run = post_train(ch, theta, inst, cfg, rep_states(7, f"kernel/{method}", 1)[0])
    got = (run.theta - theta) / lr
    want = exact_gradient(method, ch, inst, theta)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=0.03 * scale)


def test_kernel_kl_penalty_matches_exact():
    ch = C.build_chain(C.paper_config())
    rng = np.random.default_rng(2)
    theta, base = rng.normal(scale=0.5, size=(2,) + ch.P.shape)
    inst = _one_instance(ch, 0, [])  # unsolvable: only the KL term moves theta
    lr, G, beta = 1e-3, 200_000, 0.8
    cfg = RLConfig(method="reinforce", iters=1, n_rollouts=G, lr=lr, kl_beta=beta, snap_every=1)
    run = post_train(ch, theta, inst, cfg, rep_states(8, "kl", 1)[0], theta_base=base)
    got = (run.theta - theta) / lr
    solvable = _one_instance(ch, 0, [0])
    want = (exact_gradient("reinforce", ch, solvable, theta, base, beta)
            - exact_gradient("reinforce", ch, solvable, theta))
    np.testing.assert_allclose(got, want, atol=0.02 * np.abs(want).max())


def test_grpo_bonus_uses_shared_kernel_and_is_reproducible():
    ch = C.build_chain(C.paper_config())
    theta = np.zeros(ch.P.shape)
    inst = make_instances(ch, 0, 20, np.random.default_rng(0))
    st = rep_states(0, "bonus", 1)[0]

    def run(**kw):
        return post_train(ch, theta, inst, RLConfig(method="grpo", iters=50, **kw),
                          st.copy()).theta

    plain = run()
    np.testing.assert_array_equal(plain, run())  # same seed, same numbers
    np.testing.assert_array_equal(plain, run(bonus=BonusConfig(method="ucb-con", c=0.0)))
    assert not np.allclose(plain, run(bonus=BonusConfig(method="ucb-con", c=1.0)))
    assert not np.allclose(plain, run(bonus=BonusConfig(method="batch", c=1.0),
                                      bonus_outcome="path"))
    # count_mode "after" (the shared count helpers) changes the numbers, "before" is main's
    assert not np.allclose(run(bonus=BonusConfig(method="ucb-con", c=1.0)),
                           run(bonus=BonusConfig(method="ucb-con", c=1.0, count_mode="after")))


# ------------------------------------------------------------------------------------------
# Pretraining, instances, pass@K, selection
# ------------------------------------------------------------------------------------------


def test_pretraining_recovers_transitions():
    """Stated tolerance: max |p_theta - P| on the support <= 0.05 after the paper's schedule
    (measured ~0.02), starting from 0.41 (uniform init)."""
    ch = C.build_chain(C.paper_config())
    theta, err = pretrain(ch, PretrainConfig(), rep_states(0, "pretrain-test", 1)[0])
    assert err[0] > 0.2
    assert support_error(ch, policy(theta)) <= 0.05
    assert err[-1] == pytest.approx(support_error(ch, policy(theta)))


def test_instances_draw_rex_and_pass_at_k():
    ch = C.build_chain(C.paper_config())
    gen = rep_generators(0, "inst", 1)[0]
    inst = make_instances(ch, 0, 20000, gen)
    r = C.rex(ch, 0, C.valid_paths(ch, 0))
    freq = np.bincount(inst.codes, minlength=len(r)) / inst.n
    np.testing.assert_allclose(freq, r, atol=0.015)
    assert inst.rare_only.any() and inst.has_easy.any()
    # exact p_q against a Monte-Carlo pool of policy samples
    theta = np.random.default_rng(0).normal(size=ch.P.shape)
    small = make_instances(ch, 0, 300, gen)
    pool = select_pool(ch, 0, theta, SelectConfig(method="sample", pool=40000),
                       rep_states(1, "pool", 1)[0])
    for k in (1, 5):
        assert mc_pass_at_k(small, ch, pool, k) == pytest.approx(
            exact_pass_at_k(ch, small, policy(theta), k), abs=0.01)
    p = success_probs(ch, small, policy(theta))
    assert ((p >= 0) & (p <= 1)).all()


def test_dprm_sampling_is_the_tilted_distribution():
    ch = C.build_chain(C.paper_config())
    theta = np.random.default_rng(4).normal(size=ch.P.shape)
    Q, lam = policy(theta), 3.0
    pool = select_pool(ch, 0, theta, SelectConfig(method="dprm", lam=lam, pool=100_000),
                       rep_states(2, "dprm", 1)[0])
    allp = C.enumerate_paths(ch, 0)
    w = C.path_prob(Q, allp) * np.exp(lam * C.rex(ch, 0, allp))
    w /= w.sum()
    code = np.zeros(len(pool), np.int64)
    for l in range(1, ch.L):
        code = code * ch.M + pool[:, l]
    emp = np.bincount(code, minlength=len(allp)) / len(pool)
    np.testing.assert_allclose(emp, w, atol=0.006)


def test_orm_and_prm_best_of_n_favour_the_easy_cot():
    ch = C.build_chain(C.paper_config())
    theta = np.log(ch.P + 1e-300)  # the true chain as the policy
    for meth in ("orm-bon", "prm-bon"):
        pool = select_pool(ch, 0, theta, SelectConfig(method=meth, n=8, pool=5000),
                           rep_states(3, meth, 1)[0])
        easy = (pool[:, -1] == 0) & C.is_easy(ch, pool)
        assert easy.mean() > 0.9  # sampling alone: 0.41
    one = select_pool(ch, 0, theta, SelectConfig(method="orm-bon", n=1, pool=5000),
                      rep_states(3, "n1", 1)[0])
    samp = select_pool(ch, 0, theta, SelectConfig(method="sample", pool=5000),
                       rep_states(3, "n1", 1)[0])
    np.testing.assert_array_equal(one, samp)  # best of one draw is the draw


# ------------------------------------------------------------------------------------------
# Bad configurations
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, msg", [
    (dict(eps=0.0), "eps"), (dict(eps=1.5), "eps"), (dict(eps=float("nan")), "eps"),
    (dict(C_size=3), "C_size must be <= M"), (dict(C_size=0), "C_size"),
    (dict(L=1), "L must be >= 2"), (dict(M=1), "M must be >= 2"),
    (dict(tasks=((0, 5),), easy_paths=None), "unreachable"),
    (dict(tasks=((4, 0),), easy_paths=None), "start"),
    (dict(tasks=()), "at least one"),
    (dict(easy_paths=((0, 0, 0, 1), (1, 0, 0, 1))), "must start at 0 and end at 0"),
    (dict(easy_paths=((0, 0, 0),)), "one path per task"),
])
def test_bad_chain_configs(kw, msg):
    with pytest.raises(ValueError, match=msg):
        C.ChainConfig(**kw)


def test_target_unreachable_by_high_edges():
    # M=3, one high successor each, no forced easy CoT: some (start, target) has no easy CoT
    found = False
    for seed in range(20):
        for g in range(3):
            cfg = C.ChainConfig(L=3, M0=1, M=3, tasks=((0, g),), easy_paths=None,
                                structure_seed=seed)
            try:
                C.build_chain(cfg)
            except ValueError as e:
                assert "unreachable" in str(e)
                found = True
    assert found


@pytest.mark.parametrize("kw, msg", [
    (dict(method="sgd"), "method"), (dict(lr=0.0), "lr"), (dict(n_rollouts=0), "n_rollouts"),
    (dict(bonus=BonusConfig(method="ucb-con")), "GRPO only"),
    (dict(method="grpo", bonus="ucb"), "BonusConfig"), (dict(clip_eps=0.0), "clip_eps"),
    (dict(ppo_epochs=0), "ppo_epochs"), (dict(bonus_outcome="cot"), "bonus_outcome"),
    (dict(kl_beta=-1.0), "kl_beta"), (dict(reject=-2), "reject"),
])
def test_bad_rl_configs(kw, msg):
    with pytest.raises(ValueError, match=msg):
        RLConfig(**kw)


def test_path_outcome_refused_on_large_trees():
    ch = C.build_chain(C.two_task_config(L=10, M0=2, M=4))
    inst = _one_instance(ch, 0, [0])
    big = Instances(0, np.repeat(inst.ptr[-1:], 201) * 0, inst.codes[:0],
                    np.zeros(200, bool), np.zeros(200, bool))
    with pytest.raises(ValueError, match="count table"):
        post_train(ch, np.zeros(ch.P.shape), big,
                   RLConfig(method="grpo", bonus=BonusConfig(method="batch"), bonus_outcome="path"),
                   rep_states(0, "x", 1)[0])


def test_large_tree_post_training_runs():
    ch = C.build_chain(C.two_task_config(L=10, M0=4, M=4))
    gen = np.random.default_rng(0)
    inst = make_instances(ch, 0, 20, gen)
    theta = np.log(ch.P + 1e-300)
    rc = RLConfig(method="grpo", iters=50, n_rollouts=64, bonus=BonusConfig(method="ucb-con"))
    run = post_train(ch, theta, inst, rc, rep_states(0, "big", 1)[0])
    assert np.isfinite(run.theta).all()
    assert run.snaps.shape[0] == 3


# ------------------------------------------------------------------------------------------
# CLI end to end
# ------------------------------------------------------------------------------------------

TINY = ["--reps", "2", "--iters", "20", "--n-eval", "100", "--pool", "300", "--T1", "40",
        "--T2", "10", "--n-train", "20", "--quiet", "--workers", "1"]


def test_cli_end_to_end(tmp_path):
    from obandits.cli import main

    out, fig = tmp_path / "res", tmp_path / "fig"
    rc = main(["cot", "all", *TINY, "--small-grid", "--out", str(out), "--figures", str(fig)])
    assert rc == 0
    for name in ("paper", "forgetting", "sensitivity", "bonuses"):  # sweep directories
        d = out / name
        assert (d / "summary.md").read_text().startswith("###")
        assert (d / "results.csv").exists() and (d / "manifest.json").exists()
        assert "claims hold" in (d / "checks.md").read_text()
        assert not list(d.glob("*.json")) or [p.name for p in d.glob("*.json")] == [
            "manifest.json"]  # no JSON results path any more
    assert "forgetting: rare-CoT mass" in (out / "forgetting" / "summary.md").read_text()
    assert "sensitivity: rare-CoT mass kept" in (out / "sensitivity" / "summary.md").read_text()
    for name in ("coverage", "forgetting", "sensitivity", "bonuses"):
        assert (fig / f"cot_{name}.png").stat().st_size > 1000
    rc = main(["cot-experiments", *TINY, "--small-grid", "--L", "5", "--out", str(out / "L5"),
               "--no-figures"])
    assert rc == 0
    assert "L=5" in (out / "L5" / "paper" / "summary.md").read_text()


def test_cli_rejects_bad_input(capsys):
    from obandits.cli import main

    assert main(["cot", "paper", "--eps", "0"]) == 2
    assert "eps" in capsys.readouterr().err
    assert main(["cot", "paper", "--C-size", "3"]) == 2
    assert "C_size" in capsys.readouterr().err
    assert main(["cot", "forgetting", "--preset", "bu2025"]) == 2
    assert "cot paper" in capsys.readouterr().err
    assert main(["cot", "paper", "--iters", "x"]) == 2  # a usage error: one line, status 2
    assert "--iters" in capsys.readouterr().err


def test_rejection_skips_solved_instances_and_raft_needs_a_correct_cot():
    ch = C.build_chain(C.paper_config())
    theta = np.zeros(ch.P.shape)
    theta[:, :, 0] = 20.0  # always 0 -> ... -> 0: TASK1's easy CoT, code 0
    solved = _one_instance(ch, 0, [0])
    run = post_train(ch, theta, solved, RLConfig(iters=30, reject=1), rep_states(0, "r", 1)[0])
    assert run.rejected == 30 and run.updates == 0
    np.testing.assert_array_equal(run.theta, theta)
    assert (run.reward_trace == -1).all()
    unsolved = _one_instance(ch, 0, [3])
    run = post_train(ch, theta, unsolved, RLConfig(method="raft", iters=30),
                     rep_states(0, "r", 1)[0])
    assert run.updates == 0  # no correct CoT drawn: RAFT has nothing to imitate
    np.testing.assert_array_equal(run.theta, theta)
    run = post_train(ch, theta, solved, RLConfig(method="reinforce", iters=5),
                     rep_states(0, "r", 1)[0])
    assert run.updates == 5 and (run.reward_trace == 1).all()


def test_pool_smaller_than_k_is_rejected_not_blanked():
    from obandits.cot.experiments import ExperimentConfig

    with pytest.raises(ValueError, match="select.pool must be >= k"):
        ExperimentConfig(select=SelectConfig(pool=10), k=30)
    with pytest.raises(ValueError, match="lam must be <= 200"):
        SelectConfig(lam=600.0)
