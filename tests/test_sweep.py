"""The sweep machinery: config validation, tidy tables, resumability, process invariance."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from obandits import runners
from obandits.sweep import config_from_dict, load_config, read_table, run_sweep

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "bandit"


def _cfg(grid, reps=3, seed=11, **extra):
    raw = {"sweep": {"name": "t", "runner": RUNNER, "root_seed": seed, "reps": reps},
           "grid": grid, **extra}
    return config_from_dict(raw)


SMALL = [{"family": "partition", "K": 8, "m": [2, 4], "gap": [0.1, 0.4],
          "learner": ["ucb1", "outcome-ucb"], "T": 512}]


def test_grid_expansion_and_defaults():
    cfg = _cfg(SMALL + [{"family": "partition", "K": 8, "m": 2, "gap": 0.1,
                         "learner": "ucb1", "T": 512}])
    assert len(cfg.cells) == 8  # the duplicate cell of the second grid is kept once
    p = cfg.cells[0].params
    assert p["alpha"] == 2.0 and p["reward"] == "bernoulli"  # defaults are part of the key
    assert len({c.id for c in cfg.cells}) == 8


def test_zip_ties_parameters():
    grid = {"family": "partition", "K": [8, 16, 32], "m": [8, 16, 32], "zip": ["K", "m"],
            "gap": [0.1, 0.4], "learner": "ucb1", "T": 64}
    cfg = _cfg([grid])
    assert sorted((c.params["K"], c.params["m"], c.params["gap"]) for c in cfg.cells) == [
        (K, K, g) for K in (8, 16, 32) for g in (0.1, 0.4)]
    assert "zip" not in cfg.cells[0].params
    with pytest.raises(ValueError, match="lists of one length"):
        _cfg([{**grid, "m": [8, 16]}])
    with pytest.raises(ValueError, match="not parameters here"):
        _cfg([{**grid, "zip": ["K", "alpha"]}])
    with pytest.raises(ValueError, match="zip must be a list of parameter names"):
        _cfg([{**grid, "zip": "K"}])


@pytest.mark.parametrize("raw, match", [
    ({}, "missing the \\[sweep\\] table"),
    ({"sweep": {"name": "x", "runner": RUNNER, "root_seed": 1}}, "needs 'reps'"),
    ({"sweep": {"name": "x", "runner": RUNNER, "root_seed": 1, "reps": 2, "foo": 1}},
     "unknown key 'foo'"),
    ({"sweep": {"name": "x", "runner": "nomodule", "root_seed": 1, "reps": 2}},
     "runner must be one of"),
    ({"sweep": {"name": "x", "runner": "os:system", "root_seed": 1, "reps": 2}},
     # the built-ins, and whatever else is installed (cot-lm, plugins)
     "runner must be one of \\['bandit', 'bu2025', 'cot', .*'rlsim'.*\\], got 'os:system'"),
    ({"sweep": {"name": "x", "runner": RUNNER, "root_seed": -1, "reps": 2}},
     "root_seed must be >= 0"),
    ({"sweep": {"name": "x", "runner": RUNNER, "root_seed": 1, "reps": 0}}, "reps must be >= 1"),
    ({"sweep": {"name": "x", "runner": RUNNER, "root_seed": 1, "reps": 1}}, "at least one"),
])
def test_bad_sweep_configs(raw, match):
    with pytest.raises(ValueError, match=match):
        config_from_dict(raw)


@pytest.mark.parametrize("grid, match", [
    ({"family": "partition", "K": 8, "m": 2, "gap": 0.1, "learner": "exp3", "T": 9},
     "learner must be one of"),
    ({"family": "partition", "K": 8, "m": 20, "gap": 0.1, "learner": "ucb1", "T": 9},
     "m must be <= 8"),
    ({"family": "partition", "K": 8, "m": 2, "gap": 2.0, "learner": "ucb1", "T": 9},
     "gap must be <= 1"),
    ({"family": "partition", "K": 8, "m": 2, "gap": 0.1, "learner": "ucb1"}, "needs \\['T'\\]"),
    ({"family": "partition", "K": 8, "m": 2, "gap": 0.1, "learner": "ucb1", "T": 9, "x": 1},
     "unknown bandit parameters"),
    ({"family": "needle", "K": 8, "m": 1, "gap": 0.1, "learner": "ucb1", "T": 9},
     "m must be >= 2"),
    ({"family": "partition", "K": 8, "m": 2, "gap": 0.3, "learner": "ucb1", "T": 9,
      "reward": "deterministic"}, "deterministic"),
    ({"family": "partition", "K": 8, "m": [], "gap": 0.1, "learner": "ucb1", "T": 9},
     "empty list"),
    ({"family": "partition", "K": 4096, "m": 2, "gap": 0.1, "learner": "ucb1", "T": 10**9},
     "lower T or K"),
])
def test_bad_cells_rejected_before_work(grid, match):
    with pytest.raises(ValueError, match=match):
        _cfg([grid])


def test_tidy_table_and_manifest(tmp_path):
    cfg = _cfg(SMALL)
    path = run_sweep(cfg, tmp_path, workers=1, threads=1, progress=False)
    tab = read_table(path)
    n_ck = 10  # checkpoints 1, 2, 4, ..., 512
    assert len(tab["rep"]) == len(cfg.cells) * cfg.reps * n_ck
    keys = set(zip(tab["cell"], tab["rep"], tab["t"]))
    assert len(keys) == len(tab["rep"])  # one row per cell x rep x checkpoint
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["status"] == "complete" and man["root_seed"] == 11
    assert man["versions"]["obandits"] and man["git_revision"]
    assert [c["id"] for c in man["cells"]] == [c.id for c in cfg.cells]
    # an extended config reuses the finished cells and runs only the new ones
    before = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "cells").glob("*.csv")}
    bigger = _cfg([{**SMALL[0], "gap": [0.1, 0.4, 0.7]}])
    tab = read_table(run_sweep(bigger, tmp_path, workers=1, threads=1, progress=False))
    assert len(tab["rep"]) == len(bigger.cells) * bigger.reps * n_ck == 12 * 3 * n_ck
    assert all((tmp_path / "cells" / k).stat().st_mtime_ns == t for k, t in before.items())
    # a sweep with another seed into the same directory is refused
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(_cfg(SMALL, seed=12), tmp_path, workers=1, progress=False)


def test_identical_tables_whatever_workers_and_threads(tmp_path):
    cfg = _cfg(SMALL)
    a = run_sweep(cfg, tmp_path / "a", workers=1, threads=1, progress=False).read_bytes()
    b = run_sweep(cfg, tmp_path / "b", workers=1, threads=2, progress=False).read_bytes()
    c = run_sweep(cfg, tmp_path / "c", workers=2, threads=1, progress=False).read_bytes()
    assert a == b == c
    tab = read_table(tmp_path / "a" / "results.csv")
    last = tab["t"] == 512
    sel = last & (tab["cell"] == tab["cell"][0])
    assert len(set(tab["regret"][sel])) > 1  # repetitions are different streams


def test_resume_after_kill_no_lost_no_duplicated_rows(tmp_path):
    grid = [{"family": "needle", "K": 64, "m": 2, "gap": [0.1, 0.2, 0.3, 0.4, 0.5],
             "learner": "thompson", "T": 16384, "alpha": [1.0, 2.0]}]
    text = (f"[sweep]\nname = \"kill\"\nrunner = \"{RUNNER}\"\nroot_seed = 3\nreps = 4\n\n"
            "[[grid]]\n")
    for k, val in grid[0].items():
        text += f"{k} = {json.dumps(val)}\n"
    conf = tmp_path / "kill.toml"
    conf.write_text(text)
    cfg = load_config(conf)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "obandits", "sweep", str(conf), "--out",
                             str(out), "--workers", "1", "--quiet"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cells").glob("*.csv"))) < 2:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "cells").glob("*.csv")))
    assert 2 <= done < len(cfg.cells), f"kill came too late: {done} cells done"
    assert not (out / "results.csv").exists()
    run_sweep(cfg, out, workers=2, progress=False)  # resume, with another worker count
    fresh = run_sweep(cfg, tmp_path / "fresh", workers=1, threads=1, progress=False)
    assert (out / "results.csv").read_bytes() == fresh.read_bytes()
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    n_ck = 15  # 1, 2, ..., 16384
    assert len(rows) == len(cfg.cells) * 4 * n_ck
    assert len({(r["cell"], r["rep"], r["t"]) for r in rows}) == len(rows)
    assert not list((out / "cells").glob(".*tmp*"))


def test_read_table_types(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,0.5,x\n2,1e-3,y\n")
    tab = read_table(p)
    assert tab["a"].dtype == np.int64 and tab["b"].dtype == np.float64
    assert list(tab["c"]) == ["x", "y"]
    with pytest.raises(ValueError, match="does not exist"):
        read_table(tmp_path / "none.csv")


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")


def test_extending_with_a_new_parameter_keeps_columns_aligned(tmp_path, toy):
    def cfg(grid):
        return config_from_dict({"sweep": {"name": "toy", "root_seed": 1, "reps": 2,
                                           "runner": "toy"},
                                 "grid": grid})

    run_sweep(cfg([{"K": [1, 2]}]), tmp_path, workers=1, progress=False)
    tab = read_table(run_sweep(cfg([{"K": [1, 2]}, {"K": 3, "x": "hello"}]), tmp_path,
                               workers=1, progress=False))
    assert list(tab) == ["cell", "K", "rep", "val", "x"]
    assert list(tab["rep"]) == [0, 1, 0, 1, 0, 1]
    assert tab["val"].dtype == np.float64 and ((tab["val"] >= 0) & (tab["val"] < 1)).all()
    assert list(tab["x"]) == ["", "", "", "", "hello", "hello"]
