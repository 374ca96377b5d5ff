"""The cot experiments on the sweep engine: curves and sensitivity from the data files alone,
the per-process memo of pretrained models, the analysis on synthetic tables, bad cells."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from obandits.cot import analysis
from obandits.cot import experiments as ex
from obandits.cot.runner import DEFAULTS, RUNNER, validate_cell
from obandits.results import read_table
from obandits.sweep import config_from_dict, run_sweep

SMALL = {"T1": 40, "T2": 10, "iters": 12, "n_train": 10, "n_eval": 60, "pool": 60}


def _sweep(tmp_path, name, grid, fixed=None, reps=2):
    raw = {"sweep": {"name": name, "runner": "cot", "root_seed": 1, "reps": reps},
           "fixed": {**SMALL, **(fixed or {})}, "grid": grid}
    out = tmp_path / name
    run_sweep(config_from_dict(raw), out, workers=1, progress=False)
    return out, raw


def test_plot_and_check_regenerate_everything_from_the_data_files(tmp_path, capsys):
    from obandits.cli import main

    out, raw = _sweep(tmp_path, "cot-mini", [
        {"method": ["base", "GRPO", "GRPO+UCB-Con", "GRPO+reject"], "curves": True},
        {"method": ["base", "GRPO"], "eps": [0.05, 0.4]},
        {"method": ["GRPO+KL"], "kl_beta": [0.1, 3.0]}])
    table = read_table(out / "results.csv")
    text = RUNNER.summarise(table, raw)
    shutil.rmtree(out / "cells")  # results.csv and manifest.json are all plot/check need
    assert main(["plot", str(out)]) == 0
    names = {p.name for p in out.glob("*.png")}
    assert {"cot_coverage.png", "cot_forgetting.png", "cot_sensitivity.png"} <= names
    assert main(["check", str(out)]) == 0
    printed = capsys.readouterr().out
    assert text in printed  # the same summary, from the file alone
    checks = (out / "checks.md").read_text()
    for claim in ("RLVR forgets rare CoTs", "remedy keeps rare CoTs",
                  "outcome bonus keeps rare CoTs", "larger eps keeps more rare-CoT mass",
                  "larger kl_beta keeps more rare-CoT mass"):
        assert claim in checks, claim
    assert "forgetting: rare-CoT mass during RL" in text
    assert "sensitivity: rare-CoT mass kept against each parameter" in text


def test_curves_rows_and_final_rows():
    cols = RUNNER.run_cell({**SMALL, "method": "GRPO", "curves": True}, 0, "k", 2)
    plain = RUNNER.run_cell({**SMALL, "method": "GRPO"}, 0, "k", 2)
    # snapshots every 3 iterations (min(25, 12 // 4)), the final row at iter = 12
    assert sorted(set(cols["iter"].tolist())) == [0, 3, 6, 9, 12]
    fin = cols["iter"] == 12
    for c in ("hard", "pass_all", "rejected"):
        np.testing.assert_array_equal(cols[c][fin], plain[c])
    assert np.isnan(cols["rejected"][~fin]).all()
    base = RUNNER.run_cell({**SMALL, "method": "base", "curves": True}, 0, "k", 2)
    assert (base["iter"] == 0).all() and len(base["rep"]) == 4  # no RL: no snapshots


def test_pretrained_model_is_reused_only_for_the_same_inputs():
    ex.clear_memo()
    calls = ex.PRETRAIN_CALLS[0]
    a = RUNNER.run_cell({**SMALL, "method": "base"}, 5, "k", 2)
    assert ex.PRETRAIN_CALLS[0] == calls + 2  # one per seed
    RUNNER.run_cell({**SMALL, "method": "REINFORCE"}, 5, "k", 2)
    assert ex.PRETRAIN_CALLS[0] == calls + 2  # reused across cells of the configuration
    RUNNER.run_cell({**SMALL, "method": "REINFORCE", "iters": 4}, 5, "k", 2)
    assert ex.PRETRAIN_CALLS[0] == calls + 2  # RL budgets do not change the model
    for change in ({"T1": 41}, {"eta": 0.04}, {"eps": 0.2}, {"stream": "other"},
                   {"n_eval": 61}):
        RUNNER.run_cell({**SMALL, **change, "method": "base"}, 5, "k", 1)
    RUNNER.run_cell({**SMALL, "method": "base"}, 6, "k", 1)  # another root seed
    assert ex.PRETRAIN_CALLS[0] == calls + 8
    ex.clear_memo()  # a fresh computation gives the same numbers as the memo
    b = RUNNER.run_cell({**SMALL, "method": "base"}, 5, "k", 2)
    for c in a:
        np.testing.assert_array_equal(a[c], b[c])
    ctx = ex.seed_context(ex.ExperimentConfig(), 0, "paper")
    with pytest.raises(ValueError):
        ctx.theta0[0, 0, 0] = 1.0  # read only: a cell cannot corrupt the next one's model


def _synthetic(rows):
    """A results table from ``(method, rep, task, hard, extra params)`` rows."""
    table: dict[str, list] = {}
    for method, rep, task, hard, extra in rows:
        row = {**DEFAULTS, **extra, "method": method, "rep": rep, "task": task, "iter": 0,
               "easy": 0.5, "hard": hard, "invalid": 0.5 - hard, "pass_all": hard,
               "pass_rare": hard, "rejected": np.nan, "pretrain_error": 0.01}
        for k, x in row.items():
            table.setdefault(k, []).append(x)
    return {k: np.array(v, dtype=object if isinstance(v[0], str) else None)
            for k, v in table.items()}


def test_analysis_claims_on_a_synthetic_table():
    rows = []
    for rep in range(4):
        for eps, kept in ((0.05, 0.3), (0.4, 0.9)):
            rows.append(("base", rep, 0, 0.2 + 0.01 * rep, {"eps": eps}))
            rows.append(("GRPO", rep, 0, (0.2 + 0.01 * rep) * kept, {"eps": eps}))
        rows.append(("GRPO+UCB-Con", rep, 0, 0.05, {"eps": 0.05, "c": 1.0,
                                                     "bonus_outcome": "path"}))
    t = _synthetic(rows)
    assert "GRPO+UCB-Con c=1 (CoT outcome)" in set(analysis.labels(t))
    got = {(c["claim"], c["text"]): c for c in analysis.claims(t)}
    c1 = got[("1", "RLVR forgets rare CoTs: base - GRPO, TASK1 hard")]
    assert c1["holds"] is True
    trend = [c for k, c in got.items() if k[0] == "6"]
    assert len(trend) == 1 and trend[0]["holds"] is True
    assert trend[0]["value"] == pytest.approx(0.6)
    bonus = got[("5", "outcome bonus keeps rare CoTs: GRPO+UCB-Con c=1 (CoT outcome) - GRPO, "
                      "TASK1 hard")]
    assert bonus["holds"] is False  # 0.05 < GRPO's 0.06..0.069: the bonus kept less
    kn = analysis.knobs(t)
    assert list(kn) == ["eps"]
    assert "rare mass kept" in analysis.summarise(t)


@pytest.mark.parametrize("bad,msg", [
    ({"method": "GRPO", "clip": 0.1}, "clip_eps"), ({"method": "GRPO", "bonus_c": 1}, "'c'"),
    ({"method": "GRPO", "curves": "yes"}, "curves"), ({"method": "GRPO", "c": -1.0}, "c must"),
    ({"method": "GRPO", "count_mode": "later"}, "count_mode"),
    ({"method": "GRPO", "bonus_outcome": "cot"}, "bonus_outcome"),
    ({"method": "GRPO", "ppo_epochs": 0}, "ppo_epochs"), ({"method": "GRPO", "stream": ""},
                                                          "stream"),
    ({"method": "GRPO", "itres": 3}, "did you mean"),
])
def test_bad_cells_name_the_parameter(bad, msg):
    with pytest.raises(ValueError, match=msg):
        validate_cell(bad)
