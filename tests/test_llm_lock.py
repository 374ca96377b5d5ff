"""Issue 15 point 4 for LLM runs: ``OUT/.lock`` keeps a second ``llm_bridge.train`` out of a
directory in use (refused with the holder's pid, nothing changed); a dead writer's lock is
taken over."""

import hashlib
import os
import subprocess
import sys

import pytest

from llm_bridge.train import LOCK, RunLock
from llm_bridge.train import main as train_main

ARGS = ["--model", "tiny", "--prompts-per-step", "1", "--n-rollouts", "2", "--max-new-tokens",
        "4", "--n-train", "6", "--n-test", "2", "--eval-problems", "1", "--eval-samples", "2",
        "--steps", "1", "--quiet", "--no-plot", "--threads", "1"]


def _snapshot(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("extra", [[], ["--resume"], ["--overwrite"]])
def test_a_directory_in_use_is_refused_with_the_holders_pid(tmp_path, capsys, live_pid, extra):
    out = tmp_path / "run"
    if extra:
        assert train_main(ARGS + ["--out", str(out)]) == 0
        capsys.readouterr()
    else:
        out.mkdir()
    (out / LOCK).write_text(str(live_pid))
    before = _snapshot(out)
    assert train_main(ARGS + ["--out", str(out)] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"in use by another llm_bridge.train (pid {live_pid}" in err
    assert str(out) in err
    assert _snapshot(out) == before


def test_the_lock_of_a_dead_writer_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(str(_dead_pid()))  # what a SIGKILLed trainer leaves
    assert train_main(ARGS + ["--out", str(out)]) == 0
    assert (out / "checkpoint.pt").is_file() and not (out / LOCK).exists()


def test_the_lock_is_held_during_the_run_and_released_after_an_error(tmp_path, live_pid):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(RuntimeError):
        with RunLock(out):
            assert (out / LOCK).read_text() == str(os.getpid())
            raise RuntimeError("training failed")
    assert not (out / LOCK).exists()
    (out / LOCK).write_text(str(live_pid))
    with pytest.raises(ValueError, match=f"pid {live_pid}"):
        with RunLock(out):
            pass
    assert (out / LOCK).read_text() == str(live_pid)  # a refused taker leaves it alone
