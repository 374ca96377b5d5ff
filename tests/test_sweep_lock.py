"""The one pid-file lock (obandits.fileio.PidLock) behind both the sweep's DirLock and the
LLM trainer's RunLock: writers racing for a directory never hold it together, the file always
holds a pid, and a stale lock is taken over."""

import subprocess
import sys
import time

import pytest

from llm_bridge.train import RunLock
from obandits.fileio import LOCK, PidLock, lock_pid
from obandits.sweep import DirLock

RACER = """
import os, sys, time
from obandits.fileio import PidLock
d, go = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
try:
    with PidLock(d, "another racer"):
        t0 = time.time(); time.sleep(0.3); print("held", t0, time.time())
except ValueError as e:
    print("refused", e)
"""


def test_racing_writers_never_hold_the_lock_together(tmp_path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(go)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(1.0)
    go.touch()
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    held = sorted((float(o[1]), float(o[2])) for o in outs if o[0] == "held")
    assert held and all(o[0] in ("held", "refused") for o in outs)
    assert all(a[1] <= b[0] for a, b in zip(held, held[1:]))  # no two at once
    assert any(o[0] == "refused" for o in outs)  # a refusal names the holder's pid
    assert not (tmp_path / LOCK).exists()


def test_sweep_and_trainer_share_the_lock(tmp_path):
    assert isinstance(DirLock(tmp_path), PidLock) and isinstance(RunLock(tmp_path), PidLock)
    with DirLock(tmp_path):
        assert lock_pid(tmp_path / LOCK) is not None
        assert not list(tmp_path.glob(".*.tmp*"))  # the file was linked whole into place
    (tmp_path / LOCK).write_text("")  # unreadable: taken over like a dead writer's
    with RunLock(tmp_path):
        pass
    assert not (tmp_path / LOCK).exists()


def test_a_live_holder_is_refused_by_the_other_kind(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK).write_text(str(sleeper.pid))
        with pytest.raises(ValueError, match=f"another llm_bridge.train \\(pid {sleeper.pid}"):
            with RunLock(tmp_path):
                pass
        assert lock_pid(tmp_path / LOCK) == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
