"""Sweep executors (issue 17): the reduced bandit theorem sweep on the local process pool
(2 workers) against a 2-worker Dask ``LocalCluster``, in the same run, alternately; the Dask
time includes starting and stopping the cluster. Both tables must be byte-identical.

Writes ``bench/results/sweep_dask.md``. ``BENCH_SWEEP_CELLS=N`` runs only the first N cells
(a quick look; the table says how many ran). The machine may be shared: read the ratio.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

from obandits.bandit.experiment import REDUCED
from obandits.sweep import load_config, run_sweep
from obandits.tables import markdown_table

OUT = Path(__file__).parent / "results" / "sweep_dask.md"


def main() -> None:
    cfg = load_config(REDUCED)
    n = int(os.environ.get("BENCH_SWEEP_CELLS", len(cfg.cells)))
    cfg = dataclasses.replace(cfg, cells=cfg.cells[:n])
    run_sweep(cfg, tempfile.mkdtemp(), workers=1, progress=False)  # warm Numba's cache
    times: dict[str, list[float]] = {"local": [], "dask": []}
    tables = {}
    for _ in range(int(os.environ.get("BENCH_SWEEP_ROUNDS", 1))):
        for ex in ("local", "dask"):
            out = Path(tempfile.mkdtemp())
            t0 = time.perf_counter()
            path = run_sweep(cfg, out, workers=2, threads=1, executor=ex, progress=False)
            times[ex].append(time.perf_counter() - t0)
            tables[ex] = path.read_bytes()
    assert tables["local"] == tables["dask"], "Dask and local tables differ"
    lo, da = min(times["local"]), min(times["dask"])
    rows = [["local process pool, 2 workers", f"{lo:.1f}", "1.00"],
            ["Dask LocalCluster, 2 worker processes", f"{da:.1f}", f"{da / lo:.2f}"]]
    text = (f"# Sweep executors: local pool vs Dask LocalCluster\n\n"
            f"`python -m bench sweep_dask` on {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores (shared machine); {len(cfg.cells)} of the reduced sweep's "
            f"cells x {cfg.reps} reps (experiments/bandit/reduced.toml), best of "
            f"{len(times['local'])} alternating run(s); tables byte-identical.\n\n"
            + markdown_table(["executor", "wall s", "time / local"], rows)
            + f"\n\nDask overhead: {100 * (da / lo - 1):+.1f} % (target <= 10 %).\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
