"""The preset against runs of the authors' script (obandits.cot.bu2025.compare, issue 25):
paired by seed, per row and per chain; its size and power on synthetic tables and on the
committed runs; n/a without a common seed; the preset's command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obandits.cot.bu2025 import analysis, compare
from obandits.cot.bu2025.cells import MUTANTS, PRESET, VARIANTS

DATA = Path(__file__).parents[1] / "docs/data/bu2025"


def _table(values: dict, variant="bu2025", seeds=range(10)):
    """A results table: values[(strategy, task, metric)] = array over seeds."""
    cols = {k: [] for k in ("seed", "variant", "rep", "strategy", "task", "metric", "value")}
    for (s, t, m), xs in values.items():
        for seed, x in zip(seeds, xs):
            for k, val in zip(cols, (seed, variant, 0, s, t, m, x)):
                cols[k].append(val)
    return {k: np.array(x, dtype=object if k in ("variant", "strategy", "task", "metric")
                        else float if k == "value" else np.int64) for k, x in cols.items()}


def test_mean_ci_is_a_t_interval():
    m, lo, hi, n = compare.mean_ci([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3)
    assert hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)
    assert np.isnan(compare.mean_ci([1.0])[1])


def test_claims_hold_reverse_or_stay_open():
    base = np.full(10, 0.08) + np.linspace(0, 0.01, 10)
    t = _table({("Base Model", "TASK1", "hard"): base,
                ("REINFORCE", "TASK1", "hard"): base - 0.05,
                ("DPRM", "TASK1", "hard"): base + 0.3,
                ("ORM-BoN", "TASK1", "hard"): base + np.linspace(-0.01, 0.01, 10)})
    no_authors = {"check": {"authors": "/none"}}
    claims = {c["text"].split(":")[0]: c for c in analysis.check(t, no_authors)}
    assert claims["RLVR forgets rare CoTs (REINFORCE)"]["holds"] is True
    assert claims["DPRM lowers the rare CoTs' share"]["holds"] is False
    assert claims["ORM-BoN lowers the rare CoTs' share"]["holds"] is None
    assert "their conventions" in analysis.verdicts(list(claims.values()))


# ---------------------------------------------------------------- synthetic tables

CHAINS = {s: "A" if s % 2 else "B" for s in range(12)}


def _sides(rng, n_rows=30, seeds=range(12), shift=None, noise=0.02):
    """Ours and theirs (as cells_by_row): row r at seed s = chain effect (large, common to
    both sides) + independent noise; ``shift`` {row index: amount} added to ours."""
    chain_mean = {"A": rng.uniform(0.1, 0.4, n_rows), "B": rng.uniform(0.6, 0.9, n_rows)}
    ours, theirs = {}, {}
    for r in range(n_rows):
        key = (f"S{r}", "TASK1", "hard")
        ours[key], theirs[key] = {}, {}
        for s in seeds:
            mu = chain_mean[CHAINS[s]][r]
            ours[key][(s, 0)] = mu + noise * rng.standard_normal() + (shift or {}).get(r, 0.0)
            theirs[key][(s, 0)] = mu + noise * rng.standard_normal()
    return ours, theirs


def test_faithful_sides_agree_and_a_few_shifted_rows_do_not():
    verdicts = [compare.compare(*_sides(np.random.default_rng(i)), CHAINS, n_flips=499)
                for i in range(40)]
    false_alarms = sum(v["verdict"] == "disagrees" for v in verdicts)
    assert false_alarms <= 5  # size 5% by construction: 2 expected of 40
    assert all(v["tested"] == 30 * 3 for v in verdicts)  # 30 rows x (chain A, chain B, all)
    shifted = [compare.compare(*_sides(np.random.default_rng(i), shift={3: 0.05, 7: -0.05}),
                               CHAINS, n_flips=499) for i in range(20)]
    assert sum(v["verdict"] == "disagrees" for v in shifted) >= 18
    worst = {v["worst"]["row"][0] for v in shifted}
    assert worst <= {"S3", "S7"}


def test_pairing_removes_the_chain_effect():
    """Unpaired, the chain-to-chain spread (>= 0.2) would swamp a 0.03 shift; paired it shows."""
    ours, theirs = _sides(np.random.default_rng(5), shift={0: 0.03})
    res = compare.compare(ours, theirs, CHAINS)
    cell = next(c for c in res["cells"] if c["row"][0] == "S0" and c["group"] == compare.ALL)
    assert cell["outside"] and cell["hi"] - cell["lo"] < 0.05
    unpaired = compare.mean_ci(list(ours[("S0", "TASK1", "hard")].values()))
    assert unpaired[2] - unpaired[1] > 0.2


def test_a_row_they_print_constant_is_checked_by_its_signs():
    """Their row is 100.00% at every seed; ours dips below at most seeds (as fresh_mc's
    PRM-BoN does): the sign test catches it even though the mean moves by 0.3 points."""
    rng = np.random.default_rng(1)
    ours, theirs = _sides(rng)
    key = ("PRM-BoN", "TASK1", "easy")
    theirs[key] = {(s, 0): 1.0 for s in range(12)}
    ours[key] = {(s, 0): 1.0 - abs(0.003 + 0.003 * rng.standard_normal()) for s in range(12)}
    res = compare.compare(ours, theirs, CHAINS)
    assert res["verdict"] == "disagrees" and res["worst"]["row"] == key
    ours[key] = dict(theirs[key])  # equal to the print precision: no deviation at all
    assert compare.compare(ours, theirs, CHAINS)["verdict"] == "agrees"


def test_no_common_seed_is_not_applicable(tmp_path):
    from obandits.results import write_rows

    ours, theirs = _sides(np.random.default_rng(0))
    ours = {k: {(s + 40, r): x for (s, r), x in d.items()} for k, d in ours.items()}
    res = compare.compare(ours, theirs, {**CHAINS, **{s + 40: "A" for s in range(12)}})
    assert res["verdict"] == "n/a" and "no authors' run with these seeds" in res["reason"]
    # through the analysis: the table says n/a, the claim is open, no row says NO
    write_rows(tmp_path / "a.csv", [{"seed": s, "strategy": "Base Model", "task": "TASK1",
                                     "metric": "hard", "value": 0.05} for s in range(3)])
    raw = {"check": {"authors": str(tmp_path / "a.csv")}}
    table = _table({("Base Model", "TASK1", "hard"): [0.05]}, seeds=[42])
    text = analysis.table1(table, raw)
    assert "n/a: no authors' run with these seeds" in text and "NO" not in text
    claim0 = analysis.check(table, raw)[0]
    assert claim0["claim"] == "0" and claim0["holds"] is None


def test_one_common_seed_needs_reps():
    theirs = {("Base Model", "TASK1", "hard"): {(42, 0): 0.05}}
    one = {("Base Model", "TASK1", "hard"): {(42, 0): 0.051}}
    res = compare.compare(one, theirs, {42: "A"})
    assert res["verdict"] == "n/a" and "--reps 2" in res["reason"]
    reps = {("Base Model", "TASK1", "hard"): {(42, r): 0.05 + 0.01 * x
                                              for r, x in enumerate([-1, 0.5, 1, -0.3, 0.2])}}
    res = compare.compare(reps, theirs, {42: "A"})
    c = res["cells"][0]
    assert c["outside"] is False and c["lo"] < 0 < c["hi"]
    assert res["verdict"] == "agrees" and "binomial bound" in res["reason"]
    far = {k: {u: x + 0.2 for u, x in d.items()} for k, d in reps.items()}
    res = compare.compare(far, theirs, {42: "A"})
    assert res["cells"][0]["outside"] is True and res["verdict"] == "disagrees"


# ---------------------------------------------------------------- power on the committed runs

@pytest.mark.skipif(not (DATA / "preset" / "results.csv").is_file(), reason="no reference run")
def test_committed_runs_the_preset_agrees_and_every_wrong_version_does_not():
    """docs/data/bu2025/preset holds every variant on the seeds of the committed runs of their
    script (all four chains): the preset must agree with them, every cleaner definition and
    every mutant (pass@20 as pass@30, N = 5, temperature 0.5) must not, with cells outside."""
    from obandits.results import read_json, read_table

    raw = read_json(DATA / "preset" / "manifest.json")["config"]
    table = read_table(DATA / "preset" / "results.csv")
    authors = read_table(DATA / "authors.csv")
    assert len({analysis.chains([s], raw)[s] for s in set(authors["seed"].tolist())}) == 4
    got = {v: analysis.comparison(table, raw, v, authors=authors)
           for v in [*VARIANTS, *MUTANTS]}
    assert got[PRESET]["verdict"] == "agrees", got[PRESET]["reason"]
    assert len(got[PRESET]["groups"]) == 5  # four chains and all
    for v, res in got.items():
        if v != PRESET:
            assert res["verdict"] == "disagrees" and res["outside"] >= 3, (v, res["reason"])


# ---------------------------------------------------------------- the command line

SMALL = ["--seeds", "3,13", "--iters", "20", "--T1", "50", "--T2", "10", "--n-eval", "10",
         "--k", "4", "--select-n", "3", "--quiet", "--no-figures", "--workers", "1"]


def test_preset_command_honours_its_flags_into_the_default_folder(tmp_path, monkeypatch,
                                                                  capsys):
    from obandits.cli import main
    from obandits.sweep import read_manifest

    monkeypatch.chdir(tmp_path)
    assert main(["cot", "paper", "--preset", "bu2025", *SMALL, "--reps", "2"]) == 0
    out = tmp_path / "runs" / "cot" / "cot-bu2025"
    raw = read_manifest(out)["config"]
    assert raw["fixed"] == {"finetune_iterations": 20, "T1": 50, "T2": 10, "num_trials": 10,
                            "K": 4, "N": 3}
    assert raw["grid"][0]["seed"] == [3, 13] and raw["sweep"]["reps"] == 2
    assert "Table 1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["--train-task", "1"], "--train-task does not apply to --preset bu2025"),
    (["--pool", "40"], "--pool does not apply"),
    (["--c", "0.5"], "--c does not apply"),
    (["--small-grid"], "--small-grid does not apply"),
    (["--seeds", "3,x"], "--seeds: 'x' is not a seed"),
    (["--seeds", "5-2"], "--seeds: '5-2'"),
    (["--authors-csv", "/no/such.csv"], "--authors-csv: '/no/such.csv' is not a file"),
    (["--n-eval", "10", "--n-train", "20"], "contradicts another flag setting num_trials"),
    (["--reference", "--k", "4"], "--reference regenerates the committed run"),
])
def test_preset_command_refuses_with_one_line(argv, needle, capsys):
    from obandits.cli import main

    assert main(["cot", "paper", "--preset", "bu2025", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_seeds_and_authors_csv_need_the_preset(capsys):
    from obandits.cli import main

    assert main(["cot", "paper", "--seeds", "3"]) == 2
    assert "--seeds applies to --preset bu2025 only" in capsys.readouterr().err
