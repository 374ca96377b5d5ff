"""The Dask executor: tables bit-identical to the local pool, a worker killed mid-sweep loses
and duplicates no cell, an unreachable scheduler is one line."""

import os
import signal
import threading
import time

import pytest

from obandits import runners
from obandits.cli import main
from obandits.sweep import config_from_dict, run_sweep

pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def toy(monkeypatch):
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")


def cfg(n, sleep):
    return config_from_dict({"sweep": {"name": "dask", "runner": "toy", "root_seed": 9,
                                       "reps": 3},
                             "grid": [{"K": list(range(n)), "sleep": sleep}]})


def test_bandit_tables_identical_to_local_pool(tmp_path):
    c = config_from_dict({"sweep": {"name": "b", "runner": "bandit", "root_seed": 3, "reps": 2},
                          "grid": [{"family": "partition", "K": 8, "m": [2, 4], "gap": 0.2,
                                    "learner": ["ucb1", "outcome-ucb"], "T": 256}]})
    a = run_sweep(c, tmp_path / "local", workers=2, progress=False).read_bytes()
    b = run_sweep(c, tmp_path / "dask", workers=2, executor="dask", progress=False).read_bytes()
    assert a == b


def test_worker_killed_mid_sweep_loses_and_duplicates_nothing(tmp_path):
    from distributed import Client, LocalCluster

    c = cfg(24, 0.25)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    killed = []
    try:
        with Client(cluster) as client:  # closed before the sweep opens its own client
            pids = list(client.run(os.getpid).values())

        def kill_one():
            while not list((tmp_path / "d" / "cells").glob("*.json")):
                time.sleep(0.02)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

        t = threading.Thread(target=kill_one, daemon=True)
        t.start()
        path = run_sweep(c, tmp_path / "d", executor="dask",
                         scheduler=cluster.scheduler_address, progress=False)
        t.join(5)
    finally:
        cluster.close()
    assert killed
    ref = run_sweep(c, tmp_path / "ref", workers=1, progress=False)
    assert path.read_bytes() == ref.read_bytes()
    rows = path.read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) == 24 * 3


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    conf = tmp_path / "c.toml"
    conf.write_text('[sweep]\nname="toy"\nrunner="toy"\nroot_seed=1\nreps=2\n[[grid]]\nK=[1,2]\n')
    assert main(["sweep", str(conf), "--out", str(tmp_path / "o"), "--quiet",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()
    assert main(["sweep", str(conf), "--out", str(tmp_path / "o"), "--quiet",
                 "--scheduler", "not an address"]) == 2
    assert "--scheduler must be an address" in capsys.readouterr().err
