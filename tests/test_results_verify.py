"""`obandits check`, `plot` and a resumed sweep verify results.csv against the manifest (row
count, SHA-256): a damaged table (cut, edited, extra rows, missing) is rebuilt from the
verified cell files with one line saying so, or refused, with one line saying why, when the
cells cannot rebuild it."""

import json

import pytest

from obandits import runners
from obandits.cli import main
from obandits.sweep import config_from_dict, run_sweep

CONFIG = {"sweep": {"name": "toy", "runner": "toy", "root_seed": 1, "reps": 3},
          "grid": [{"K": [1, 2, 3, 4]}]}


@pytest.fixture
def done(tmp_path, monkeypatch):
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")
    run_sweep(config_from_dict(CONFIG), tmp_path / "done", workers=1, progress=False)
    return tmp_path / "done"


def _cut(p):  # at a line boundary: a table that parses, with fewer rows
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:5]))


def _edit(p):  # one value changed, same rows
    lines = p.read_text().splitlines(keepends=True)
    head, last = lines[1].rsplit(",", 1)
    lines[1] = f"{head},{float(last) * 0.01!r}\n"
    p.write_text("".join(lines))


def _extra(p):  # a row repeated
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines + lines[1:2]))


DAMAGES = {"cut": (_cut, "cut (4 of the 12 rows"),
           "edited": (_edit, "edited (its SHA-256 differs"),
           "extra-rows": (_extra, "longer than recorded (13 rows, the manifest records 12)"),
           "missing": (lambda p: p.unlink(), "was missing")}


def test_manifest_records_rows_and_checksum(done):
    import hashlib

    man = json.loads((done / "manifest.json").read_text())
    data = (done / "results.csv").read_bytes()
    assert man["results"] == {"rows": 12, "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("command", ["check", "plot"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_table_is_rebuilt_from_verified_cells(done, capsys, command, damage):
    good = (done / "results.csv").read_bytes()
    spoil, what = DAMAGES[damage]
    spoil(done / "results.csv")
    assert main([command, str(done)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and what in err[0] and "rebuilt from its 4 verified cells" in err[0]
    assert (done / "results.csv").read_bytes() == good
    assert main([command, str(done)]) == 0  # now intact: nothing to say
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["check", "plot"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_table_with_a_damaged_cell_is_refused(done, capsys, command, damage):
    spoil, what = DAMAGES[damage]
    spoil(done / "results.csv")
    cell = sorted((done / "cells").glob("*.csv"))[0]
    cell.write_text(cell.read_text().replace("\n", "\n0,", 1))
    before = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
    assert main([command, str(done)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    what = what.replace("was missing", "is missing")
    assert what in err and "cannot be rebuilt: cell " + cell.stem in err, err
    assert {p: p.read_bytes() for p in done.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_rebuilds_a_damaged_table_and_says_so(done, damage):
    good = (done / "results.csv").read_bytes()
    DAMAGES[damage][0](done / "results.csv")
    said = []
    run_sweep(config_from_dict(CONFIG), done, workers=1, progress=False, log=said.append)
    assert (done / "results.csv").read_bytes() == good
    assert len(said) == 1 and "rebuilt from the verified cells" in said[0], said


def test_manifest_without_record_is_checked_against_the_cells(done, capsys):
    """A sweep finished before the manifest recorded results.csv: the cells decide."""
    man = json.loads((done / "manifest.json").read_text())
    del man["results"]
    (done / "manifest.json").write_text(json.dumps(man))
    good = (done / "results.csv").read_bytes()
    _edit(done / "results.csv")
    assert main(["check", str(done)]) == 0
    err = capsys.readouterr().err.strip()
    assert "not the merge of its verified cells: rebuilt" in err
    assert (done / "results.csv").read_bytes() == good


def test_committed_reference_tables_match_their_manifests():
    from pathlib import Path

    from obandits.results import read_manifest
    from obandits.sweep import results_damage

    root = Path(__file__).resolve().parents[1]
    dirs = sorted(p.parent for p in root.glob("experiments/*/results/*/manifest.json"))
    assert dirs
    for d in dirs:
        man = read_manifest(d)
        assert isinstance(man.get("results"), dict) and results_damage(d, man) is None, d
