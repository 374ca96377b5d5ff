"""rlsim benchmark: trainer throughput and the wall time of the full comparison.

Measured in one process (timings on a shared machine are noisy, so the table also reports
ratios of things measured side by side): samples per second of one GRPO run at the default
budget next to base-model sampling through the same kernel (the cost of the advantage and
gradient work), and the full comparison (5 methods x 8 seeds + base sampling, default
budget) on 1 and 2 worker threads against the 3-minute target.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from pathlib import Path

from obandits.bonuses import BonusConfig
from obandits.rlsim.experiment import ExperimentConfig, run_comparison
from obandits.rlsim.model import ModelConfig, build_model
from obandits.rlsim.trainer import TrainConfig, run_training
from obandits.tables import markdown_table

TARGET_S = 180.0


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    model = build_model(ModelConfig())
    cfg = TrainConfig(bonus=BonusConfig(method="ucb-con"))
    run_training(model, replace(cfg, steps=1, n_evals=1))  # compile / load cache
    t_grpo = _best(lambda: run_training(model, cfg), 5)
    t_base = _best(lambda: run_training(model, cfg, learn=False), 5)
    exp = ExperimentConfig()
    run_comparison(replace(exp, n_seeds=1), workers=1, progress=False)  # warm
    t1 = _best(lambda: run_comparison(exp, workers=1, progress=False), 2)
    t2 = _best(lambda: run_comparison(exp, workers=2, progress=False), 2)
    runs = (len(exp.methods) + 1) * exp.n_seeds
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
        + ("met" if t2 < TARGET_S else "NOT met") + f" ({t2:.1f} s).\n")
    out = Path(__file__).parent / "results" / "rlsim.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
