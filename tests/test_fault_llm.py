"""Issue 15, fault injection for the LLM trainer: SIGKILL ``python -m llm_bridge.train`` at 5
random moments (seeded), resume each time; the final model, optimizer, RNG states, answer
counts and log are identical to an uninterrupted run, and no temporary file is left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS = 8
ARGS = ["--model", "tiny", "--prompts-per-step", "2", "--n-rollouts", "4", "--max-new-tokens",
        "12", "--n-train", "10", "--n-test", "2", "--eval-problems", "1", "--eval-samples", "2",
        "--eval-every", "3", "--steps", str(STEPS), "--save-every", "1", "--method", "ucb-con",
        "--lr", "1e-3", "--quiet", "--no-plot", "--threads", "1", "--seed", "3"]
TIMING = ("seconds", "tokens_per_s")


def _popen(out: Path, resume: bool):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "llm_bridge.train", *ARGS, "--out", str(out)]
    return subprocess.Popen(argv + (["--resume"] if resume else []), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _finish(proc) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _records(out: Path) -> list[dict]:
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.endswith(TIMING)} for r in recs]


def _same(a, b, where="state") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _train_records(out: Path) -> int:
    try:
        return sum('"kind": "train"' in line for line in (out / "log.jsonl").open())
    except FileNotFoundError:
        return 0


def _touched_since(path: Path, ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns > ns
    except FileNotFoundError:
        return False


def _sleep(proc, seconds: float, stop) -> float:
    """Sleep up to ``seconds``, waking early when ``stop()`` says the run is leaving the phase
    the kill aims at: start-up and step times measured on a busy shared machine must not let
    the run finish before the kill (it did, once: start-up measured at 26.6 s under load)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and proc.poll() is None and not stop():
        time.sleep(0.005)
    return time.perf_counter() - t0


@pytest.mark.slow
def test_sigkill_at_five_random_moments_then_resume_is_identical(tmp_path):
    ref = tmp_path / "uninterrupted"
    t0 = time.perf_counter()
    proc = _popen(ref, resume=False)
    while _lines(ref / "log.jsonl") == 0 and proc.poll() is None:
        time.sleep(0.01)
    startup = time.perf_counter() - t0  # imports, tokenizer, model, first evaluation
    _finish(proc)
    step_time = (time.perf_counter() - t0 - startup) / STEPS
    print(f"uninterrupted run: start-up {startup:.1f} s, {step_time:.2f} s per step")

    rng = np.random.default_rng(20261128)
    out = tmp_path / "killed"
    kills, resumes, moments = 0, 0, []
    while kills < 5:
        resume = (out / "config.json").is_file()
        resumes += resume
        start_ns = time.time_ns()
        proc = _popen(out, resume)
        if kills == 0:  # one kill anywhere in start-up (imports, loading, first writes)
            wait = _sleep(proc, float(rng.uniform(0.0, startup)),
                          lambda ns=start_ns: _touched_since(out / "log.jsonl", ns))
            moment = f"start-up +{wait:.2f} s"
        else:  # the others at a random time in what is left of the training
            while not _touched_since(out / "log.jsonl", start_ns) and proc.poll() is None:
                time.sleep(0.005)
            done = _train_records(out)
            wait = _sleep(proc, float(rng.uniform(0.0, max(STEPS - done, 1) * step_time)),
                          lambda: _train_records(out) >= STEPS - 1)
            moment = f"after step {done} +{wait:.2f} s"
        if proc.poll() is not None:  # it finished first: no kill this time
            assert proc.returncode == 0, proc.stderr.read()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        moments.append(moment)
    resumes += 1
    _finish(_popen(out, resume=True))
    print(f"kills: {kills}, resumes: {resumes}, moments: {moments}")
    assert kills == 5, "the run finished before five kills landed; make it longer"

    a = torch.load(ref / "checkpoint.pt", weights_only=False)
    b = torch.load(out / "checkpoint.pt", weights_only=False)
    for key in ("model", "optimizer", "torch_generator", "numpy_rng", "history", "solved",
                "step", "samples_seen", "config"):
        _same(a[key], b[key], key)
    assert a["step"] == STEPS
    assert _records(ref) == _records(out)
    for name in ("train.jsonl", "test.jsonl"):
        assert (ref / name).read_bytes() == (out / name).read_bytes()
    assert not [*out.glob(".*.tmp*"), *out.glob("*.tmp"), *out.glob(".write-test*")]
