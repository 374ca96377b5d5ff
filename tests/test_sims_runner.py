"""rlsim as a sweep runner: same numbers as ``rlsim compare``, claims from the table alone."""

from dataclasses import replace

import numpy as np
import pytest

from obandits.results import read_table
from obandits.rlsim import experiment as ex
from obandits.rlsim.model import ModelConfig
from obandits.rlsim.runner import RUNNER, validate_cell
from obandits.rlsim.trainer import TrainConfig

SMALL = {"n_train": 12, "n_test": 12, "steps": 3, "n_evals": 3, "batch_prompts": 6}


def _cfg(reps):
    return ex.ExperimentConfig(model=ModelConfig(n_train=12, n_test=12),
                               train=TrainConfig(steps=3, n_evals=3, batch_prompts=6),
                               reps=reps, root_seed=5)


@pytest.mark.parametrize("method", ["ucb-con", "base"])
def test_run_cell_bit_identical_to_compare(method):
    cfg = _cfg(2)
    cols = RUNNER.run_cell({**SMALL, "method": method}, 5, "any-key", 2)
    for rep in range(2):
        ref = ex._run_one(cfg, method, rep)
        sel = cols["rep"] == rep
        np.testing.assert_array_equal(cols["solved"][sel], ref.solved)
        np.testing.assert_array_equal(cols["ent_sum1"][sel], ref.ent_sum[:, 1])
        np.testing.assert_array_equal(cols["test_pass_k32"][sel], ref.test_pass[:, -1])


def test_claims_from_read_back_table_match_compare(tmp_path):
    from obandits.results import csv_text

    cfg = replace(_cfg(2), methods=("none", "ucb-con", "batch"))
    table: dict[str, list] = {}
    for m in (*cfg.methods, ex.BASE):
        p = validate_cell({**SMALL, "method": m})
        cols = RUNNER.run_cell(p, 5, m, 2)
        n = len(cols["rep"])
        for k, val in {**{k: np.full(n, v, object) for k, v in p.items()}, **cols}.items():
            table.setdefault(k, []).append(np.asarray(val))
    table = {k: np.concatenate(v) for k, v in table.items()}
    path = tmp_path / "results.csv"
    header = list(table)
    path.write_text(csv_text(header, [list(r) for r in zip(*(table[h] for h in header))]))
    got = RUNNER.check(read_table(path), {})
    ref = ex.claims(ex.run_comparison(cfg, progress=False), cfg)
    assert [(c["claim"], c["text"]) for c in got] == [(c.claim, c.text) for c in ref]
    np.testing.assert_allclose([c["value"] for c in got], [c.diff_mean for c in ref],
                               rtol=1e-12, atol=1e-15)
    assert [c["verdict"] for c in got] == [c.verdict for c in ref]
    assert "C1" in RUNNER.summarise(read_table(path), {})


@pytest.mark.parametrize("bad,msg", [({"method": "ucbx"}, "method"),
                                     ({"method": "none", "beta_kl": 0.1}, "kl_beta"),
                                     ({"method": "none", "stepz": 3}, "did you mean"),
                                     ({"method": "none", "ks": "1,x"}, "ks")])
def test_validate_names_the_field(bad, msg):
    with pytest.raises(ValueError, match=msg):
        validate_cell(bad)


COT_SMALL = {"T1": 60, "T2": 30, "iters": 8, "n_train": 10, "n_eval": 40, "pool": 60}


def test_cot_run_cell_equals_cot_paper_seeds():
    from obandits.cot import experiments as cx
    from obandits.cot.runner import METHODS, config
    from obandits.cot.runner import RUNNER as COT
    from obandits.cot.runner import validate_cell as cv

    names = ["base", "GRPO", "GRPO+reject", "ORM best-of-N", "KL closed form"]
    cfg = config(cv({**COT_SMALL, "method": "base"}), 2, 3)
    ref = cx.run_seeds(cfg, [METHODS[n] for n in names], "paper", progress=False)
    for name in names:
        cols = COT.run_cell({**COT_SMALL, "method": name}, 3, "ignored", 2)
        for rep in range(2):
            for t in (0, 1):
                sel = (cols["rep"] == rep) & (cols["task"] == t)
                for m in cx.METRICS:
                    want = ref[rep]["final"][name][t][m]
                    got = float(cols[m][sel][0])
                    assert (np.isnan(got) if want is None else got == want), (name, rep, t, m)


def test_cot_validate_names_the_field():
    from obandits.cot.runner import validate_cell as cv

    with pytest.raises(ValueError, match="n_rollouts"):
        cv({"method": "GRPO", "group": 4})
    with pytest.raises(ValueError, match="method"):
        cv({"method": "GRPOO"})


def test_rlsim_cli_runs_through_engine(tmp_path):
    from obandits.cli import main

    out = tmp_path / "cmp"
    rc = main(["rlsim", "compare", "--reps", "2", "--steps", "3", "--n-train", "12",
               "--n-test", "12", "--batch", "6", "--methods", "none,ucb-con", "--out", str(out),
               "--quiet", "--no-figures"])
    assert rc in (0, None)
    table = read_table(out / "results.csv")
    assert sorted(set(table["method"])) == ["base", "none", "ucb-con"]
    ref = RUNNER.run_cell(validate_cell({**SMALL, "method": "ucb-con"}), 0, "k", 2)
    sel = table["method"] == "ucb-con"
    np.testing.assert_array_equal(table["solved"][sel], ref["solved"])
