"""Bad-input matrix, sweep side (issue 15): TOML configs, command-line arguments and files on
disk. Each case: a non-zero exit, one line on stderr naming the argument or file and what is
allowed, and nothing written or changed."""

import json

import pytest

from obandits import runners
from obandits.cli import main
from obandits.sweep import config_from_dict, run_sweep

HEAD = '[sweep]\nname = "bad"\nrunner = "bandit"\nroot_seed = 1\nreps = 2\n'
GRID = ('[[grid]]\nfamily = "partition"\nK = 8\nm = 2\ngap = 0.1\nlearner = "ucb1"\n'
        'T = 64\n')
GOOD = HEAD + GRID
RLSIM = HEAD.replace('"bandit"', '"rlsim"') + '[[grid]]\nmethod = "ucb-con"\n'
COT = HEAD.replace('"bandit"', '"cot"') + '[[grid]]\nmethod = "grpo"\n'

TOML_CASES = [
    ("no-sweep", GRID, "missing the [sweep] table"),
    ("sweep-not-table", "sweep = 1\n" + GRID, "[sweep] must be a table"),
    ("sweep-key", GOOD.replace("root_seed", "rot_seed"), "did you mean 'root_seed'"),
    ("no-reps", GOOD.replace("reps = 2\n", ""), "[sweep] needs 'reps'"),
    ("runner-os-system", GOOD.replace('"bandit"', '"os:system"'),
     "sweep.runner must be one of ['bandit', 'bu2025', 'cot', "),
    ("runner-path", GOOD.replace('"bandit"', '"obandits.bandit.runner:run_cell"'),
     "sweep.runner must be one of"),
    ("seed-negative", GOOD.replace("root_seed = 1", "root_seed = -1"),
     "sweep.root_seed must be >= 0"),
    ("seed-string", GOOD.replace("root_seed = 1", 'root_seed = "one"'), "sweep.root_seed"),
    ("reps-zero", GOOD.replace("reps = 2", "reps = 0"), "sweep.reps must be >= 1"),
    ("reps-float", GOOD.replace("reps = 2", "reps = 1.5"), "sweep.reps"),
    ("name-empty", GOOD.replace('"bad"', '""'), "sweep.name must be a non-empty string"),
    ("name-path", GOOD.replace('"bad"', '"../x"'), "without '/'"),
    ("fixd", GOOD + "[fixd]\nT = 5\n", "did you mean 'fixed'"),
    ("chek", GOOD + "[chek]\nx = 1\n", "did you mean 'check'"),
    ("no-grid", HEAD, "at least one [[grid]] table"),
    ("empty-list", GOOD.replace("m = 2", "m = []"), "parameter 'm' has an empty list"),
    ("zip-string", GOOD + 'zip = "K"\n', "zip must be a list of parameter names"),
    ("zip-unknown", GOOD + 'zip = ["nope"]\n', "not parameters here"),
    ("zip-lengths", GOOD.replace("K = 8", "K = [8, 16]").replace("m = 2", "m = [2]")
     + 'zip = ["K", "m"]\n', "lists of one length"),
    ("table-value", GOOD + "x = {a = 1}\n", "must be a scalar or a list of scalars"),
    ("fixed-not-table", "fixed = 3\n" + GOOD, "[fixed] must be a table"),
    ("learner", GOOD.replace('"ucb1"', '"exp3"'), "learner must be one of"),
    ("m-above-K", GOOD.replace("m = 2", "m = 20"), "m must be <= 8"),
    ("gap", GOOD.replace("gap = 0.1", "gap = 2.0"), "gap must be <= 1"),
    ("bandit-param", GOOD.replace("gap =", "gapp ="), "did you mean 'gap'"),
    ("no-T", GOOD.replace("T = 64\n", ""), "bandit cell needs ['T']"),
    ("old-c", GOOD + "c = 0.5\n", "'c' is now 'klucb_c'"),
    ("bad-toml", "[sweep\n", "not valid TOML"),
    ("grid-empty-array", "grid = []\n" + HEAD, "at least one [[grid]] table"),
    ("K-string", GOOD.replace("K = 8", 'K = "eight"'), "K"),
    ("T-float", GOOD.replace("T = 64", "T = 64.5"), "T"),
    ("rlsim-key", RLSIM + "shar = 1.0\n", "did you mean 'share'"),
    ("rlsim-type", RLSIM + 'steps = "ten"\n', "steps"),
    ("rlsim-old-name", RLSIM + "beta_kl = 0.1\n", "'beta_kl' is now 'kl_beta'"),
    ("rlsim-method", RLSIM.replace('"ucb-con"', '"ucb-conn"'), "method must be one of"),
    ("cot-key", COT + "n_trian = 3\n", "did you mean 'n_train'"),
]


def _snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _one_error(capsys, rc, expected):
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("obandits: error: ") and expected in err, err
    return err


@pytest.mark.parametrize("text, expected", [c[1:] for c in TOML_CASES],
                         ids=[c[0] for c in TOML_CASES])
def test_bad_toml(tmp_path, capsys, text, expected):
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    before = _snapshot(tmp_path)
    rc = main(["sweep", str(conf), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"])
    err = _one_error(capsys, rc, expected)
    assert "bad.toml" in err or expected in err
    assert _snapshot(tmp_path) == before and not (tmp_path / "out").exists()


ARG_CASES = [
    ("workers", ["--workers", "0"], "workers must be >= 1"),
    ("threads", ["--threads", "0"], "threads must be >= 1"),
    ("scheduler", ["--scheduler", "not an address"], "--scheduler must be an address"),
    ("max-cells", ["--max-cells", "0"], "above the limit of 0 cells"),
    ("max-work", ["--max-work", "1"], "--yes"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in ARG_CASES],
                         ids=[c[0] for c in ARG_CASES])
def test_bad_arguments(tmp_path, capsys, args, expected):
    conf = tmp_path / "good.toml"
    conf.write_text(GOOD)
    rc = main(["sweep", str(conf), "--out", str(tmp_path / "out"), "--quiet", *args])
    _one_error(capsys, rc, expected)
    assert not (tmp_path / "out").exists()


def test_missing_config_and_directory_config(tmp_path, capsys):
    _one_error(capsys, main(["sweep", str(tmp_path / "none.toml")]), "none.toml")
    _one_error(capsys, main(["sweep", str(tmp_path)]), "is a directory; give a TOML file")


@pytest.fixture
def done(tmp_path, monkeypatch):
    """A finished toy sweep in ``tmp_path/done``."""
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")
    cfg = config_from_dict({"sweep": {"name": "toy", "runner": "toy", "root_seed": 1,
                                      "reps": 2}, "grid": [{"K": [1, 2]}]})
    run_sweep(cfg, tmp_path / "done", workers=1, progress=False)
    return tmp_path / "done"


def _edit_manifest(d, **changes):
    man = json.loads((d / "manifest.json").read_text())
    man.update(changes)
    (d / "manifest.json").write_text(json.dumps(man))


DISK_CASES = [
    ("no-manifest", lambda d: (d / "manifest.json").unlink(), "has no manifest.json"),
    ("manifest-list", lambda d: (d / "manifest.json").write_text("[]"),
     "not a sweep manifest"),
    ("manifest-no-cells", lambda d: _edit_manifest(d, cells=None), "not a sweep manifest"),
    ("manifest-garbage", lambda d: (d / "manifest.json").write_bytes(b"\xff{"),
     "not valid JSON"),
    ("incomplete", lambda d: _edit_manifest(d, status="running"), "is not complete"),
    ("runner", lambda d: _edit_manifest(d, runner="os:system"), "sweep.runner must be one of"),
    # A damaged results.csv is rebuilt from verified cells (tests/test_results_verify.py);
    # with a cell damaged too it is refused.
    ("empty-table", lambda d: _no_cell(d).write_text("cell,K,rep,val\n"),
     "results.csv is cut (0 of the 4 rows"),
    ("cut-table", lambda d: _no_cell(d).write_text("cell,K,rep,val\nab,1,0"),
     "cannot be rebuilt"),
    ("blank-table", lambda d: _no_cell(d).write_text(""), "results.csv is cut"),
    ("no-table", lambda d: _no_cell(d).unlink(), "results.csv is missing and cannot be rebuilt"),
]


def _no_cell(d):
    """Remove one cell's files (so results.csv cannot be rebuilt); returns results.csv."""
    for p in sorted((d / "cells").glob("*.json"))[:1]:
        p.unlink()
    return d / "results.csv"


@pytest.mark.parametrize("command", ["check", "plot"])
@pytest.mark.parametrize("damage, expected", [c[1:] for c in DISK_CASES],
                         ids=[c[0] for c in DISK_CASES])
def test_bad_files_on_disk(done, capsys, command, damage, expected):
    damage(done)
    before = _snapshot(done)
    err = _one_error(capsys, main([command, str(done)]), expected)
    assert str(done) in err
    assert _snapshot(done) == before


def test_changed_config_at_existing_output(done, tmp_path, capsys):
    conf = tmp_path / "other.toml"
    conf.write_text('[sweep]\nname="toy"\nrunner="toy"\nroot_seed=2\nreps=2\n[[grid]]\nK=[1,2]\n')
    before = _snapshot(done)
    _one_error(capsys, main(["sweep", str(conf), "--out", str(done), "--quiet"]),
               "root_seed 1 there, 2 here")
    assert _snapshot(done) == before


def test_output_is_a_file(tmp_path, capsys):
    conf = tmp_path / "good.toml"
    conf.write_text(GOOD)
    (tmp_path / "f").write_text("x")
    _one_error(capsys, main(["sweep", str(conf), "--out", str(tmp_path / "f"), "--quiet"]),
               "is a file")
    assert (tmp_path / "f").read_text() == "x"


def test_large_grid_refused_with_count_and_estimate_unless_confirmed(tmp_path, capsys):
    conf = tmp_path / "big.toml"
    conf.write_text(GOOD.replace("m = 2", "m = [2, 3, 4]"))
    out = tmp_path / "out"
    err = _one_error(capsys, main(["sweep", str(conf), "--out", str(out), "--quiet",
                                   "--workers", "1", "--max-cells", "2"]),
                     "3 cells x 2 reps, work (cells x reps x T x K) 3.07e+03, above the limit "
                     "of 2 cells")
    assert "--yes" in err and not out.exists()
    _one_error(capsys, main(["sweep", str(conf), "--out", str(out), "--quiet", "--workers",
                             "1", "--max-work", "3000"]), "or 3e+03 work")
    assert not out.exists()
    assert main(["sweep", str(conf), "--out", str(out), "--quiet", "--workers", "1",
                 "--max-cells", "2", "--yes"]) == 0
    assert len((out / "results.csv").read_text().splitlines()) > 1


def test_changed_grid_at_existing_output_is_refused(tmp_path, capsys):
    conf = tmp_path / "a.toml"
    conf.write_text(GOOD)
    out = tmp_path / "out"
    assert main(["sweep", str(conf), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    conf.write_text(GOOD.replace("T = 64", "T = 128"))  # same seed and reps, other cells
    err = _one_error(capsys, main(["sweep", str(conf), "--out", str(out), "--quiet"]),
                     "holds a different sweep: 1 of its finished cells are not in this config")
    assert '"T":64' in err and _snapshot(out) == before
    conf.write_text(GOOD.replace("m = 2", "m = [2, 4]"))  # a config that only adds cells runs
    assert main(["sweep", str(conf), "--out", str(out), "--quiet", "--workers", "1"]) == 0


def test_bad_flag_value_is_one_line(tmp_path, capsys):
    conf = tmp_path / "good.toml"
    conf.write_text(GOOD)
    rc = main(["sweep", str(conf), "--out", str(tmp_path / "out"), "--workers", "two"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "argument --workers: expected int, got 'two'" in err
    assert not (tmp_path / "out").exists()
