"""The bu2025 runner: parsing the authors' logs, the side-by-side analysis, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from obandits.cot import bu2025_runner as br

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
    rows = br.parse_log(LOG, 7)
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
        br.parse_log(cut, 0, "run.log")
    with pytest.raises(ValueError, match="percentage"):
        br.parse_log(LOG.replace("68.50%", "68.50"), 0)


def test_parse_chain_and_time():
    chain = br.parse_chain(LOG, 3)
    assert [c["path"] for c in chain] == ["0-0-0-0", "0-0-1-0", "1-0-0-1"]
    assert [c["type"] for c in chain] == ["easy", "hard", "easy"]
    t = br.parse_time("\tUser time (seconds): 60.28\n\tElapsed (wall clock) time (h:mm:ss or "
                      "m:ss): 1:01.17\n\tMaximum resident set size (kbytes): 295972\n"
                      "\tExit status: 0\n")
    assert t == {"wall_s": pytest.approx(61.17), "user_s": 60.28, "max_rss_kb": 295972,
                 "exit_status": 0}
    with pytest.raises(ValueError, match="Elapsed"):
        br.parse_time("nothing")


def _table(values: dict, variant="bu2025", seeds=range(10)):
    """A results table: values[(strategy, task, metric)] = array over seeds."""
    cols = {k: [] for k in ("seed", "variant", "rep", "strategy", "task", "metric", "value")}
    for (s, t, m), xs in values.items():
        for seed, x in zip(seeds, xs):
            for k, val in zip(cols, (seed, variant, 0, s, t, m, x)):
                cols[k].append(val)
    return {k: np.array(x, dtype=object if k in ("variant", "strategy", "task", "metric")
                        else float if k == "value" else np.int64) for k, x in cols.items()}


def test_side_by_side_agrees_within_noise_and_flags_a_shift():
    rng = np.random.default_rng(0)
    a = {("Base Model", "TASK1", "hard"): 0.08 + 0.01 * rng.standard_normal(10),
         ("PRM-BoN", "TASK1", "easy"): np.ones(10)}
    same = {k: x + 0.01 * rng.standard_normal(10) * (k[0] != "PRM-BoN") for k, x in a.items()}
    rows = br.side_by_side(_table(same), _table(a))
    assert [r["agrees"] for r in rows] == [True, True]
    shifted = {k: x + 0.05 for k, x in same.items()}
    rows = br.side_by_side(_table(shifted), _table(a))
    assert [r["agrees"] for r in rows] == [False, False]


def test_mean_ci_is_a_t_interval():
    m, lo, hi, n = br.mean_ci([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3)
    assert hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)
    assert np.isnan(br.mean_ci([1.0])[1])


def test_claims_hold_reverse_or_stay_open():
    base = np.full(10, 0.08) + np.linspace(0, 0.01, 10)
    t = _table({("Base Model", "TASK1", "hard"): base,
                ("REINFORCE", "TASK1", "hard"): base - 0.05,
                ("DPRM", "TASK1", "hard"): base + 0.3,
                ("ORM-BoN", "TASK1", "hard"): base + np.linspace(-0.01, 0.01, 10)})
    claims = {c["text"].split(":")[0]: c for c in br.check(t, {"check": {"authors": "/none"}})}
    assert claims["RLVR forgets rare CoTs (REINFORCE)"]["holds"] is True
    assert claims["DPRM lowers the rare CoTs' share"]["holds"] is False
    assert claims["ORM-BoN lowers the rare CoTs' share"]["holds"] is None
    assert "authors" in br.verdicts(list(claims.values()))
