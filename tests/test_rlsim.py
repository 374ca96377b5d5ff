"""Tests of the rlsim model, trainer, experiment and command (Spec 1 §1-4)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.bonuses import METHODS, BonusConfig, advantages_with_history, shaped_advantages
from obandits.cli import main as cli_main
from obandits.counts import CountTable
from obandits.metrics import pass_at_k
from obandits.rlsim.experiment import (
    BASE,
    ExperimentConfig,
    bandit_regret,
    claims,
    regret_comparison,
    run_comparison,
    summarise,
)
from obandits.rlsim.model import ModelConfig, build_model, from_bandit_instance
from obandits.rlsim.trainer import TrainConfig, batch_surrogate, policy_probs, run_training

SMALL = ModelConfig(n_train=12, n_test=6, n_traces=10, n_answers=5, seed=3)


def small_train(method="none", **kw) -> TrainConfig:
    base = dict(bonus=BonusConfig(method=method, c=0.5, b0=0.5), n_rollouts=4, batch_prompts=4,
                steps=12, n_evals=4)
    base.update(kw)
    return TrainConfig(**base)


# ------------------------------------------------------------------------------- the model


def test_model_is_a_function_of_its_seed_with_a_difficulty_spread():
    a, b = build_model(ModelConfig(seed=5)), build_model(ModelConfig(seed=5))
    assert np.array_equal(a.phi, b.phi) and np.array_equal(a.base_logits, b.base_logits)
    assert not np.array_equal(a.base_logits, build_model(ModelConfig(seed=6)).base_logits)
    q = a.correct_prob(a.base_probs())
    # easy, hard and practically-unsolved problems all occur at the default parameters
    assert q.max() > 0.5 and np.median(q) < 0.2 and (q < 1 / 256).mean() > 0.05
    assert (a.phi == 0).sum(1).min() >= ModelConfig().min_correct_traces


def test_harder_difficulty_lowers_base_accuracy():
    easy = build_model(ModelConfig(difficulty_mean=-1.0, seed=1))
    hard = build_model(ModelConfig(difficulty_mean=-5.0, seed=1))
    assert (easy.correct_prob(easy.base_probs()).mean()
            > 3 * hard.correct_prob(hard.base_probs()).mean())


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_traces=1), "n_traces"), (dict(n_answers=1), "n_answers"),
    (dict(share=-0.1), "share"), (dict(difficulty_sd=float("nan")), "difficulty_sd"),
    (dict(skill_corr=1.5), "skill_corr"), (dict(min_correct_traces=64), "min_correct_traces"),
    (dict(correct_frac=2.0), "correct_frac"), (dict(seed=-1), "seed"),
])
def test_bad_model_parameters_are_rejected(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_rollouts=0), "n_rollouts must"), (dict(steps=0), "steps"),
    (dict(lr_theta=-1.0), "lr_theta"),
    (dict(steps=5, n_evals=6), "n_evals"), (dict(ks=()), "ks"), (dict(ks=(0,)), "ks entry"),
    (dict(kl_beta=float("inf")), "kl_beta"), (dict(kl_beta=3.0), "diverge"),
    (dict(hard_q=2.0), "hard_q"),
    (dict(bonus="ucb"), "bonus"),
])
def test_bad_train_parameters_are_rejected(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TrainConfig(**kwargs)


def test_bad_model_arrays_and_experiment_parameters_are_rejected():
    m = build_model(SMALL)
    with pytest.raises(ValueError, match="phi must map"):
        replace(m, phi=m.phi + 10)
    with pytest.raises(ValueError, match="base_logits"):
        replace(m, base_logits=m.base_logits[:, :3])
    with pytest.raises(ValueError, match="reward"):
        replace(m, reward="gaussian")
    with pytest.raises(ValueError, match="methods entry"):
        ExperimentConfig(methods=("grpo",))
    with pytest.raises(ValueError, match="reps"):
        ExperimentConfig(reps=0)
    with pytest.raises(ValueError, match="c must"):
        ExperimentConfig(c=-1.0)
    with pytest.raises(ValueError, match="model must be a Model"):
        run_training("model", small_train())


# ------------------------------------------------------------- bonuses are the shared code


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("count_mode", ["before", "after"])
def test_trainer_advantages_equal_the_shared_bonus_code(method, count_mode):
    model = build_model(SMALL)
    bonus = BonusConfig(method=method, c=0.7, b0=0.5, count_mode=count_mode)
    cfg = small_train(bonus=bonus, trace_steps=6)
    res = run_training(model, cfg, seed=1)
    tr = res.trace
    table = CountTable()
    nb = cfg.batch_prompts * cfg.n_rollouts
    assert (tr["bonus"] != 0).any() or method == "none"
    for s in range(cfg.trace_steps):
        sl = slice(s * nb, (s + 1) * nb)
        prompt, group, outcome, reward = (tr["problem"][sl], tr["group"][sl],
                                          tr["outcome"][sl], tr["reward"][sl])
        if count_mode == "before":
            np.testing.assert_array_equal(table.lookup(prompt, outcome), tr["count"][sl])
        adv = advantages_with_history(table, prompt, group, outcome, reward, bonus)
        if count_mode == "after":
            np.testing.assert_array_equal(table.lookup(prompt, outcome), tr["count"][sl])
        # the kernel's numbers are the shared kernel's, bit for bit ...
        np.testing.assert_array_equal(adv.total, tr["total"][sl])
        np.testing.assert_array_equal(adv.bonus, tr["bonus"][sl])
        # ... and agree with the NumPy reference of Spec 1 §2
        ref = shaped_advantages(group, outcome, reward, tr["count"][sl], bonus,
                                backend="numpy")
        np.testing.assert_allclose(ref.total, tr["total"][sl], rtol=1e-12, atol=1e-12)


def test_with_c_zero_every_method_is_plain_grpo_bit_for_bit():
    model = build_model(SMALL)
    ref = run_training(model, small_train("none", kl_beta=0.1), seed=2)
    for method in METHODS[1:]:
        cfg = small_train(kl_beta=0.1, bonus=BonusConfig(method=method, c=0.0, b0=0.5))
        res = run_training(model, cfg, seed=2)
        for name in ("theta", "w", "counts", "test_pass", "solved", "distinct_all",
                     "ent_sum", "grp_dist", "regret"):
            np.testing.assert_array_equal(getattr(res, name), getattr(ref, name), err_msg=name)


def test_a_positive_bonus_changes_the_run():
    model = build_model(SMALL)
    a = run_training(model, small_train("none"), seed=2)
    b = run_training(model, small_train("ucb-con"), seed=2)
    assert not np.array_equal(a.theta, b.theta)


# ------------------------------------------------------------------ the exact gradient


def _fd_check(model, theta, w, problems, ys, adv, beta, h=1e-6):
    g_t, g_w = np.zeros_like(theta), np.zeros_like(w)
    batch_surrogate(model.base_logits, model.feats, model.share, theta, w, problems, ys, adv,
                    beta, g_t, g_w)
    scratch_t, scratch_w = np.zeros_like(theta), np.zeros_like(w)

    def J(th, ww):
        return batch_surrogate(model.base_logits, model.feats, model.share, th, ww, problems,
                               ys, adv, beta, scratch_t, scratch_w)

    for p in set(problems.tolist()):
        for t in range(theta.shape[1]):
            e = np.zeros_like(theta)
            e[p, t] = h
            fd = (J(theta + e, w) - J(theta - e, w)) / (2 * h)
            assert fd == pytest.approx(g_t[p, t], abs=1e-6, rel=1e-5)
    for f in range(len(w)):
        e = np.zeros_like(w)
        e[f] = h
        fd = (J(theta, w + e) - J(theta, w - e)) / (2 * h)
        assert fd == pytest.approx(g_w[f], abs=1e-6, rel=1e-5)
    untouched = np.setdiff1d(np.arange(theta.shape[0]), problems)
    assert not g_t[untouched].any()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), beta=st.sampled_from([0.0, 0.3]),
       share=st.sampled_from([0.0, 0.7]))
def test_exact_gradient_matches_finite_differences(seed, beta, share):
    model = replace(build_model(SMALL), share=share)
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(model.n_problems, model.n_traces))
    w = rng.normal(size=model.feats.shape[2])
    problems = np.array([1, 4, 4, 7])  # a repeated problem accumulates both groups
    n = 3
    ys = rng.integers(0, model.n_traces, size=len(problems) * n)
    adv = rng.normal(size=len(ys))
    _fd_check(model, theta, w, problems, ys, adv, beta)


def test_trainer_step_is_the_exact_gradient_step():
    """One GRPO step moves theta by lr_theta * dJ/dtheta and w by lr_w/B * dJ/dw."""
    model = build_model(SMALL)
    cfg = small_train("ucb-con", steps=1, n_evals=1, trace_steps=1, kl_beta=0.2,
                      lr_theta=0.3, lr_w=0.7)
    res = run_training(model, cfg, seed=4)
    tr = res.trace
    problems = tr["problem"][:: cfg.n_rollouts]
    theta0 = np.zeros((model.n_problems, model.n_traces))
    g_t, g_w = np.zeros_like(theta0), np.zeros(model.feats.shape[2])
    batch_surrogate(model.base_logits, model.feats, model.share, theta0, np.zeros_like(g_w),
                    problems, tr["trace"], tr["total"], cfg.kl_beta, g_t, g_w)
    np.testing.assert_allclose(res.theta, cfg.lr_theta * g_t, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.w, cfg.lr_w * g_w / cfg.batch_prompts, rtol=1e-12,
                               atol=1e-14)
    assert np.abs(res.w).sum() > 0
    np.testing.assert_array_equal(model.phi[tr["problem"], tr["trace"]], tr["outcome"])


# ------------------------------------------------------------ base-sampling closed form


def test_base_sampling_discovery_matches_its_closed_form():
    cfg_m = ModelConfig(n_train=10, n_test=0, n_traces=12, n_answers=6, difficulty_mean=-3,
                        seed=9)
    model = build_model(cfg_m)
    cfg = TrainConfig(n_rollouts=4, batch_prompts=10, steps=20, n_evals=4, ks=(1,))
    reps = 300
    runs = [run_training(model, cfg, seed=0, rep=r, learn=False) for r in range(reps)]
    solved = np.stack([r.solved for r in runs]).astype(float)
    distinct = np.stack([r.distinct_all for r in runs]).astype(float)
    draws = runs[0].samples // model.n_train  # every problem once per step (batch = n_train)
    q = model.correct_prob(model.base_probs())
    pa = model.answer_probs(model.base_probs())
    exp_solved = np.array([(1 - (1 - q) ** s).sum() for s in draws])
    exp_distinct = np.array([(1 - (1 - pa) ** s).sum() for s in draws])
    for got, exp in ((solved, exp_solved), (distinct, exp_distinct)):
        se = got.std(0, ddof=1) / np.sqrt(reps)
        assert np.all(np.abs(got.mean(0) - exp) <= 4 * se + 1e-9), (got.mean(0), exp)
    # no learning: the policy is the base model and test pass@k is its exact value
    assert np.array_equal(runs[0].theta, np.zeros_like(runs[0].theta))


def test_exact_test_pass_at_k_agrees_with_the_unbiased_estimator():
    model = build_model(replace(SMALL, n_test=40))
    res = run_training(model, small_train(ks=(1, 4, 16)), seed=0, learn=False)
    q = model.correct_prob(model.base_probs())[model.n_train:]
    rng = np.random.default_rng(0)
    n = 4000
    c = rng.binomial(n, q)
    for i, k in enumerate((1, 4, 16)):
        assert res.test_pass[-1, i] == pytest.approx(np.mean(1 - (1 - q) ** k), rel=1e-12)
        assert res.test_pass[-1, i] == pytest.approx(np.mean(pass_at_k(np.full(len(q), n), c,
                                                                        k)), abs=0.02)


# ------------------------------------------------------------------------- learning


def test_grpo_learns_and_kl_keeps_the_policy_near_the_base():
    model = build_model(ModelConfig(n_train=32, n_test=8, seed=2))
    cfg = TrainConfig(n_rollouts=8, batch_prompts=16, steps=40, n_evals=2)
    free = run_training(model, cfg, seed=0)
    tied = run_training(model, replace(cfg, kl_beta=1.5), seed=0)
    assert free.train_pass1[-1] > free.train_pass1[0] > 0
    p0 = model.base_probs()

    def kl(res):
        pi = policy_probs(model, res.theta, res.w)
        return float((pi * (np.log(pi) - np.log(p0))).sum(1).mean())

    assert kl(tied) < kl(free) / 2
    # the trainer's policy is the one policy_probs describes: exact train pass@1 agrees
    q = model.correct_prob(policy_probs(model, free.theta, free.w))[: model.n_train]
    assert free.train_pass1[-1] == pytest.approx(q.mean(), rel=1e-10)


# ---------------------------------------------------------------- bandit instances


@dataclass(frozen=True)
class StandInInstance:
    """A local stand-in for obandits.bandit.instances.BanditInstance (duck typing)."""

    K: int
    m: int
    phi: np.ndarray
    mu: np.ndarray
    p0: np.ndarray | None
    reward: str


def test_a_bandit_instance_is_a_single_unshared_problem():
    inst = StandInInstance(6, 3, np.array([0, 1, 1, 2, 2, 2]), np.array([0.9, 0.5, 0.1]),
                           np.array([0.05, 0.15, 0.2, 0.2, 0.2, 0.2]), "bernoulli")
    model = from_bandit_instance(inst)
    assert model.n_problems == 1 and model.share == 0.0 and model.feats.shape == (1, 6, 0)
    np.testing.assert_allclose(model.base_probs()[0], inst.p0)
    np.testing.assert_array_equal(model.phi[0], inst.phi)
    uniform = from_bandit_instance(replace(inst, p0=None))
    np.testing.assert_allclose(uniform.base_probs()[0], np.full(6, 1 / 6))
    with pytest.raises(ValueError, match="missing"):
        from_bandit_instance(object())
    with pytest.raises(ValueError, match="p0"):
        from_bandit_instance(replace(inst, p0=np.full(6, 0.5)))


def test_bandit_regret_of_base_sampling_and_of_learners():
    inst = StandInInstance(8, 3, np.array([0, 1, 1, 1, 2, 2, 2, 2]), np.array([1.0, 0.0, 0.0]),
                           None, "deterministic")
    model = from_bandit_instance(inst)
    cfg = TrainConfig(n_rollouts=4, batch_prompts=1, steps=200, n_evals=1, ks=(1,))
    base = np.stack([run_training(model, cfg, rep=r, learn=False).regret for r in range(50)])
    # base sampling: expected regret per pull is mu* - E_p0[mu] = 7/8
    assert base.sum(1).mean() / 800 == pytest.approx(7 / 8, abs=0.01)
    reg = bandit_regret(inst, methods=("none", "ucb-con"), horizon=800, n_rollouts=4, reps=4)
    for r in reg.values():
        assert r.shape == (4, 800) and np.all(np.diff(r, axis=1) >= -1e-12)
        assert r[:, -1].mean() < 0.3 * 7 / 8 * 800  # learners beat base sampling
    table = regret_comparison(reg, {"UCB1 (other learner)": np.cumsum(np.ones((3, 400)), 1)})
    assert "UCB1 (other learner)" in table and "GRPO[UCB-Con]" in table and " - " in table
    with pytest.raises(ValueError, match="reps, T"):
        regret_comparison(reg, {"bad": np.ones(5)})


# ------------------------------------------------------------------------ experiment


def _tiny_experiment(**kw) -> ExperimentConfig:
    return ExperimentConfig(model=replace(SMALL, n_train=16, n_test=8),
                            train=TrainConfig(n_rollouts=4, batch_prompts=8, steps=8, n_evals=4),
                            reps=3, **kw)


def test_comparison_is_independent_of_the_thread_count_and_summarises():
    cfg = _tiny_experiment()
    one = run_comparison(cfg, workers=1, progress=False)
    two = run_comparison(cfg, workers=2, progress=False)
    assert set(one) == {*METHODS, BASE}
    for m in one:
        for a, b in zip(one[m], two[m]):
            np.testing.assert_array_equal(a.test_pass, b.test_pass)
            np.testing.assert_array_equal(a.counts, b.counts)
    tabs = summarise(one, cfg)
    assert {"discovery", "pass_early", "pass_late", "entropy", "distinct"} <= set(tabs)
    chk = claims(one, cfg)
    assert {c.claim for c in chk} == {"C1", "C2", "C3", "C4"}
    assert all(c.verdict in ("holds", "direction only", "no effect", "fails") for c in chk)


def test_cli_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    common = ["--reps", "2", "--steps", "4", "--n-train", "8", "--n-test", "4", "--batch", "4",
              "--n-rollouts", "4", "--quiet"]
    rc = cli_main(["rlsim", "compare", *common, "--out", str(tmp_path / "c")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Table 1 analogue" in text and "C1" in text and "pass@32" in text
    assert (tmp_path / "c" / "results.csv").is_file()
    for f in ("rlsim_discovery.png", "rlsim_training.png", "rlsim_passk.png"):
        assert (tmp_path / "c" / f).stat().st_size > 1000
    rc = cli_main(["rlsim", "sensitivity", *common, "--shares", "0,1", "--difficulties", "-2",
                   "--methods", "none,ucb-con,batch", "--out", str(tmp_path / "s")])
    text = capsys.readouterr().out
    assert rc == 0 and "share=0.0" in text and "share=1.0" in text and "C1" in text
    rc = cli_main(["rlsim", "bandit", "--K", "8", "--m", "3", "--horizon", "64", "--seeds", "2",
                   "--out", str(tmp_path / "b")])
    assert rc == 0 and (tmp_path / "b" / "rlsim_bandit_regret.png").exists()
    assert "GRPO learners" in (tmp_path / "b" / "bandit.md").read_text()
    assert cli_main(["rlsim", "bandit", "--out", str(tmp_path / "b.md")]) == 2  # a directory
    assert "--out is an output directory" in capsys.readouterr().err
    assert not (tmp_path / "b.md").exists()
    assert cli_main(["rlsim", "compare", *common, "--share", "-1", "--no-figures",
                     "--out", str(tmp_path / "x")]) == 2
    assert "share must be >= 0.0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_reference_regret_runs_the_bandit_simulators_learners():
    from obandits.rlsim.experiment import needle_instance, reference_regret

    inst = needle_instance(16, 3, seed=1)
    ref = reference_regret(inst, horizon=300, reps=3, seed=0)
    assert set(ref) == {"ucb1", "outcome-ucb"}
    for reg in ref.values():
        assert reg.shape == (3, 300)
        assert (reg >= 0).all() and (np.diff(reg, axis=1) >= -1e-12).all()
    again = reference_regret(inst, horizon=300, reps=3, seed=0)
    np.testing.assert_array_equal(again["ucb1"], ref["ucb1"])
