"""Bonus kernel vs the vectorised NumPy reference vs a per-group Python loop (issue 2).

10^6 samples in 10^5 groups of 10, 0/1 rewards, 6 answers per prompt. All three are timed in
this one run (best of a few repeats); the ratios are what the table reports.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from obandits.bonuses import BonusConfig, shaped_advantages, shaped_advantages_nb
from obandits.tables import markdown_table

N_GROUPS, GROUP = 100_000, 10
OUT = Path(__file__).parent / "results" / "bonuses.md"


def python_loop(group, outcome, reward, count, cfg: BonusConfig) -> np.ndarray:
    """The straightforward per-group loop research code usually has (the baseline)."""
    total = np.empty(len(group))
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group.tolist()):
        members.setdefault(g, []).append(i)
    for idx in members.values():
        r = reward[idx]
        adv = (r - r.mean()) / (r.std() + cfg.eps)
        if cfg.all_correct_rule and (r >= cfg.correct_threshold).all():
            bonus = np.zeros(len(idx))
        elif cfg.method == "batch":
            o = outcome[idx].tolist()
            bonus = np.array([-(o.count(a) - 1) / len(o) for a in o]) * cfg.c
        else:
            u = np.minimum(1.0, np.sqrt(1.0 / np.maximum(count[idx], 1e-300)))
            bonus = cfg.c * (u - cfg.b0)
        total[idx] = adv + bonus
    return total


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    n = N_GROUPS * GROUP
    group = rng.permutation(np.repeat(np.arange(N_GROUPS), GROUP))
    outcome = rng.integers(0, 6, n)
    reward = (outcome == 0).astype(np.float64)
    count = rng.integers(0, 40, n).astype(np.float64)
    rows = []
    for method in ("ucb-con", "batch"):
        cfg = BonusConfig(method=method)
        out = [np.empty(n) for _ in range(3)]

        def kernel(cfg=cfg, out=out):
            shaped_advantages_nb(group, outcome, reward, count, N_GROUPS, cfg.method_code, cfg.c,
                                 cfg.b0, cfg.all_correct_rule, cfg.correct_threshold,
                                 cfg.scale_code, cfg.eps, cfg.ddof, *out)

        kernel()  # compile (or load from cache) outside the timing
        t_kernel = best_of(kernel, 5)
        t_api = best_of(lambda cfg=cfg: shaped_advantages(group, outcome, reward, count, cfg), 3)
        t_numpy = best_of(lambda cfg=cfg: shaped_advantages(group, outcome, reward, count, cfg,
                                                    backend="numpy"), 3)
        t_loop = best_of(lambda cfg=cfg: python_loop(group, outcome, reward, count, cfg), 1)
        ref = python_loop(group, outcome, reward, count, cfg)
        assert np.allclose(out[0], ref, atol=1e-9), "kernel and loop disagree"
        rows.append([method, t_kernel * 1e3, t_api * 1e3, t_numpy * 1e3, t_loop * 1e3,
                     t_numpy / t_kernel, t_loop / t_kernel])
    table = markdown_table(
        ["method", "kernel ms", "API (validated) ms", "NumPy ref ms", "Python loop ms",
         "NumPy / kernel", "loop / kernel"], rows, digits=1)
    text = (f"# Bonus kernel benchmark\n\n{n:,} samples in {N_GROUPS:,} groups of {GROUP} "
            f"(shuffled group ids), measured in one run on {os.cpu_count()} cores with "
            f"`python -m bench bonuses`. Targets: loop / kernel >= 10, NumPy / kernel >= 1.\n\n"
            f"{table}\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
