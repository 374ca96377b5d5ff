"""Sweep executors (issue 17): the reduced bandit theorem sweep on the local process pool
(2 workers) against a 2-worker Dask ``LocalCluster``.

Like with like: each run is a fresh Python process (what a user gets from two ``obandits
sweep`` calls), timed from the ``run_sweep`` call to its return, so both times include their
executor's start (the local pool's forkserver; the cluster's scheduler, forkserver and
workers) and shut-down; importing the package is outside both. The CPU time (user + system)
of each run's whole process tree is measured too (Linux: this process adopts and reaps the
orphaned forkserver), the steadier figure on a shared machine. The two executors alternate,
``BENCH_SWEEP_ROUNDS`` rounds (default 3), and the table gives the median of each and the
median of the per-round ratios. Numba's on-disk cache is warmed first, so no run compiles.
A second table separates the executors' cold start and shut-down. Tables must be
byte-identical.

Writes ``bench/results/sweep_dask.md``. ``BENCH_SWEEP_CELLS=N`` runs only the first N cells
(a quick look; the table says how many ran). The machine may be shared: read the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "sweep_dask.md"
ROOT = Path(__file__).resolve().parents[1]


def _config(n: int | None):
    import dataclasses

    from obandits.bandit.experiment import REDUCED
    from obandits.sweep import load_config

    cfg = load_config(REDUCED)
    return dataclasses.replace(cfg, cells=cfg.cells[:n]) if n else cfg


def _child(mode: str, n: int, out: str) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    from obandits.sweep import run_sweep

    cfg = _config(n)
    if mode == "start":  # cold start and shut-down of each executor, nothing run
        from concurrent.futures import ProcessPoolExecutor

        from obandits.dask_executor import client_for
        from obandits.runners import spec
        from obandits.sweep import _init_worker, _mp_context

        target = spec(cfg.runner)
        t0 = time.perf_counter()
        pool = ProcessPoolExecutor(2, _mp_context(target), initializer=_init_worker,
                                   initargs=(1,))
        for f in [pool.submit(os.getpid) for _ in range(4)]:
            f.result()
        t1 = time.perf_counter()
        pool.shutdown()
        t2 = time.perf_counter()
        client, cluster = client_for(None, 2, preload=(target.split(":")[0],))
        client.wait_for_workers(2)
        t3 = time.perf_counter()
        client.close()
        cluster.close()
        t4 = time.perf_counter()
        print(json.dumps({"local_start": t1 - t0, "local_close": t2 - t1,
                          "dask_start": t3 - t2, "dask_close": t4 - t3}))
        return
    t0 = time.perf_counter()
    path = run_sweep(cfg, out, workers=2, threads=1, executor=mode, progress=False)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "sha": __import__("hashlib").sha256(
        path.read_bytes()).hexdigest()}))


def _subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux), so that the CPU time of a
    child's whole process tree (forkserver, pool or Dask workers) reaches
    ``RUSAGE_CHILDREN`` once they are reaped; False where that is not available."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap(timeout: float = 30.0) -> None:
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def _run_child(*args) -> dict:
    """Run one measurement in a fresh process; adds ``cpu``: CPU seconds (user + system) of its
    whole process tree, or NaN where they cannot be collected."""
    import resource

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([sys.executable, "-m", "bench.bench_sweep_dask", *map(str, args)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    _reap()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [x for x in res.stdout.splitlines() if x.startswith("{")]
    if res.returncode or not lines:
        raise RuntimeError(f"bench child {args} failed:\n{res.stderr[-3000:]}")
    out = json.loads(lines[-1])
    out["cpu"] = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                  if _SUBREAPER else float("nan"))
    return out


_SUBREAPER = False


def _warm(cfg) -> None:
    """Load (or compile) every kernel the sweep uses once, into Numba's on-disk cache: one
    short cell per distinct (family, learner, reward)."""
    from obandits import runners

    runner = runners.get(cfg.runner)
    seen = set()
    for c in cfg.cells:
        kind = tuple(c.params.get(k) for k in ("family", "learner", "reward"))
        if kind not in seen:
            seen.add(kind)
            runner.run_cell(dict(c.params, T=min(c.params["T"], 4096)), 0, "warm", 1)


def main() -> None:
    from obandits.tables import markdown_table

    global _SUBREAPER
    n = int(os.environ.get("BENCH_SWEEP_CELLS", 0)) or None
    rounds = int(os.environ.get("BENCH_SWEEP_ROUNDS", 3))
    cfg = _config(n)
    _warm(cfg)
    _SUBREAPER = _subreaper()
    times: dict[str, list[float]] = {"local": [], "dask": []}
    cpus: dict[str, list[float]] = {"local": [], "dask": []}
    shas = set()
    for r in range(rounds):
        for ex in (("local", "dask") if r % 2 == 0 else ("dask", "local")):
            res = _run_child(ex, n or 0, tempfile.mkdtemp())
            times[ex].append(res["wall"])
            cpus[ex].append(res["cpu"])
            shas.add(res["sha"])
            print(f"round {r + 1}: {ex} {res['wall']:.1f} s, {res['cpu']:.1f} CPU-s", flush=True)
    assert len(shas) == 1, "Dask and local tables differ"
    starts = [_run_child("start", n or 0, "-") for _ in range(rounds)]
    med = {k: statistics.median(s[k] for s in starts) for k in starts[0]}
    lo, da = statistics.median(times["local"]), statistics.median(times["dask"])
    ratio = statistics.median(d / x for d, x in zip(times["dask"], times["local"]))
    c_lo, c_da = statistics.median(cpus["local"]), statistics.median(cpus["dask"])
    rows = [["local process pool, 2 workers", f"{lo:.1f}",
             " ".join(f"{t:.1f}" for t in times["local"]), "1.00", f"{c_lo:.1f}", "1.00"],
            ["Dask LocalCluster, 2 worker processes", f"{da:.1f}",
             " ".join(f"{t:.1f}" for t in times["dask"]), f"{ratio:.2f}", f"{c_da:.1f}",
             f"{c_da / c_lo:.2f}"]]
    start_rows = [["local process pool", f"{med['local_start']:.2f}",
                   f"{med['local_close']:.2f}"],
                  ["Dask LocalCluster", f"{med['dask_start']:.2f}", f"{med['dask_close']:.2f}"]]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"# Sweep executors: local pool vs Dask LocalCluster\n\n"
            f"`python -m bench sweep_dask` on {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores (shared machine, load average {load:.1f} at the end); "
            f"{len(cfg.cells)} of the reduced sweep's cells x {cfg.reps} reps "
            f"(experiments/bandit/reduced.toml). Each run is a fresh process timed from "
            f"`run_sweep` to its return, executor start and shut-down included; {rounds} "
            f"alternating rounds; tables byte-identical.\n\n"
            + markdown_table(["executor", "median wall s", "runs (wall s)", "wall / local "
                              "(median of rounds)", "median CPU-s", "CPU / local"], rows)
            + f"\n\nDask overhead: {100 * (ratio - 1):+.1f} % wall time, "
            f"{100 * (c_da / c_lo - 1):+.1f} % CPU time of the whole process tree "
            f"(target <= 10 %). On a shared machine the CPU time is the steadier figure: the "
            f"wall time also moves with the other jobs' load while each run lasts.\n\n"
            "Cold start (until every worker has answered) and shut-down, median of "
            f"{rounds} fresh processes:\n\n"
            + markdown_table(["executor", "start s", "shut-down s"], start_rows) + "\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _child(sys.argv[1], int(sys.argv[2]) or None, sys.argv[3])
    else:
        main()
