"""Issue 15, sweep side: no silent wrong result, no lost run. Each test failed before its fix."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from obandits import runners
from obandits.cli import main
from obandits.results import merge_cells, read_table
from obandits.sweep import CellFailed, config_from_dict, run_sweep, verify_cell

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def toy(monkeypatch):
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")


def cfg(grid=None, seed=1, reps=3, **extra):
    return config_from_dict({"sweep": {"name": "toy", "runner": "toy", "root_seed": seed,
                                       "reps": reps},
                             "grid": grid or [{"K": [1, 2, 3, 4]}], **extra})


def run(c, out, **kw):
    return run_sweep(c, out, workers=kw.pop("workers", 1), progress=False, **kw)


def test_resume_without_manifest_recomputes_cells_of_another_seed(tmp_path, capsys):
    run(cfg(seed=1), tmp_path / "a")
    (tmp_path / "a" / "manifest.json").unlink()
    got = run(cfg(seed=2), tmp_path / "a").read_bytes()
    assert got == run(cfg(seed=2), tmp_path / "fresh").read_bytes()
    err = capsys.readouterr().err
    assert err.count("recomputing cell") == 4 and "root_seed = 1" in err


def test_cell_cut_at_a_line_boundary_is_recomputed(tmp_path, capsys):
    good = run(cfg(), tmp_path).read_bytes()
    cell = sorted((tmp_path / "cells").glob("*.csv"))[0]
    lines = cell.read_text().splitlines(keepends=True)
    cell.write_text("".join(lines[:-1]))  # whole rows lost, the file still ends in a newline
    assert run(cfg(), tmp_path).read_bytes() == good
    assert f"recomputing cell {cell.stem}" in capsys.readouterr().err


def test_garbage_cell_is_recomputed_and_bad_tables_are_named(tmp_path):
    good = run(cfg(), tmp_path).read_bytes()
    cell = sorted((tmp_path / "cells").glob("*.csv"))[1]
    cell.write_bytes(b"\xff\x00garbage")
    assert run(cfg(), tmp_path).read_bytes() == good
    for text, msg in [("", "is empty"), ("a,b\n1,2\n3", "is cut"), ("a,b\n1,2,3\n", "line 2"),
                      ("a,a\n1,2\n", "bad header")]:
        p = tmp_path / "bad.csv"
        p.write_text(text)
        with pytest.raises(ValueError, match=msg) as e:
            merge_cells([p])
        assert str(p) in str(e.value)
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="garbage"):
        read_table(p)


@pytest.mark.parametrize("table, msg", [("fixd", "did you mean 'fixed'"),
                                        ("chek", "did you mean 'check'"),
                                        ("grids", "did you mean 'grid'")])
def test_misspelled_tables_are_refused(table, msg):
    with pytest.raises(ValueError, match=msg):
        cfg(**{table: {"x": 1}})


def test_misspelled_sweep_key_and_bandit_parameter():
    with pytest.raises(ValueError, match="did you mean 'root_seed'"):
        config_from_dict({"sweep": {"name": "x", "runner": "toy", "root_sed": 1, "reps": 1},
                          "grid": [{"K": 1}]})
    with pytest.raises(ValueError, match="did you mean 'gap'"):
        config_from_dict({"sweep": {"name": "x", "runner": "bandit", "root_seed": 1, "reps": 1},
                          "grid": [{"family": "partition", "K": 4, "m": 2, "gapp": 0.1,
                                    "learner": "ucb1", "T": 8}]})


def test_disk_full_names_the_cell_file_not_the_manifest(tmp_path, monkeypatch, capsys):
    conf = tmp_path / "c.toml"
    conf.write_text('[sweep]\nname="toy"\nrunner="toy"\nroot_seed=1\nreps=2\n[[grid]]\nK=[1,2]\n')
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 1:  # the first manifest write succeeds, everything after fails
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    rc = main(["sweep", str(conf), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "No space left" in err and "/cells/" in err and "manifest" not in err
    assert not [p for p in (tmp_path / "o").rglob("*") if ".tmp" in p.name]


def test_unwritable_output_is_one_line(tmp_path, monkeypatch, capsys):
    conf = tmp_path / "c.toml"
    conf.write_text('[sweep]\nname="toy"\nrunner="toy"\nroot_seed=1\nreps=2\n[[grid]]\nK=[1,2]\n')
    (tmp_path / "file").write_text("x")
    assert main(["sweep", str(conf), "--out", str(tmp_path / "file"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err

    def deny(self, *a, **k):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", deny)
    assert main(["sweep", str(conf), "--out", str(tmp_path / "ro"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and str(tmp_path / "ro") in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content, msg", [("[]", "not a sweep manifest"),
                                          ('{"name": "x"}', "not a sweep manifest"),
                                          ("{", "not valid JSON")])
def test_bad_manifest_is_named(tmp_path, content, msg):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ValueError, match=msg):
        run(cfg(), tmp_path)
    assert main(["plot", str(tmp_path)]) == 2


def test_check_on_an_empty_table(tmp_path, capsys):
    run(cfg(), tmp_path)
    (tmp_path / "results.csv").write_text("cell,K,rep,val\n")
    assert main(["check", str(tmp_path)]) == 0  # rebuilt from the cells
    assert "was cut (0 of the" in capsys.readouterr().err
    (tmp_path / "results.csv").write_text("cell,K,rep,val\n")
    import shutil

    shutil.rmtree(tmp_path / "cells")
    assert main(["check", str(tmp_path)]) == 2
    assert "is cut (0 of the" in capsys.readouterr().err
    assert main(["bandit-check", str(tmp_path)]) == 2


def test_fail_fast_names_the_cell_and_keeps_finished_ones(tmp_path):
    grid = [{"K": [1, 2], "sleep": 0.0}, {"K": 3, "fail": True},
            {"K": list(range(10, 50)), "sleep": 0.5}]
    with pytest.raises(CellFailed, match=r"cell \w+ .*\"fail\":true.* failed: RuntimeError: "
                                         r"toy cell failed on purpose \(K=3\)"):
        run(cfg(grid), tmp_path, workers=2)
    done = {p.stem for p in (tmp_path / "cells").glob("*.json")}
    assert len(done) < 20  # the 40 cells of 0.5 s queued behind the failure never ran
    c = cfg(grid)
    kept = [x for x in c.cells if x.id in done]
    assert all(verify_cell(c, x, tmp_path / "cells") is None for x in kept)  # finished: kept
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["status"] == "running" and not (tmp_path / ".lock").exists()


def test_lock_refuses_a_live_writer_and_takes_over_a_dead_one(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(str(sleeper.pid))
        with pytest.raises(ValueError, match=f"in use by another sweep \\(pid {sleeper.pid}"):
            run(cfg(), out)
        assert not (out / "cells").exists() or not list((out / "cells").iterdir())
    finally:
        sleeper.kill()
        sleeper.wait()
    run(cfg(), out)  # the holder is dead: its lock is taken over
    assert (out / "results.csv").exists() and not (out / ".lock").exists()


def test_large_sweep_needs_confirming(tmp_path):
    big = cfg([{"K": list(range(50)), "T": 10**9}])
    with pytest.raises(ValueError, match=r"50 cells x 3 reps, work .* above the limit"):
        run(big, tmp_path / "a", max_work=1e9)
    with pytest.raises(ValueError, match="--yes"):
        run(cfg(), tmp_path / "b", max_cells=2)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    run(cfg(), tmp_path / "b", max_cells=2, yes=True)


@pytest.mark.parametrize("grid, msg", [([], "at least one \\[\\[grid\\]\\]"),
                                       ([{"K": []}], "empty list")])
def test_empty_grids(grid, msg):
    with pytest.raises(ValueError, match=msg):
        config_from_dict({"sweep": {"name": "x", "runner": "toy", "root_seed": 1, "reps": 1},
                          "grid": grid})


def test_changed_config_at_an_existing_directory(tmp_path):
    run(cfg(), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="reps 3 there, 4 here"):
        run(cfg(reps=4), tmp_path)
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_debug_shows_the_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "obandits", "sweep", "none.toml"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "does not exist" in r.stderr
    r = subprocess.run([sys.executable, "-m", "obandits", "--debug", "sweep", "none.toml"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "Traceback" in r.stderr
