"""The bu2025 runner: parsing the authors' logs, the claims, the preset's config, bad input
(the comparison with the authors' runs: tests/test_bu2025_compare.py)."""

from __future__ import annotations

import numpy as np
import pytest

from obandits.cot.bu2025 import analysis, authors, cells, preset, runner

LOG = """TMC Structure Information:
- Number of layers: 4

Task TASK1:
  Start state: 0
  Target state: 0
  Number of valid paths: 2
    Path 1: [0, np.int64(0), np.int64(0), np.int64(0)] (Type: EASY, Probability: 0.413223, Expected Accuracy: 0.727995)
    Path 2: [0, np.int64(0), np.int64(1), np.int64(0)] (Type: HARD, Probability: 0.075131, Expected Accuracy: 0.132363)

Task TASK2:
  Start state: 1
    Path 1: [1, np.int64(0), np.int64(0), np.int64(1)] (Type: EASY, Probability: 0.413223, Expected Accuracy: 0.955691)
Iteration 0/1000 - Pass@K: 0.7950

Pass@30 Performance for Both Tasks:
| Strategy | TASK1 Pass@K Rate (%) | TASK2 Pass@K Rate (%) |
|----------|----------------------|----------------------|
| Base Model | 71.00% | 95.50% |
| REINFORCE | 68.50% | 38.00% |

Valid CoT Coverage for Both Tasks:
| Strategy | TASK1 Valid Easy CoTs (%) | TASK1 Valid Hard CoTs (%) | TASK1 Invalid CoTs (%) | TASK2 Valid Easy CoTs (%) | TASK2 Valid Hard CoTs (%) | TASK2 Invalid CoTs (%) |
|----------|---|---|---|---|---|---|
| Base Model | 20.98% | 7.75% | 71.27% | 20.30% | 1.07% | 78.63% |
| REINFORCE | 94.52% | 3.32% | 2.17% | 1.75% | 1.15% | 97.10% |
TASK1 performance plot saved as /tmp/x.png
"""  # noqa: E501


def test_parse_log_reads_both_tables_as_fractions():
    rows = authors.parse_log(LOG, 7)
    assert len(rows) == 2 * 2 + 2 * 6
    got = {(r["strategy"], r["task"], r["metric"]): r["value"] for r in rows}
    assert got[("Base Model", "TASK1", "pass_at_k")] == pytest.approx(0.71)
    assert got[("REINFORCE", "TASK2", "pass_at_k")] == pytest.approx(0.38)
    assert got[("REINFORCE", "TASK1", "hard")] == pytest.approx(0.0332)
    assert got[("Base Model", "TASK2", "invalid")] == pytest.approx(0.7863)
    assert {r["seed"] for r in rows} == {7}


def test_parse_log_refuses_a_cut_log():
    cut = LOG[: LOG.index("Valid CoT Coverage")]
    with pytest.raises(ValueError, match="run.log: no coverage table"):
        authors.parse_log(cut, 0, "run.log")
    with pytest.raises(ValueError, match="percentage"):
        authors.parse_log(LOG.replace("68.50%", "68.50"), 0)


def test_parse_chain_and_time():
    chain = authors.parse_chain(LOG, 3)
    assert [c["path"] for c in chain] == ["0-0-0-0", "0-0-1-0", "1-0-0-1"]
    assert [c["type"] for c in chain] == ["easy", "hard", "easy"]
    t = authors.parse_time("\tUser time (seconds): 60.28\n\tElapsed (wall clock) time (h:mm:ss or "
                      "m:ss): 1:01.17\n\tMaximum resident set size (kbytes): 295972\n"
                      "\tExit status: 0\n")
    assert t == {"wall_s": pytest.approx(61.17), "user_s": 60.28, "max_rss_kb": 295972,
                 "exit_status": 0}
    with pytest.raises(ValueError, match="Elapsed"):
        authors.parse_time("nothing")


# ---------------------------------------------------------------- the runner and bad input

SMALL = {"T1": 50, "T2": 10, "finetune_iterations": 20, "num_trials": 10, "K": 4, "N": 3}


def test_run_cell_gives_every_strategy_task_and_metric():
    from obandits.cot.bu2025.scoring import METRICS, STRATEGIES

    p = cells.validate_cell({"seed": 3, **SMALL})
    cols = runner.run_cell(p, 0, "k", 2)
    assert len(cols["value"]) == 2 * (len(STRATEGIES) + 1) * 2 * len(METRICS)
    assert set(cols["rep"].tolist()) == {0, 1}
    assert list(dict.fromkeys(cols["strategy"].tolist())) == [*STRATEGIES, cells.TILTED_DPRM]
    assert np.all((cols["value"] >= 0) & (cols["value"] <= 1))
    # shares of one (strategy, task) sum to 1
    shares = cols["value"][np.isin(cols["metric"], ["easy", "hard", "invalid"])]
    assert np.allclose(shares.reshape(-1, 3).sum(axis=1), 1.0)
    again = runner.run_cell(p, 0, "another key", 2)  # streams depend on (root_seed, seed) only
    assert np.array_equal(cols["value"], again["value"])


def test_variants_share_pretraining_and_change_what_they_switch():
    a = runner.run_cell(cells.validate_cell({"seed": 1, **SMALL}), 0, "a", 1)
    b = runner.run_cell(cells.validate_cell({"seed": 1, "variant": "solvable", **SMALL}), 0, "b", 1)
    cov = a["metric"] != "pass_at_k"
    assert np.array_equal(a["value"][cov], b["value"][cov])  # only pass@K's denominator moves
    assert not np.array_equal(a["value"][~cov], b["value"][~cov])


def test_preset_config_matches_the_committed_toml():
    from pathlib import Path

    from obandits.sweep import config_from_dict, load_config

    toml = load_config(Path(__file__).parents[1] / "experiments/cot/bu2025.toml")
    ours = config_from_dict(preset.preset_config("bu2025"), "preset")
    assert [c.key for c in toml.cells] == [c.key for c in ours.cells]
    assert toml.raw.get("check") == ours.raw.get("check")
    assert len(ours.cells) == len(cells.SEEDS) * (len(cells.VARIANTS) + len(cells.MUTANTS))
    assert [c.params["seed"] for c in ours.cells[::len(cells.ALL_VARIANTS)]] == \
        list(cells.SEEDS)


@pytest.mark.parametrize("params, field", [
    ({"variant": "bu2024"}, "variant"),
    ({"varaint": "bu2025"}, "varaint"),
    ({"finetune_iterations": 0}, "finetune_iterations"),
    ({"num_trials": 0}, "num_trials"),
    ({"K": 0}, "K"),
    ({"N": 0}, "N"),
    ({"T1": 0, "T2": 0}, "T1"),
    ({"seed": -1}, "seed"),
    ({"high_edges": [[0, 0, 0], [9, 0, 0]], "chain_from_seed": False}, "high_edges"),
    ({"L": 5}, "L=5, M0=2, M=2 give 32 paths"),
])
def test_bad_cells_name_the_field(params, field):
    with pytest.raises(ValueError, match=field):
        cells.validate_cell(params)


def test_bad_presets_name_the_argument():
    with pytest.raises(ValueError, match="preset must be one of"):
        preset.preset_config("bu2026")
    with pytest.raises(ValueError, match=r"variants\[1\]"):
        preset.preset_config("bu2025", variants=["bu2025", "cleaner"])
    with pytest.raises(ValueError, match="seeds"):
        preset.preset_config("bu2025", seeds=0)
    with pytest.raises(ValueError, match="finetune_iterations"):
        preset.run_preset("bu2025", seeds=1, finetune_iterations=0, out="/nonexistent/never")


DATA = __import__("pathlib").Path(__file__).parents[1] / "docs/data/bu2025"


@pytest.mark.skipif(not (DATA / "authors_chain.csv").is_file(), reason="no authors' data")
def test_seed_matched_chain_is_the_one_their_runs_printed():
    """Every seed their script ran: the chain authors_high_edges(seed) builds has exactly the
    valid paths, types and probabilities their log printed (l.197-218)."""
    from obandits.cot.bu2025 import Bu2025Config, build_chain
    from obandits.cot.chain import is_easy, path_prob
    from obandits.results import read_table

    t = read_table(DATA / "authors_chain.csv")
    assert len(set(t["seed"].tolist())) >= 10
    for seed in sorted(set(t["seed"].tolist())):
        chain = build_chain(Bu2025Config(seed=seed, chain_from_seed=True))
        sel = t["seed"] == seed
        paths = np.array([[int(x) for x in p.split("-")] for p in t["path"][sel]])
        assert np.allclose(path_prob(chain.P, paths), t["probability"][sel], atol=1e-6)
        assert list(np.where(is_easy(chain, paths), "easy", "hard")) == list(t["type"][sel])


@pytest.mark.skipif(not (DATA / "authors.csv").is_file(), reason="no authors' data")
def test_authors_csv_has_every_row_of_every_seed():
    from obandits.results import read_table

    t = read_table(DATA / "authors.csv")
    seeds = sorted(set(t["seed"].tolist()))
    assert len(seeds) >= 10
    assert len(t["value"]) == len(seeds) * 11 * 2 * 4
    assert np.all((t["value"] >= 0) & (t["value"] <= 1))


@pytest.mark.skipif(not (DATA / "preset" / "results.csv").is_file(), reason="no reference run")
def test_committed_doc_is_what_the_data_files_give():
    """docs/bu2025.md is generated: its tables equal summarise() of the committed data."""
    from obandits.results import read_json, read_table

    raw = read_json(DATA / "preset" / "manifest.json")["config"]
    text = analysis.summarise(read_table(DATA / "preset" / "results.csv"), raw)
    assert text in (DATA.parents[1] / "bu2025.md").read_text()


def test_every_variant_runs_and_changes_only_its_switches():
    base = cells.cell_config(cells.validate_cell({"seed": 0}))
    for name, spec in cells.ALL_VARIANTS.items():
        p = cells.validate_cell({"seed": 0, "variant": name, **SMALL})
        cfg = cells.cell_config(p)
        changed = {f for f in spec["set"] if getattr(cfg, f) != getattr(base, f)}
        assert changed == set(spec["set"]), name
        cols = runner.run_cell(p, 0, name, 1)
        assert np.all(np.isfinite(cols["value"])), name
