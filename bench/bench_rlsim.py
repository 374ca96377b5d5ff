"""rlsim benchmark: trainer throughput, the wall time of the full comparison, and cold start.

Measured in one process (timings on a shared machine are noisy, so the table also reports
ratios of things measured side by side): samples per second of one GRPO run at the default
budget next to base-model sampling through the same kernel (the cost of the advantage and
gradient work), and the full comparison (5 methods x 8 seeds + base sampling, default
budget) on 1 and 2 worker threads against the 3-minute target.

Cold start (issue 16): CPU seconds of a fresh process running one run of the default
comparison (``_run_one(ExperimentConfig(), "none", 0)``, the unit of docs/speed.md) with an
empty Numba cache, then again with that cache, median of 3; target <= 5 CPU-s cold. With
``--against PATH`` (another checkout, e.g. ``git worktree add ../ref 051fc48``) the same
unit and the warm per-run times are measured for both, interleaved in one session:
``python -m bench.bench_rlsim --against ../ref``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from obandits.bonuses import BonusConfig
from obandits.rlsim.experiment import ExperimentConfig, run_comparison
from obandits.rlsim.model import ModelConfig, build_model
from obandits.rlsim.trainer import TrainConfig, run_training
from obandits.tables import markdown_table

TARGET_S = 180.0
COLD_TARGET_CPU_S = 5.0
ROOT = Path(__file__).resolve().parent.parent

# One run of the default comparison (docs/speed.md's unit), in a fresh process.
UNIT = """
import sys; sys.path.insert(0, {root!r})
from obandits.rlsim.experiment import ExperimentConfig, _run_one
cfg = ExperimentConfig()
_run_one(cfg, cfg.methods[0], 0)
"""
# Warm per-run seconds (best of 15 after a warm-up) of run_training at the default budget.
WARM = """
import sys, json, time; sys.path.insert(0, {root!r})
from dataclasses import replace
from obandits.rlsim.experiment import BASE, ExperimentConfig
from obandits.rlsim.model import build_model
from obandits.rlsim.trainer import run_training
cfg = ExperimentConfig()
model = build_model(replace(cfg.model, seed=cfg.model_seed(0)))
best = {{}}
for m in ("none", "ucb-con", "batch", BASE):
    bonus = replace(cfg.train.bonus, method="none" if m == BASE else m, c=cfg.c, b0=cfg.b0)
    tc = replace(cfg.train, bonus=bonus)
    run_training(model, tc, learn=m != BASE)
    t_best = 1e9
    for _ in range(15):
        t = time.perf_counter(); run_training(model, tc, learn=m != BASE)
        t_best = min(t_best, time.perf_counter() - t)
    best[m] = t_best
print(json.dumps(best))
"""


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _fresh(code: str, cache_dir: str) -> tuple[float, str]:
    """CPU seconds (user + system) and stdout of ``python -c code`` in a fresh process, one
    Numba thread, Numba cache in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "NUMBA_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def cold_start(roots: list[Path], reps: int = 3) -> dict[Path, tuple[list, list]]:
    """Per checkout: CPU-s of the unit with an empty cache and then warm, ``reps`` times,
    the checkouts interleaved (so both see the same load)."""
    res: dict[Path, tuple[list, list]] = {r: ([], []) for r in roots}
    for _ in range(reps):
        for root in roots:
            with tempfile.TemporaryDirectory() as d:
                code = UNIT.format(root=str(root))
                res[root][0].append(_fresh(code, d)[0])
                res[root][1].append(_fresh(code, d)[0])
            print(root, res[root], flush=True)
    return res


def warm_runs(roots: list[Path], rounds: int = 3) -> dict[Path, dict[str, list]]:
    """Per checkout and method: best-of-15 seconds per run (warm cache), ``rounds`` times,
    interleaved."""
    res: dict[Path, dict[str, list]] = {r: {} for r in roots}
    with tempfile.TemporaryDirectory() as d:
        caches = {r: os.path.join(d, str(i)) for i, r in enumerate(roots)}
        for _ in range(rounds):
            for root in roots:
                best = json.loads(_fresh(WARM.format(root=str(root)), caches[root])[1])
                for m, t in best.items():
                    res[root].setdefault(m, []).append(t)
    return res


def _med(x: list) -> float:
    return float(sorted(x)[len(x) // 2])


def cold_section(against: Path | None) -> str:
    roots = [ROOT] + ([against.resolve()] if against else [])
    # the reference checkout by its folder name only: no machine's path in the results file
    names = {ROOT: "this checkout"} | ({roots[1]: f"reference {against.name}"} if against
                                       else {})
    cold = cold_start(roots)
    rows = [[names[r], " ".join(f"{x:.2f}" for x in c), f"{_med(c):.2f}",
             " ".join(f"{x:.2f}" for x in w), f"{_med(w):.2f}",
             "yes" if _med(c) <= COLD_TARGET_CPU_S else "NO"] for r, (c, w) in cold.items()]
    text = ("\n\n## Cold start: one run from a fresh process\n\n`_run_one(ExperimentConfig(), "
            "'none', 0)` (docs/speed.md's unit) in a new process, one Numba thread, an empty "
            "`NUMBA_CACHE_DIR`, then again with that cache; CPU seconds (user + system) of the "
            "whole process, 3 times, checkouts interleaved.\n\n"
            + markdown_table(["checkout", "CPU s, empty cache", "median", "CPU s, warm cache",
                              "median", f"<= {COLD_TARGET_CPU_S:.0f} CPU s"], rows))
    warm = warm_runs(roots)
    methods = list(warm[ROOT])
    head = ["checkout"] + [f"{m} (ms)" for m in methods]
    rows = [[names[r]] + [f"{1e3 * _med(warm[r][m]):.1f}" for m in methods] for r in roots]
    if against:
        rows.append(["this / reference"] + [f"{_med(warm[ROOT][m]) / _med(warm[roots[1]][m]):.2f}"
                                            for m in methods])
    return (text + "\n\nWarm: seconds per run at the default budget (`run_training`, best "
            "of 15 after a warm-up, median of 3 interleaved rounds; `base` = base-model "
            "sampling).\n\n" + markdown_table(head, rows))


def main(against: Path | None = None) -> None:
    model = build_model(ModelConfig())
    cfg = TrainConfig(bonus=BonusConfig(method="ucb-con"))
    run_training(model, replace(cfg, steps=1, n_evals=1))  # compile / load cache
    t_grpo = _best(lambda: run_training(model, cfg), 5)
    t_base = _best(lambda: run_training(model, cfg, learn=False), 5)
    exp = ExperimentConfig()
    run_comparison(replace(exp, reps=1), workers=1, progress=False)  # warm
    t1 = _best(lambda: run_comparison(exp, workers=1, progress=False), 2)
    t2 = _best(lambda: run_comparison(exp, workers=2, progress=False), 2)
    runs = (len(exp.methods) + 1) * exp.reps
    rows = [
        ["GRPO (UCB-Con) run, default budget", f"{cfg.samples}", f"{t_grpo:.3f}",
         f"{cfg.samples / t_grpo:,.0f}", "1.00"],
        ["base sampling run, same kernel", f"{cfg.samples}", f"{t_base:.3f}",
         f"{cfg.samples / t_base:,.0f}", f"{t_grpo / t_base:.2f} (GRPO / sampling time)"],
        [f"full comparison, {runs} runs, 1 thread", f"{runs * cfg.samples}", f"{t1:.2f}",
         f"{runs * cfg.samples / t1:,.0f}", f"{t1 / TARGET_S:.3f} of the 180 s target"],
        [f"full comparison, {runs} runs, 2 threads", f"{runs * cfg.samples}", f"{t2:.2f}",
         f"{runs * cfg.samples / t2:,.0f}",
         f"{t2 / TARGET_S:.3f} of target; speed-up {t1 / t2:.2f}x over 1 thread"],
    ]
    text = (
        "# bench rlsim\n\n"
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible "
        "(shared with other jobs: absolute times are noisy, ratios less so). Best of 5 (runs) "
        "or 2 (comparisons) after compilation. Reproduce: `.venv/bin/python -m bench rlsim`.\n\n"
        "Default budget: 256 training problems, 64 traces, 12 answers, 100 steps x 64 "
        "problems x 8 samples = 51,200 samples per run; the comparison is 5 methods x 8 seeds "
        "plus base sampling.\n\n"
        + markdown_table(["work", "samples", "seconds", "samples / s", "ratio"], rows)
        + f"\n\nTarget: full comparison under {TARGET_S:.0f} s on 2 cores: "
        + ("met" if t2 < TARGET_S else "NOT met") + f" ({t2:.1f} s)."
        + cold_section(against) + f"\n\nLoad average at the end: {os.getloadavg()[0]:.2f}.\n")
    out = Path(__file__).parent / "results" / "rlsim.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, default=None,
                    help="another checkout to measure side by side (cold start and warm runs)")
    main(ap.parse_args().against)
