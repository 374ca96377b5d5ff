"""Runners are plugins: the example package examples/plugin (obandits-coin) is installed with
pip into a directory of its own, and its entry point makes `runner = "coin"` a sweep runner,
through the local pool and the Dask executor alike, without touching obandits; a name that no
installed package registers is still refused."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """obandits-coin installed by pip (a real wheel build) into its own directory."""
    tmp = tmp_path_factory.mktemp("plugin")
    shutil.copytree(ROOT / "examples" / "plugin", tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
                    "--no-deps", "--disable-pip-version-check", "--target", str(tmp / "site"),
                    str(tmp / "src")], check=True, capture_output=True)
    assert list((tmp / "site").glob("obandits_coin-*.dist-info/entry_points.txt"))
    return tmp


def obandits(site, *args, plugin=True):
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    if plugin:
        env["PYTHONPATH"] = os.pathsep.join([str(site / "site"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "obandits", *args], cwd=site, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_plugin_runs_locally_and_on_dask(site):
    conf = str(site / "src" / "coin.toml")
    local = obandits(site, "sweep", conf, "--out", "local", "--quiet", "--workers", "2")
    assert local.returncode == 0, local.stderr
    table = (site / "local" / "results.csv").read_text().splitlines()
    assert table[0] == "cell,T,p,rep,share" and len(table) == 1 + 3 * 4
    check = obandits(site, "check", "local")
    assert check.returncode == 0 and "**3 of 3 claims hold.**" in check.stdout, check.stdout
    pytest.importorskip("distributed")
    dask = obandits(site, "sweep", conf, "--out", "dask", "--quiet", "--executor", "dask",
                    "--workers", "2")
    assert dask.returncode == 0, dask.stderr
    assert (site / "dask" / "results.csv").read_bytes() == (site / "local" /
                                                           "results.csv").read_bytes()


def test_unregistered_runner_is_refused(site):
    conf = site / "other.toml"
    conf.write_text((site / "src" / "coin.toml").read_text().replace('"coin"', '"coins"'))
    res = obandits(site, "sweep", str(conf), "--out", "x", "--quiet")
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1, err
    assert "sweep.runner must be one of ['bandit'," in err and "'coin'" in err
    assert "got 'coins'" in err and not (site / "x").exists()
    # without the plugin on the path, its name is refused like any other
    res = obandits(site, "sweep", str(site / "src" / "coin.toml"), "--out", "y", "--quiet",
                   plugin=False)
    assert res.returncode == 2 and "got 'coin'" in res.stderr and not (site / "y").exists()
