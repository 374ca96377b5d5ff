"""Issue 26: `obandits.run(..., executor="dask")` from a user's script without a main guard
survives a worker kill as `obandits sweep --executor dask` does: the nanny's replacement
worker does not re-run the script (as __mp_main__), it comes back and runs cells, and the
table is the same as an uninterrupted local run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obandits import runners
from obandits.sweep import config_from_dict, run_sweep

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import obandits
from obandits import runners
with open({marker!r}, "a") as f:   # one line each time this script runs
    f.write("ran\\n")
runners.REGISTRY["toy"] = "tests.sweep_toy_runner:RUNNER"
table = obandits.run({config!r}, out={out!r}, executor="dask", workers=2)
print("rows", len(table))
"""


def config(pid_dir):
    return {"sweep": {"name": "kill", "runner": "toy", "root_seed": 5, "reps": 2},
            "grid": [{"K": list(range(40)), "sleep": 0.2, "pid_dir": str(pid_dir)}]}


def test_worker_killed_under_the_python_api(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT.format(marker=str(tmp_path / "marker"), config=config(pids),
                                    out=str(tmp_path / "out")))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(pids.iterdir()) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    victim = int(next(pids.iterdir()).name)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    assert "rows 80" in out
    assert (tmp_path / "marker").read_text() == "ran\n", err[-3000:]  # never re-run
    assert "Traceback" not in err, err[-3000:]
    # the worker came back: besides the two first workers a third process ran cells
    assert len(os.listdir(pids)) >= 3, sorted(os.listdir(pids))
    monkeypatch.setitem(runners.REGISTRY, "toy", "tests.sweep_toy_runner:RUNNER")
    ref = run_sweep(config_from_dict(config(pids)), tmp_path / "ref", workers=1,
                    progress=False)
    assert (tmp_path / "out" / "results.csv").read_bytes() == ref.read_bytes()
