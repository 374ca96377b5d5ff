"""The network testbed on the Markov-CoT chain (issue 23): the shared path metrics, the
tokenizer, exact evaluation against sampling, the cache, the methods, and the ``cot-lm``
runner end to end on tiny budgets (sweep, resume after kill -9, check, plot)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obandits.cot import build_chain, paper_config, two_task_config
from obandits.cot.chain import enumerate_paths, path_prob
from obandits.cot.experiments import policy_metrics
from obandits.cot.instances import exact_pass_at_k, make_instances
from obandits.cot.learner import policy
from obandits.cot.pathdist import (
    PathDist,
    coverage,
    expected_distinct,
    pass_curve,
    policy_path_probs,
    total_variation,
)

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
torch.set_num_threads(1)

from llm_bridge.cot_lm import evaluate as E  # noqa: E402
from llm_bridge.cot_lm import network as N  # noqa: E402
from llm_bridge.cot_lm import posttrain as P  # noqa: E402
from llm_bridge.cot_lm import runner as R  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAIN = build_chain(paper_config())


def _theta(seed, chain=CHAIN, scale=2.0):
    return np.random.default_rng(seed).normal(0, scale, chain.P.shape)


# ---------------------------------------------------------------- the shared path metrics

@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 1.0, 2.0]))
def test_path_metrics_of_a_policy_equal_the_layer_dp(seed, temp):
    """Coverage and pass@K from whole-path probabilities equal the tabular learner's layer
    passes (obandits.cot.experiments.policy_metrics) on random policies."""
    theta = _theta(seed)
    evals = [make_instances(CHAIN, t, 300, np.random.default_rng(seed)) for t in (0, 1)]
    ref = policy_metrics(CHAIN, evals, theta, 30, temp)
    got = E.tabular_metrics(CHAIN, theta, evals, 30, temp)
    for t in (0, 1):
        for m in ("easy", "hard", "invalid", "pass_all", "pass_rare"):
            if ref[t][m] is None:
                assert np.isnan(got[t][m])
            else:
                assert got[t][m] == pytest.approx(ref[t][m], abs=1e-12), (t, m)
        assert got[t]["malformed"] == 0.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_pass_curve_is_exact_pass_at_k_and_increases(seed):
    theta = _theta(seed)
    Q = policy(theta)
    inst = make_instances(CHAIN, 0, 200, np.random.default_rng(seed))
    curve = pass_curve(CHAIN, inst, policy_path_probs(CHAIN, Q, 0), (1, 5, 30))
    for k, c in zip((1, 5, 30), curve):
        assert c == pytest.approx(exact_pass_at_k(CHAIN, inst, Q, k), abs=1e-12)
    assert np.all(np.diff(curve) >= -1e-15)


def test_total_variation_and_distinct_answers():
    dists = [policy_path_probs(CHAIN, CHAIN.P, s) for s in range(2)]
    assert total_variation(CHAIN, dists) == pytest.approx(0.0, abs=1e-15)
    # moving mass to malformed output counts in full
    bad = [PathDist(d.start, d.q * 0.9, 0.1) for d in dists]
    assert total_variation(CHAIN, bad) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one distribution per layer-0 state"):
        total_variation(CHAIN, dists[:1])
    # two equally likely final states: E[distinct in k] = 2 (1 - 2^-k)
    q = np.zeros(8)
    q[0] = q[1] = 0.5
    assert expected_distinct(CHAIN, PathDist(0, q, 0.0), 3) == pytest.approx(2 * (1 - 0.5**3))
    # from counts: the unbiased estimator (4 of 4 samples on answer 0: exactly 1 distinct)
    q = np.zeros(8)
    q[0] = 4
    assert expected_distinct(CHAIN, PathDist(0, q, 0.0, n=4), 3) == pytest.approx(1.0)


def test_pathdist_refuses_bad_input():
    with pytest.raises(ValueError, match="non-negative finite"):
        PathDist(0, np.array([0.5, np.nan]), 0.0)
    with pytest.raises(ValueError, match="malformed"):
        PathDist(0, np.ones(8) / 8, float("nan"))
    with pytest.raises(ValueError, match="starts at 1, task 0 at 0"):
        coverage(CHAIN, 0, policy_path_probs(CHAIN, CHAIN.P, 1))


# ---------------------------------------------------------------- tokens and the network

def test_tokenizer_round_trip_and_parsing():
    tok = N.tokenizer(CHAIN)
    ids = tok(N.prompt(1) + " s1_0 s2_1 s3_1", add_special_tokens=False)["input_ids"]
    assert ids == N.path_ids(CHAIN, np.array([[1, 0, 1, 1]]))[0].tolist()
    text = tok.decode(ids[2:])
    assert text == "s1_0 s2_1 s3_1"
    assert N.parse_completion(CHAIN, text).tolist() == [0, 1, 1]
    for bad in ("s1_0 s2_1", "s1_0 s2_1 s3_1 s3_0", "s1_0 s3_1 s3_1", "s1_0 s2_2 s3_1",
                "s1_0 </s> s3_1", "s1_0 s2_x s3_1"):
        assert N.parse_completion(CHAIN, bad) is None, bad


def test_exact_distribution_agrees_with_sampling():
    """An untrained network (much malformed mass): exact enumeration vs 40,000 samples, every
    completion and the malformed mass within 5 standard errors."""
    model = N.build_model(CHAIN, N.NetConfig(n_layer=1, n_embd=16, n_head=2), seed=3)
    for temp in (1.0, 0.5):
        ex = E.exact_dist(CHAIN, model, 1, temp)
        assert ex.q.sum() + ex.malformed == pytest.approx(1.0)
        assert ex.malformed > 0.1  # a random network writes malformed output
        n = 40_000
        sa = E.sampled_dist(CHAIN, model, 1, temp, n, seed=7)
        p = np.append(ex.q, ex.malformed)
        f = np.append(sa.probs, sa.malformed_mass)
        se = np.sqrt(p * (1 - p) / n) + 1e-12
        assert np.all(np.abs(f - p) <= 5 * se + 1e-4), (temp, p, f)


def test_network_metrics_exact_and_sampled_agree():
    model = N.build_model(CHAIN, N.NetConfig(n_layer=1, n_embd=16, n_head=2), seed=4)
    evals = [make_instances(CHAIN, t, 400, np.random.default_rng(0)) for t in (0, 1)]
    ex = E.network_metrics(CHAIN, model, evals, 30, 1.0)
    sa = E.network_metrics(CHAIN, model, evals, 30, 1.0, max_exact=4, n_samples=20_000)
    for t in (0, 1):
        for m in ("easy", "hard", "invalid", "malformed", "pass_all@1", "pass_all@30",
                  "distinct"):
            assert sa[t][m] == pytest.approx(ex[t][m], abs=0.03), (t, m)


# ---------------------------------------------------------------- the cache

SMALL_NET = N.NetConfig(n_layer=1, n_embd=16, n_head=2)
SMALL_PRE = N.LMPretrainConfig(steps=30, batch=16)


def test_cache_reuses_a_verified_network_and_recomputes_a_damaged_one(tmp_path, monkeypatch):
    msgs = []
    f1, m1 = N.pretrained(CHAIN, SMALL_NET, SMALL_PRE, 0, "t", 0, str(tmp_path), log=msgs.append)
    weights = (f1 / N.WEIGHTS).read_bytes()
    calls = []
    real = N.pretrain
    monkeypatch.setattr(N, "pretrain", lambda *a, **k: calls.append(1) or real(*a, **k))
    f2, m2 = N.pretrained(CHAIN, SMALL_NET, SMALL_PRE, 0, "t", 0, str(tmp_path), log=msgs.append)
    assert f2 == f1 and m2 == m1 and not calls and not msgs
    # another seed is another key
    f3, _ = N.pretrained(CHAIN, SMALL_NET, SMALL_PRE, 0, "t", 1, str(tmp_path), log=msgs.append)
    assert f3 != f1 and len(calls) == 1
    # a damaged weights file: recomputed (same numbers), said so
    with open(f1 / N.WEIGHTS, "r+b") as fh:
        fh.seek(len(weights) - 8)
        fh.write(b"\x00" * 8)
    N.pretrained(CHAIN, SMALL_NET, SMALL_PRE, 0, "t", 0, str(tmp_path), log=msgs.append)
    assert len(calls) == 2 and "checksum" in msgs[-1]
    assert (f1 / N.WEIGHTS).read_bytes() == weights  # bit-identical from the same seed
    # a meta file whose key differs (e.g. written by another version)
    meta = json.loads((f1 / N.META).read_text())
    meta["key"]["torch"] = "0.0"
    (f1 / N.META).write_text(json.dumps(meta))
    N.pretrained(CHAIN, SMALL_NET, SMALL_PRE, 0, "t", 0, str(tmp_path), log=msgs.append)
    assert len(calls) == 3 and "key differs" in msgs[-1]


def test_config_validation():
    with pytest.raises(ValueError, match="n_embd=30 must be a multiple of n_head=4"):
        N.NetConfig(n_embd=30)
    with pytest.raises(ValueError, match="n_rollouts"):
        P.LMRLConfig(n_rollouts=1)


# ---------------------------------------------------------------- methods and the runner

def test_rejection_follows_the_tabular_rule():
    """An instance is rejected with probability 1 - (1 - p_q)^reject (p_q: one fresh CoT
    solves it), as in the tabular loop: the share over 600 instances within 4 standard errors
    of that expectation, computed exactly from the network's distribution."""
    from obandits.cot.pathdist import success

    model = N.build_model(CHAIN, N.NetConfig(n_layer=1, n_embd=16, n_head=2), seed=5)
    inst = make_instances(CHAIN, 0, 600, np.random.default_rng(2))
    p = np.clip(success(CHAIN, inst, E.exact_dist(CHAIN, model, 0, 1.0)), 0, 1)
    for reject in (1, 3):
        want = 1 - (1 - p) ** reject
        got = P.rejected_instances(CHAIN, model, inst, range(inst.n), reject,
                                   torch.Generator().manual_seed(reject))
        share = len(got) / inst.n
        se = np.sqrt(np.sum(want * (1 - want))) / inst.n
        assert abs(share - want.mean()) < 4 * se + 1e-3, (reject, share, want.mean())
        assert all(p[i] > 0 for i in got)  # an instance no CoT solves is never rejected


@pytest.mark.parametrize("name", ["REINFORCE", "RAFT", "KL closed form", "ORM best-of-N"])
def test_tabular_only_methods_are_refused(name):
    with pytest.raises(ValueError, match="no TRL counterpart"):
        R.validate_cell({"method": name})


def test_cell_validation_names_the_parameter():
    with pytest.raises(ValueError, match="did you mean 'net_steps'"):
        R.validate_cell({"method": "GRPO", "net_step": 3})
    with pytest.raises(ValueError, match="net_lr"):
        R.validate_cell({"method": "GRPO", "net_lr": -1.0})
    with pytest.raises(ValueError, match="eps"):
        R.validate_cell({"method": "GRPO", "eps": 2.0})
    assert R.tabular_spec("PPO").rl == "ppo" and R.tabular_spec("GRPO+UCB").bonus == "ucb"


TINY = """[sweep]
name = "cot-lm-tiny"
runner = "cot-lm"
root_seed = 3
reps = {reps}

[fixed]
net_steps = 4
net_eval_every = 2
net_prompts = 4
net_rollouts = 4
net_pretrain_steps = 40
net_pretrain_batch = 32
net_layers = 1
net_width = 16
net_heads = 2
iters = 20
n_train = 50
n_eval = 200
T1 = 300
T2 = 50
cache = "{cache}"

[[grid]]
method = {methods}
"""


def _conf(tmp_path, methods, reps=1, name="tiny.toml"):
    conf = tmp_path / name
    conf.write_text(TINY.format(reps=reps, cache=tmp_path / "cache",
                                methods=json.dumps(methods)))
    return conf


def _env():
    return {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "obandits", *map(str, args)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, **kw)


def test_sweep_refuses_a_tabular_only_method_before_any_work(tmp_path):
    r = _cli("sweep", _conf(tmp_path, ["GRPO", "RAFT"]), "--out", tmp_path / "out")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no TRL counterpart" in lines[0], r.stderr
    assert not (tmp_path / "out").exists()


def test_runner_end_to_end_check_plot_and_agreement_with_cot(tmp_path):
    """A tiny sweep: both models' rows, exact evaluation, the tabular rows equal to the cot
    runner's own numbers, claims and figures from the data files, resume does nothing."""
    from obandits.cot import run_cell as cot_cell
    from obandits.results import read_table

    out = tmp_path / "out"
    methods = ["base", "GRPO", "GRPO+KL", "GRPO+reject", "GRPO+Batch"]
    r = _cli("sweep", _conf(tmp_path, methods, reps=2), "--out", out, "--workers", "1",
             "--quiet")
    assert r.returncode == 0, r.stderr
    table = read_table(out / "results.csv")
    assert set(table["model"]) == {"network", "tabular"}
    assert set(table["exact"]) == {1}
    fin = table["frac"] == 1.0
    for m in methods[1:]:
        for model in ("network", "tabular"):
            sel = fin & (table["method"] == m) & (table["model"] == model)
            assert sel.sum() == 4, (m, model)  # 2 seeds x 2 tasks
    # curves: network snapshots at steps 0 and 2, then the final row
    net = (table["method"] == "GRPO") & (table["model"] == "network") & (table["rep"] == 0)
    assert sorted(set(table["iter"][net].tolist())) == [0, 2, 4]
    # the tabular rows are the cot runner's numbers for the same parameters
    params = {k: v for k, v in R.validate_cell({"method": "GRPO", "net_steps": 4}).items()
              if k in R.COT_DEFAULTS}
    params.update(iters=20, n_train=50, n_eval=200, T1=300, T2=50, curves=False,
                  eval_temperature=1.0, method="GRPO")
    ref = cot_cell(params, 3, "x", 2)
    tab = fin & (table["method"] == "GRPO") & (table["model"] == "tabular")
    for rep in (0, 1):
        for t in (0, 1):
            a = tab & (table["rep"] == rep) & (table["task"] == t)
            b = (ref["rep"] == rep) & (ref["task"] == t)
            for m in ("easy", "hard", "pass_all", "pass_rare"):
                np.testing.assert_allclose(float(table[m][a][0]), float(ref[m][b][0]),
                                           rtol=0, atol=1e-12, equal_nan=True)
    # rejection: the same rule on both sides, models near the base: similar shares
    rej = fin & (table["method"] == "GRPO+reject") & (table["task"] == 0)
    shares = {mod: table["rejected_share"][rej & (table["model"] == mod)].mean()
              for mod in ("network", "tabular")}
    assert all(0.0 < x < 1.0 for x in shares.values()), shares
    # check and plot from the data files alone
    r = _cli("check", out)
    assert r.returncode == 0, r.stderr
    assert "network" in r.stdout and "tabular" in r.stdout
    assert (out / "checks.md").is_file()
    r = _cli("plot", out)
    assert r.returncode == 0, r.stderr
    assert (out / "figures" / "cot_lm_pass.png").is_file()
    assert (out / "figures" / "cot_lm_rare_share.png").is_file()
    # resume: nothing left to do, the table unchanged
    before = (out / "results.csv").read_bytes()
    r = _cli("sweep", _conf(tmp_path, methods, reps=2), "--out", out, "--workers", "1",
             "--quiet")
    assert r.returncode == 0, r.stderr
    assert (out / "results.csv").read_bytes() == before


def test_sampling_fallback_says_so(tmp_path):
    conf = _conf(tmp_path, ["GRPO"])
    conf.write_text(conf.read_text().replace("[fixed]\n", "[fixed]\nmax_exact = 4\n"
                                             "n_samples = 2000\n"))
    r = _cli("sweep", conf, "--out", tmp_path / "out", "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "evaluated by sampling" in r.stderr
    from obandits.results import read_table

    table = read_table(tmp_path / "out" / "results.csv")
    assert set(table["exact"][table["model"] == "network"]) == {0}


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_kill_9_then_resume_gives_the_uninterrupted_table(tmp_path):
    methods = ["GRPO", "GRPO+UCB-Con", "PPO"]
    conf = _conf(tmp_path, methods)
    ref = tmp_path / "ref"
    r = _cli("sweep", conf, "--out", ref, "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "obandits", "sweep", str(conf), "--out",
                             str(out), "--workers", "1", "--quiet"], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 1:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list((out / "cells").glob("*.json"))) < len(methods)
    r = _cli("sweep", conf, "--out", out, "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (out / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()


def test_a_deeper_wider_chain_is_evaluated_on_both_sides():
    """L=5, M=3 (M0=2): 81 completions per start; shares sum to one on both sides."""
    chain = build_chain(two_task_config(L=5, M=3))
    model = N.build_model(chain, SMALL_NET, 0)
    d = E.exact_dist(chain, model, 0)
    assert d.q.shape == (81,) and d.q.sum() + d.malformed == pytest.approx(1.0)
    evals = [make_instances(chain, t, 100, np.random.default_rng(0)) for t in (0, 1)]
    theta = _theta(1, chain)
    for m in (E.network_metrics(chain, model, evals, 30, 1.0),
              E.tabular_metrics(chain, theta, evals, 30, 1.0)):
        for t in (0, 1):
            assert m[t]["easy"] + m[t]["hard"] + m[t]["invalid"] == pytest.approx(1.0)
    assert np.allclose(path_prob(chain.P, enumerate_paths(chain, 0)).sum(), 1.0)


def test_claim_flags_only_a_verdict_that_holds_on_one_model():
    """The network's claim is flagged when exactly one model's verdict holds; 'direction only'
    (None) beside 'does not hold' (False) is no disagreement."""
    from llm_bridge.cot_lm.analysis import _claim

    def table(net_diffs, tab_diffs):
        rows = {"method": [], "model": [], "task": [], "rep": [], "pass_all": []}
        for model, diffs in (("network", net_diffs), ("tabular", tab_diffs)):
            for rep, d in enumerate(diffs):
                for method, x in (("GRPO", 0.5), ("GRPO+Batch", 0.5 + d)):
                    for key, v in zip(rows, (method, model, 0, rep, x)):
                        rows[key].append(v)
        return {k: np.asarray(v) for k, v in rows.items()}

    def flagged(net, tab):
        t = table(net, tab)
        got = _claim("5", "bonus", t, np.ones(len(t["rep"]), bool), "GRPO+Batch", "GRPO", 0,
                     "pass_all", "all cells")
        assert [c["model"] for c in got] == ["network", "tabular"]
        return "DISAGREES" in got[0]["text"]

    holds, direction, fails = [0.10, 0.11, 0.12], [0.3, -0.2, 0.01], [-0.1, -0.11, -0.12]
    assert flagged(holds, fails) and flagged(fails, holds) and flagged(holds, direction)
    assert not flagged(direction, fails) and not flagged(holds, holds)
    assert not flagged(fails, fails)


def test_every_tabular_method_runs_in_trl_or_says_why_not():
    import obandits.cot as cot
    from llm_bridge.cot_lm.posttrain import METHODS, NO_TRL, check_method

    assert set(cot.METHODS) <= set(METHODS) | set(NO_TRL)
    assert not set(METHODS) & set(NO_TRL)
    for name, why in NO_TRL.items():
        with pytest.raises(ValueError, match=re.escape(why)):
            check_method(name)


def test_dask_executor_gives_the_local_table(tmp_path):
    """The runner on the Dask executor (a LocalCluster of 2 processes): the same table as the
    local pool, byte for byte, with the pretrained networks shared through the cache."""
    conf = _conf(tmp_path, ["base", "GRPO+Batch"], reps=2)
    local = _cli("sweep", conf, "--out", tmp_path / "local", "--workers", "2", "--quiet")
    assert local.returncode == 0, local.stderr
    dask = _cli("sweep", conf, "--out", tmp_path / "dask", "--workers", "2", "--quiet",
                "--executor", "dask")
    assert dask.returncode == 0, dask.stderr
    assert ((tmp_path / "dask" / "results.csv").read_bytes()
            == (tmp_path / "local" / "results.csv").read_bytes())
