"""Fault injection (issue 15): SIGKILL a 2-worker sweep at 20 random moments, resume each time.
The final tables are byte-identical to an uninterrupted run, no worker or forkserver outlives
the killed sweep, and no temporary file is left behind."""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """[sweep]
name = "faults"
runner = "toy"
root_seed = 5
reps = 4

[[grid]]
K = {ks}
sleep = 0.08
"""
# Register the test runner in the child, then run the ordinary command line.
LAUNCH = ("import sys; from obandits import runners; "
          "runners.REGISTRY['toy'] = 'tests.sweep_toy_runner:RUNNER'; "
          "from obandits.cli import main; sys.exit(main(sys.argv[1:]))")


def _marked(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``marker`` (the sweep's children)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in env and state != "Z":
            pids.append(int(d.name))
    return pids


def _sweep(conf, out, marker, **popen):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1",
           "OBANDITS_FAULT_TEST": marker}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "sweep", str(conf), "--out",
                             str(out), "--workers", "2", "--quiet"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_twenty_random_kills_then_resume_is_byte_identical(tmp_path):
    rng = random.Random(20260915)
    conf = tmp_path / "faults.toml"
    conf.write_text(CONFIG.format(ks=list(range(300))))
    marker = uuid.uuid4().hex
    ref = _sweep(conf, tmp_path / "ref", marker)
    assert ref.wait(timeout=120) == 0, ref.stderr.read()
    out = tmp_path / "out"
    kills, orphans, completed_before_kill = 0, 0, 0
    for _ in range(20):
        p = _sweep(conf, out, marker)
        time.sleep(rng.uniform(0.05, 1.2))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        else:
            completed_before_kill += 1
        p.wait()
        deadline = time.time() + 10
        while _marked(marker) and time.time() < deadline:
            time.sleep(0.05)
        left = _marked(marker)
        orphans += len(left)
        for pid in left:  # do not leave them running if the assertion below fails
            os.kill(pid, signal.SIGKILL)
        assert not left, f"orphans after kill {kills}: {left}"
    p = _sweep(conf, out, marker)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    assert kills >= 18, f"only {kills} kills landed ({completed_before_kill} runs finished)"
    for name in ("results.csv",):
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    cells = sorted(x.name for x in (out / "cells").iterdir())
    assert cells == sorted(x.name for x in (tmp_path / "ref" / "cells").iterdir())
    for x in (out / "cells").glob("*.csv"):
        assert x.read_bytes() == (tmp_path / "ref" / "cells" / x.name).read_bytes()
    assert not [x for x in out.rglob("*") if ".tmp" in x.name or x.name == ".lock"]
    print(f"\nfault injection: {kills} SIGKILLs, {kills} resumes, {orphans} orphans, "
          f"results.csv byte-identical")
