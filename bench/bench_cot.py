"""Benchmark of the tree-chain simulator (Spec 2), written to ``bench/results/cot.md``.

1. Experiment (a) -- every paper method (4 RLVR, 2 remedies on REINFORCE and GRPO, the closed
   KL form, 4 selection rules) on both tasks, one seed -- by the package against the plain
   per-sample-loop reference ``bench/cot_reference.py``, on the same budgets, in one run.
2. One post-training run on a tree with ``L = 10, M = 4`` (1000 iterations, 64 CoTs each).
3. Cold start (issue 16): one cot cell (method GRPO, default configuration, one seed) in a fresh
   process with an empty Numba cache, then with that cache warm; median of 3 each.

Compilation is excluded from 1-2 (one warm-up call first; kernels are cached on disk anyway).
Usage: ``python -m bench cot`` (add ``--pool N`` to change the selection pool of both).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import replace

import numpy as np


def _time(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


COLD_CELL = """
from obandits.cot.runner import run_cell
run_cell({"method": "GRPO"}, 0, "cold", 1)
"""


def cold_start(rounds: int = 3) -> list[list[str]]:
    """CPU seconds of :data:`COLD_CELL` in fresh processes: empty Numba cache, then warm."""
    import tempfile

    from .bench_peers import process_time

    cold, warm = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            cold.append(process_time(COLD_CELL, d)[1])
            warm.append(process_time(COLD_CELL, d)[1])
    load = os.getloadavg()[0]
    return [["one GRPO cell, 1 seed, default configuration", f"{np.median(cold):.2f}",
             f"{np.median(warm):.2f}", "yes" if np.median(cold) <= 5 else "NO",
             f"{load:.1f}"]]


def main(pool: int | None = None) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    from obandits.bonuses import BonusConfig
    from obandits.cot.chain import build_chain, two_task_config
    from obandits.cot.experiments import PAPER_METHODS, ExperimentConfig, clear_memo, run_seed
    from obandits.cot.instances import make_instances
    from obandits.cot.learner import PretrainConfig, pretrain
    from obandits.cot.posttrain import RLConfig, post_train
    from obandits.seeding import rep_states
    from obandits.tables import markdown_table

    from . import cot_reference as ref

    if pool is None:
        pool = int(sys.argv[sys.argv.index("--pool") + 1]) if "--pool" in sys.argv else 5000
    cfg = ExperimentConfig(reps=1)
    cfg = replace(cfg, select=replace(cfg.select, pool=pool))
    small = replace(cfg, n_eval=50, rl=replace(cfg.rl, iters=5),
                    select=replace(cfg.select, pool=50))
    run_seed(small, PAPER_METHODS, 0, "bench-warmup")  # compile / load cached kernels
    # each repeat pretrains again (the memo would otherwise skip it; the reference pretrains)
    t_pkg = _time(lambda: (clear_memo(), run_seed(cfg, PAPER_METHODS, 0, "bench")), repeat=3)
    t_ref = _time(lambda: ref.run(seed=0, pool=pool))
    rows = [[("experiment (a), 1 seed, paper budgets (pretrain 2000+500 x 32 paths; 8 RL runs "
              f"x 1000 it x 8 CoTs; 2 x 2000 eval instances; selection pools {pool} x 4 rules "
              "x 2 tasks x 2 temperatures)"), f"{t_ref:.2f}", f"{t_pkg:.3f}",
             f"{t_ref / t_pkg:.0f}x", ">= 20x"]]

    # L = 10, M = 4 post-training run
    chain = build_chain(two_task_config(L=10, M0=4, M=4, C_size=1, eps=0.1))
    st = rep_states(0, "bench/big", 2)
    theta0, _ = pretrain(chain, PretrainConfig(), st[0])
    inst = make_instances(chain, 0, 200, np.random.default_rng(0))
    big = {}
    for meth, kw in (("GRPO+UCB-Con", dict(method="grpo", bonus=BonusConfig(method="ucb-con"))),
                     ("REINFORCE", dict(method="reinforce")),
                     ("PPO+KL", dict(method="ppo", kl_beta=1.0))):
        rc = RLConfig(iters=1000, n_rollouts=64, **kw)
        post_train(chain, theta0, inst, replace(rc, iters=2), st[1].copy())
        big[meth] = _time(lambda rc=rc: post_train(chain, theta0, inst, rc, st[1].copy()),
                          repeat=3)
    t_inst = _time(lambda: make_instances(chain, 0, 200, np.random.default_rng(0)))
    cold = cold_start()
    lines = [
        "# Benchmark: tree Markov chain simulator (Spec 2)",
        "",
        (f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
         f"{platform.python_version()}, NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}. "
         "Both sides measured in the same run; package times are the best of 3 (compilation "
         "excluded: warm-up call first), the reference is run once."),
        "",
        "## Experiment (a) against the plain reference (`bench/cot_reference.py`)",
        "",
        markdown_table(["workload", "reference (s)", "package (s)", "speed-up", "target"],
                       rows),
        "",
        (f"The selection pool is {pool} CoTs per (rule, task, temperature) on both sides "
         "(the package's experiments use 20000 by default; the reference's selection loop "
         "grows linearly with it, so the full-pool ratio is larger)."),
        "",
        "## One post-training run on L = 10, M = 4 (1000 iterations x 64 CoTs)",
        "",
        markdown_table(["method", "seconds", "target"],
                       [[m, f"{t:.3f}", "< 30 s"] for m, t in big.items()]
                       + [["(drawing 200 TASK1 instances over 4^8 valid CoTs)",
                           f"{t_inst:.3f}", "-"]]),
        "",
        "## Cold start: a fresh process with an empty Numba cache (issue 16)",
        "",
        markdown_table(["unit", "CPU s, empty cache (median of 3)", "CPU s, warm cache",
                        "<= 5 CPU s", "load average"], cold),
        "",
        ("Whole process (start, imports, compilation or cache load, the cell), one Numba "
         "thread. CPU time grows with the load of the shared machine: compare runs taken "
         "together (`bench/results/cot.md` history and the report of branch cotpipe)."),
        "",
        "Reproduce: `.venv/bin/python -m bench cot`.",
        "",
    ]
    out = os.path.join(os.path.dirname(__file__), "results", "cot.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
