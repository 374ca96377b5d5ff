"""The input cases of issue 26: each is one line naming the argument or file, what was given
and what is allowed, with nothing written. Floats refuse booleans; a string is refused for
every numeric field, numeric or not; NaN is refused where a number bounds work."""

import sys

import numpy as np
import pytest

import obandits
from obandits.bonuses import shaped_advantages
from obandits.cli import main

HEAD = '[sweep]\nname = "bad"\nrunner = "bandit"\nroot_seed = 1\nreps = 2\n'
GRID = '[[grid]]\nfamily = "partition"\nK = 8\nm = 2\nlearner = "ucb1"\nT = 64\n'
GOOD = {"sweep": {"name": "p", "runner": "bandit", "root_seed": 1, "reps": 2},
        "grid": [{"family": "partition", "K": 8, "m": 2, "learner": "ucb1", "T": 64,
                  "gap": 0.1}]}


def one_line(capsys, rc, *expected):
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for e in expected:
        assert e in err, err
    return err


@pytest.mark.parametrize("line, expected", [
    ("gap = true", "gap must be a real number, got True"),
    ('gap = "0.1"', "gap must be a real number, got '0.1'"),
    ('T = "1024"', "T must be an integer, got '1024'"),
    ("K = true", "K must be an integer, got True"),
    ('name = "a\\nb"', "sweep.name must be a non-empty string of printable characters"),
    ('name = "a\\u0000b"', "got 'a\\x00b'"),
], ids=["gap-bool", "gap-numeric-string", "T-numeric-string", "K-bool", "name-newline",
        "name-nul"])
def test_config_values(tmp_path, capsys, monkeypatch, line, expected):
    monkeypatch.chdir(tmp_path)
    key = line.split(" ")[0]
    if key == "name":
        text = HEAD.replace('name = "bad"', line) + GRID + "gap = 0.1\n"
    else:
        text = HEAD + "\n".join(x for x in (GRID + "gap = 0.1\n").splitlines()
                                if not x.startswith(key + " ")) + f"\n{line}\n"
    (tmp_path / "c.toml").write_text(text)
    one_line(capsys, main(["sweep", "c.toml", "--quiet"]), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@pytest.mark.parametrize("args, expected", [
    (["--max-work", "nan"], ["max_work (--max-work) must be a number >= 0", "got nan"]),
    (["--max-work", "-1"], ["max_work (--max-work) must be a number >= 0", "got -1.0"]),
], ids=["max-work-nan", "max-work-negative"])
def test_size_flags(tmp_path, capsys, args, expected):
    (tmp_path / "c.toml").write_text(HEAD + GRID + "gap = 0.1\n")
    one_line(capsys, main(["sweep", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"),
                           "--quiet", *args]), *expected)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["0,,1", "0,1,", ",0"])
def test_list_flag_with_an_empty_item(tmp_path, capsys, value):
    rc = main(["rlsim", "compare", "--share", value, "--out", str(tmp_path / "o"), "--quiet"])
    one_line(capsys, rc, "--share", "comma-separated numbers expected", repr(value))
    assert not (tmp_path / "o").exists()


def test_dask_executor_without_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    (tmp_path / "c.toml").write_text(HEAD + GRID + "gap = 0.1\n")
    rc = main(["sweep", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--quiet",
               "--executor", "dask"])
    one_line(capsys, rc, "--executor dask", "pip install 'obandits[dask]'")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("config, expected", [
    (None, "config must be a TOML path or a dict of tables, got NoneType None"),
    (42, "got int 42"),
    ([GOOD], "got list [{"),
], ids=["none", "int", "list"])
def test_run_config_types(tmp_path, monkeypatch, config, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        obandits.run(config)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_run_out_type(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^out must be a directory path \(str or os.PathLike\) "
                                         r"or None, got int 123$"):
        obandits.run(GOOD, out=123)
    assert list(tmp_path.iterdir()) == []


def test_numpy_integer_reps_is_an_integer(tmp_path):
    cfg = {**GOOD, "sweep": {**GOOD["sweep"], "reps": np.int64(2)}}
    table = obandits.run(cfg, out=tmp_path / "o")
    assert len(table) == len(obandits.run(GOOD)) and set(table["rep"]) == {0, 1}


def test_object_in_config_names_its_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = {**GOOD, "grid": [{**GOOD["grid"][0], "gap": object()}]}
    with pytest.raises(ValueError, match=r"config: grid\[0\].gap must be a string, number"):
        obandits.run(cfg, out="o")
    assert list(tmp_path.iterdir()) == []


def test_shaped_advantages_names_reward():
    z = np.zeros(1, int)
    with pytest.raises(ValueError, match=r"^reward must hold real numbers, got \['abc'\]$"):
        shaped_advantages(z, z, ["abc"], z, method="ucb", c=0.1)
