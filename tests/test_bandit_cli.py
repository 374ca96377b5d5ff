"""End-to-end: the sweep / plot / bandit-check / bandit-run commands on tiny budgets, the
shipped experiment configs, and the minimax-proxy arithmetic and theory curves."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from obandits.bandit import theory
from obandits.bandit.analysis import minimax_table
from obandits.bandit.runner import DEFAULTS
from obandits.cli import COMMAND_MODULES, MAIN_STEPS, main
from obandits.sweep import check_size, load_config, read_table

ROOT = Path(__file__).resolve().parents[1]

TINY = """
[sweep]
name = "tiny"
runner = "bandit"
root_seed = 1
reps = 3

[fixed]
gap = [0.1, 0.4]

[[grid]]
family = "partition"
K = 16
m = [2, 4, 8]
learner = ["outcome-ucb", "ucb1"]
T = 2048

[[grid]]
family = "llm"
m = 4
K = [8, 64]
learner = ["outcome-ucb", "ucb1"]
T = 2048

[[grid]]
family = "needle"
m = 2
K = [4, 8, 16]
learner = ["outcome-ucb", "ucb1", "kl-ucb", "thompson", "uniform"]
T = 2048

[[grid]]
family = "needle"
m = 2
reward = "deterministic"
gap = 1.0
K = [4, 8, 16]
learner = ["outcome-ucb", "ucb1"]
T = 2048

[[grid]]
family = "partition"
K = [2, 4, 8]
m = [2, 4, 8]
zip = ["K", "m"]
learner = "ucb1"
T = 2048

[check.t_slope]
family = "partition"
learner = "outcome-ucb"
K = 16
m = 4
t_min = 64

[check.k_flat]
family = "llm"
m = 4
K_small = 8
K_large = 64

[[check.needle]]
family = "needle"
m = 2
reward = "deterministic"
learners = ["ucb1", "outcome-ucb"]

[[check.needle]]
family = "needle"
m = 2
learners = ["ucb1", "outcome-ucb"]

[[check.m_slope]]
family = "partition"
learner = "outcome-ucb"
K = 16

[[check.m_slope]]
family = "partition"
learner = "ucb1"
K = "m"
role = "diagnostic"
why = "arm-level control"
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_commands_end_to_end(tiny, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["sweep", str(tiny), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Minimax proxy" in text and "needle" in text  # the summary table
    assert main(["bandit-check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "slope" in text and "ratio" in text
    checks = read_table(out / "checks.csv")
    assert len(checks["claim"]) == 9 and np.isfinite(checks["value"]).all()
    claims = list(checks["claim"])
    det = claims.index("needle, verifiable reward (gap 1): ucb1 slope in K >= 0.4 "
                       "(K log T <= 0.1 T)")
    holds = [h == "True" for h in checks["holds"]]  # the CSV holds "True" / "False"
    assert set(checks["holds"]) <= {"True", "False"}
    assert holds[det] and checks["value"][det] > 0.9  # regret ~ K at gap 1
    ctrl = [i for i, c in enumerate(claims) if c.startswith("ucb1 (K=m)")]
    assert len(ctrl) == 1 and "m in [2, 8]" in checks["where"][ctrl[0]]
    # the control is a diagnostic: listed after the verdict, which counts only the claims
    assert list(checks["role"]).count("diagnostic") == 1 and checks["role"][ctrl[0]] == "diagnostic"
    md = (out / "checks.md").read_text()
    n_claims = sum(r == "claim" for r in checks["role"])
    n_ok = sum(h for h, r in zip(holds, checks["role"]) if r == "claim")
    assert f"**{n_ok} of {n_claims} claims hold.**" in md
    assert md.index("claims hold") < md.index("ucb1 (K=m)") < md.index("arm-level control")
    mm = read_table(out / "minimax.csv")
    assert set(mm["learner"]) >= {"ucb1", "outcome-ucb", "kl-ucb", "thompson", "uniform"}
    assert main(["plot", str(out)]) == 0
    checks_md = (out / "checks.md").read_bytes()
    (out / "checks.md").unlink()
    assert main(["check", str(out)]) == 0  # the generic command, from the data files alone
    assert (out / "checks.md").read_bytes() == checks_md
    assert "Minimax proxy" in capsys.readouterr().out
    assert (out / "figures" / "bandit_theorems.png").stat().st_size > 10_000
    # rerun: all cells already done, same table
    before = (out / "results.csv").read_bytes()
    assert main(["sweep", str(tiny), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    assert (out / "results.csv").read_bytes() == before
    fig = tmp_path / "f" / "bandit_tiny.png"
    assert main(["bandit-run", str(tiny), "--out", str(out), "--workers", "1",
                 "--figure", str(fig)]) == 0
    assert fig.exists()


def test_command_errors_are_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('learner = ["outcome-ucb", "ucb1"]', 'learner = "exp3"', 1))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "learner must be one of" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad.write_text("[sweep\n")
    assert main(["sweep", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["bandit-check", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2


@pytest.mark.parametrize("extra, msg", [('role = "aside"', "check role must be one of"),
                                        ('role = "diagnostic"', "needs a 'why'")])
def test_bad_check_role_is_rejected(extra, msg):
    from obandits.bandit.analysis import _result
    spec = dict(tomllib.loads(extra))
    with pytest.raises(ValueError, match=msg):
        _result("c", spec, "x", 1.0, (0.0, 2.0), True, "w")


def test_shipped_configs_validate():
    for name in ("reduced.toml", "theorems.toml"):
        cfg = load_config(ROOT / "experiments" / "bandit" / name)
        check_size(cfg)  # the shipped sweeps need no --yes
        assert len(cfg.cells) > 50 and set(cfg.section("check")) == {
            "t_slope", "k_flat", "needle", "m_slope"}
        # each claim of issue 3 keeps at least one table counted as a claim
        for kind in ("needle", "m_slope"):
            tables = cfg.section("check")[kind]
            assert any(t.get("role", "claim") == "claim" for t in tables)
            assert all(t.get("why") for t in tables if t.get("role") == "diagnostic")
    assert "obandits.sweep" in COMMAND_MODULES and "obandits.bandit.cli" in COMMAND_MODULES
    assert MAIN_STEPS[0][0] == "bonus demo"
    assert any(f == "_step_bandit" for _, f in MAIN_STEPS)


def _table(values):
    """A results table from {(gap, rep): regret} at one group and t."""
    n = len(values)
    tab = {k: np.array([v] * n, dtype=object) for k, v in DEFAULTS.items()}
    tab.update(family=np.array(["partition"] * n, dtype=object), K=np.full(n, 8),
               m=np.full(n, 2), learner=np.array(["ucb1"] * n, dtype=object), T=np.full(n, 10),
               t=np.full(n, 10), gap=np.array([g for g, _ in values]),
               rep=np.array([r for _, r in values]), regret=np.array(list(values.values())))
    return tab


def test_minimax_proxy_is_max_over_gaps_of_means():
    vals = {(0.1, 0): 1.0, (0.1, 1): 3.0, (0.2, 0): 2.5, (0.2, 1): 2.5, (0.4, 0): 0.0,
            (0.4, 1): 1.0}
    (row,) = minimax_table(_table(vals), n_boot=200)
    assert row["regret"] == 2.5 and row["gap"] == 0.2 and row["n_gaps"] == 3
    assert row["ci_low"] <= 2.5 <= row["ci_high"] <= 3.0


def test_theory_curves():
    T = np.array([10.0, 1000.0])
    np.testing.assert_allclose(theory.minimax_arm(4, T), np.sqrt(4 * T * np.log(T)))
    np.testing.assert_allclose(theory.minimax_outcome(2, T), np.sqrt(2 * T * np.log(T)))
    np.testing.assert_allclose(theory.gap_dependent([0.0, 0.5, 0.25], T), np.log(T) * 6.0)
    np.testing.assert_allclose(theory.needle(100, T), [10.0, 100.0])
    np.testing.assert_allclose(theory.scale_to(np.array([1.0, 2.0]), 2.0, 10.0), [5.0, 10.0])
    with pytest.raises(ValueError, match="K must be > 0"):
        theory.minimax_arm(0, T)
