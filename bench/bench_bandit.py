"""Bandit benchmarks (issue 3): UCB1 kernel throughput, a plain-Python UCB1 baseline in the same
run, the reduced theorem-check sweep's wall time, and the 1 -> 2 process speed-up of a sweep.

Writes ``bench/results/bandit.md``. The machine may be shared: ratios taken in one run are the
numbers to read; absolute rates are indicative.
"""

from __future__ import annotations

import math
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from obandits.bandit import learners
from obandits.bandit.experiment import REDUCED
from obandits.bandit.instances import make_instance
from obandits.bandit.learners import LearnerConfig, run_learner, ucb1_lanes
from obandits.seeding import rep_states
from obandits.sweep import config_from_dict, load_config, run_sweep
from obandits.tables import markdown_table

OUT = Path(__file__).parent / "results" / "bandit.md"


def python_ucb1(arm_mu, T, seed):
    """Plain per-step Python UCB1 (the baseline): lists, math, a local random.Random."""
    rng = random.Random(seed)
    K = len(arm_mu)
    n, s = [0] * K, [0.0] * K
    best_mu, reg = max(arm_mu), 0.0
    for t in range(T):
        if t < K:
            k = t
        else:
            lt = 2.0 * math.log(t)
            k, best = 0, -1.0
            for a in range(K):
                idx = s[a] / n[a] + math.sqrt(lt / n[a])
                if idx > best:
                    k, best = a, idx
        r = 1.0 if rng.random() < arm_mu[k] else 0.0
        n[k] += 1
        s[k] += r
        reg += best_mu - arm_mu[k]
    return reg


def numpy_ucb1(arm_mu, T, seed):
    """Per-step Python UCB1 with NumPy vector ops for the index (the usual library style)."""
    rng = np.random.default_rng(seed)
    arm_mu = np.asarray(arm_mu)
    K = len(arm_mu)
    n, s = np.zeros(K), np.zeros(K)
    reg = 0.0
    for t in range(T):
        k = t if t < K else int(np.argmax(s / n + np.sqrt(2.0 * np.log(t) / n)))
        s[k] += float(rng.random() < arm_mu[k])
        n[k] += 1
        reg += arm_mu.max() - arm_mu[k]
    return reg


def kernel_rate(K, T, reps=1, best_of=3):
    inst = make_instance("partition", K, min(3, K), 0.2, 0)
    states = rep_states(0, f"bench/{K}", reps)
    run_learner(LearnerConfig("ucb1"), [inst] * reps, min(T, 4 * K), [min(T, 4 * K)], states)
    best = math.inf
    for _ in range(best_of):
        t0 = time.perf_counter()
        run_learner(LearnerConfig("ucb1"), [inst] * reps, T, [T], states)
        best = min(best, time.perf_counter() - t0)
    return reps * T / best


CROSSOVER = ((9, 1 << 18), (256, 1 << 16), (1024, 1 << 14), (1024, 1 << 17), (2048, 1 << 15),
             (4096, 1 << 13), (4096, 1 << 16))


def crossover(points=CROSSOVER, reps=16):
    """UCB1 rates (pulls/s, one thread, 16 repetitions) of the lockstep scan and of the
    count-class argmax at each (K, T), each path forced through ``UCB1_CLASSES_MIN_K``: the
    measurements behind its value. Returns rows (K, T, scan rate, classes rate)."""
    rows = []
    saved = learners.UCB1_CLASSES_MIN_K
    try:
        for K, T in points:
            rates = []
            for min_k in (1 << 62, 1):
                learners.UCB1_CLASSES_MIN_K = min_k
                rates.append(kernel_rate(K, T, reps=reps))
            rows.append((K, T, *rates))
    finally:
        learners.UCB1_CLASSES_MIN_K = saved
    return rows


# (learner, K, T) of the selection table: T long enough that the count classes have formed,
# short enough that KL-UCB's scan (about 1 ms a step at K=4096) fits in a bench run; the first
# K pulls (each arm once) are in every horizon and cost both paths the same.
SELECTION = tuple(("ucb1", K, T) for K, T in ((9, 1 << 16), (64, 1 << 16), (512, 1 << 14),
                                             (4096, 1 << 13), (4096, 1 << 16))) + \
    tuple(("kl-ucb", K, T) for K, T in ((9, 1 << 14), (64, 1 << 12), (512, 1 << 10),
                                         (4096, 4096 + 256))) + \
    tuple(("outcome-ucb", K, T) for K, T in ((9, 1 << 16), (64, 1 << 16), (512, 1 << 15),
                                              (4096, 1 << 14)))


def selection_pair(learner, K, T, reps=16):
    """Two zero-argument callables running ``reps`` repetitions of ``learner`` on one instance
    (partition, gap 0.2, Bernoulli; m = 3 arm-level, m = K outcome-level), one by the scan
    :func:`run_learner` uses below the classes' threshold (UCB1: the lockstep kernel, 16 lanes)
    and one by the count classes, each forced; checks they give the same regret."""
    inst = make_instance("partition", K, K if learner == "outcome-ucb" else min(3, K), 0.2, 0)
    states = rep_states(0, f"bench/sel/{learner}/{K}", reps)
    ck = np.array([T])
    none = np.zeros(0, np.int64)
    phi, mu = np.stack([inst.phi] * reps), np.stack([inst.mu] * reps)
    cdf = learners.base_cdf(inst.base)

    def run(classes):
        out = np.zeros((reps, 1))
        if learner == "ucb1" and not classes:
            learners._ucb1(states.copy(), phi, mu, True, T, ck, out, 2.0,
                           learners.ucb1_mode(K, reps))
        for r in range(reps):
            st = states[r].copy()
            if learner == "ucb1" and classes:
                learners._ucb1_classes(st, inst.phi, inst.mu, True, T, ck, out[r], 2.0, none)
            elif learner == "kl-ucb" and classes:
                learners._klucb_classes(st, inst.phi, inst.mu, True, T, ck, out[r], 0.0, 0.0,
                                        none, none)
            elif learner == "kl-ucb":
                learners._klucb(st, inst.phi, inst.mu, True, T, ck, out[r], 0.0, none)
            elif learner == "outcome-ucb":
                learners._outcome_ucb(st, inst.phi, inst.mu, cdf, True, T, ck, out[r], 2.0,
                                      classes, none)
        return out

    if not np.array_equal(run(False), run(True)):
        raise AssertionError(f"{learner} K={K}: classes and scan differ")
    return (lambda: run(False)), (lambda: run(True))


def taken(learner, K):
    """The path run_learner takes at K arms (m = K outcomes for outcome-ucb)."""
    if learner == "ucb1":
        return "classes" if K >= learners.UCB1_CLASSES_MIN_K else "scan"
    if learner == "kl-ucb":
        return "classes" if K >= learners.KLUCB_CLASSES_MIN_K else "scan"
    return "classes" if K >= learners.OUTCOME_CLASSES_MIN_M else "scan"


def selection(points=SELECTION, reps=16, repeats=7):
    """Per-pull CPU time (ns, one thread) of the scan and of the count classes for each
    (learner, K, T), ``reps`` repetitions per call, ``repeats`` calls of each, interleaved
    (scan, classes, scan, ...) in this one process; medians. Returns table rows."""
    numba.set_num_threads(1)
    rows = []
    for learner, K, T in points:
        scan, cls = selection_pair(learner, K, T, reps)
        n = repeats if not (learner == "kl-ucb" and K >= 512) else 3
        ts, tc = [], []
        for _ in range(n):
            for f, acc in ((scan, ts), (cls, tc)):
                t0 = time.process_time()  # CPU time: the 2 cores are shared
                f()
                acc.append(time.process_time() - t0)
        s_ns, c_ns = (np.median(a) / (reps * T) * 1e9 for a in (ts, tc))
        pair = [a / b for a, b in zip(ts, tc)]  # each scan call over the classes call after it
        rows.append([learner, K, f"2^{math.log2(T):.2f}".replace(".00", ""), f"{s_ns:.1f}",
                     f"{c_ns:.1f}", f"{s_ns / c_ns:.2f}x",
                     f"{min(pair):.2f}-{max(pair):.2f}x", taken(learner, K)])
        print(rows[-1], flush=True)
    return rows


SELECTION_TITLE = "## Arm selection: scan against count classes (issue 16)"


def selection_section(rows, reps=16, repeats=7):
    load = os.getloadavg()
    return (f"{SELECTION_TITLE}\n\n`python -m bench.bench_bandit selection` on "
            f"{platform.node()!r}, {os.cpu_count()} cores, load average at the end "
            f"{load[0]:.2f}. CPU time per pull (`time.process_time`: other jobs share the "
            f"cores), one thread, {reps} repetitions per call, {repeats} "
            "calls of each path interleaved in one process (3 for KL-UCB's scan from K=512), "
            "medians; the range is that of the ratios of each scan call to the classes call "
            "right after it. Both paths "
            "make the same pulls (checked here on the regret; bit for bit in "
            "tests/test_selection.py and tests/test_bandit_classes.py).\n\n"
            + markdown_table(["learner", "K", "T", "scan ns/pull", "classes ns/pull",
                              "scan / classes", "range", "run_learner takes"], rows)
            + "\n\n- Instance: partition family, gap 0.2, Bernoulli rewards; m = 3 for UCB1 and "
            "KL-UCB, m = K for outcome-ucb (the scan runs over discovered outcomes).\n"
            "- Scan: UCB1's lockstep kernel (16 repetitions as vector lanes), KL-UCB's Pinsker-"
            "pruned scan (`_klucb`), outcome-ucb's loop over discovered outcomes. Classes: "
            "`_ucb1_classes`, `_klucb_classes`, `_outcome_ucb(classes=True)`, one repetition "
            "per call.\n"
            f"- Thresholds in `obandits/bandit/learners.py`: UCB1 from K = "
            f"{learners.UCB1_CLASSES_MIN_K}, KL-UCB from K = {learners.KLUCB_CLASSES_MIN_K}, "
            f"outcome-ucb from m = {learners.OUTCOME_CLASSES_MIN_M}.\n")


def write_section(title, text, path=OUT):
    """Replace the section starting at ``title`` (up to the next ``## `` heading) in
    ``path``, or append it: the file's other sections stay."""
    old = path.read_text() if path.exists() else ""
    i = old.find(title)
    if i < 0:
        new = old.rstrip("\n") + "\n\n" + text if old else text
    else:
        j = old.find("\n## ", i + len(title))
        new = old[:i] + text + (old[j + 1:] if j >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new.rstrip("\n") + "\n")


def python_rate(K, T, impl=None, best_of=1):
    inst = make_instance("partition", K, min(3, K), 0.2, 0)
    # untimed warm-up (9 arms: cheap at any K): a fresh process's first call ran at 0.7x of
    # later ones (5.5e5 against 8.0e5 pulls/s at K=9), which would flatter the kernel
    warm = make_instance("partition", 9, 3, 0.2, 0)
    (impl or python_ucb1)(list(warm.arm_means), 20_000, 1)
    best = math.inf
    for _ in range(best_of):
        t0 = time.perf_counter()
        (impl or python_ucb1)(list(inst.arm_means), T, 0)
        best = min(best, time.perf_counter() - t0)
    return T / best


def paired_rates(kernel, python, rounds=10):
    """Best kernel and best Python rate over ``rounds`` alternating runs: the machine is
    shared, and timing one side minutes after the other let a busy spell land on one side only
    (165x and 198x in two bench runs with the same code)."""
    k_best = p_best = 0.0
    for _ in range(rounds):
        k_best = max(k_best, kernel())
        p_best = max(p_best, python())
    return k_best, p_best


def thread_speedup(K=64, T=1 << 20, reps=32):
    """One kernel call, reps in prange, with 1 and with 2 Numba threads (best of 2 each); 32
    repetitions are two groups of 16 interleaved ones either way. T = 2^20: about 0.45 s on one
    thread; at 2^18 (0.1 s with the current kernel) three repeats read 1.33-1.86x."""
    inst = make_instance("partition", K, 3, 0.2, 0)
    states = rep_states(0, "bench/threads", reps)
    times = {}
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        best = math.inf
        for _ in range(2):
            t0 = time.perf_counter()
            run_learner(LearnerConfig("ucb1"), [inst] * reps, T, [T], states)
            best = min(best, time.perf_counter() - t0)
        times[threads] = best
    numba.set_num_threads(1)
    return times[1], times[2]


SPEEDUP_CFG = {
    "sweep": {"name": "bench-speedup", "runner": "bandit",
              "root_seed": 1, "reps": 16},
    "grid": [{"family": "partition", "K": 64, "m": 4, "learner": "ucb1", "T": 1 << 23,
              "gap": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 0.9]}],
}


def sweep_time(cfg, workers, threads=1):
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        run_sweep(cfg, d, workers=workers, threads=threads, progress=False)
        return time.perf_counter() - t0


def main() -> None:
    numba.set_num_threads(1)
    rows = []
    r9_one = kernel_rate(9, 1 << 23)
    r4096_one = kernel_rate(4096, 1 << 15)
    r4096 = kernel_rate(4096, 1 << 13, reps=16)
    # Baselines at the kernel's horizon where it matters: at K=4096 the first K pulls skip
    # the scan, so a shorter horizon would flatter the baseline.
    r9, p9 = paired_rates(lambda: kernel_rate(9, 1 << 21, reps=16, best_of=1),
                          lambda: python_rate(9, 200_000))
    p4096 = python_rate(4096, 1 << 13)
    n9 = python_rate(9, 50_000, numpy_ucb1, best_of=3)
    n4096 = python_rate(4096, 1 << 13, numpy_ucb1)
    rows.append(["UCB1 kernel, K=9, one repetition (pulls/s/core)", f"{r9_one:.3g}", ">= 1e7",
                 "yes" if r9_one >= 1e7 else "NO"])
    rows.append([f"UCB1 kernel, K=9, 16 repetitions interleaved "
                 f"({ucb1_lanes(9, 16, 1)} lanes) (pulls/s/core)", f"{r9:.3g}", ">= 1e7",
                 "yes" if r9 >= 1e7 else "NO"])
    rows.append(["UCB1 kernel, K=4096, one repetition (pulls/s/core)", f"{r4096_one:.3g}", "-",
                 "-"])
    rows.append(["UCB1 kernel, K=4096, 16 repetitions interleaved (pulls/s/core)",
                 f"{r4096:.3g}", "-", "-"])
    rows.append(["plain Python UCB1, K=9 (pulls/s)", f"{p9:.3g}", "-", "-"])
    rows.append(["per-step NumPy UCB1, K=9 (pulls/s)", f"{n9:.3g}", "-", "-"])
    for what, kern, base in (("kernel (one repetition) / Python, K=9", r9_one, p9),
                             ("kernel (16 interleaved) / Python, K=9", r9, p9),
                             ("kernel (16 interleaved) / Python, K=4096", r4096, p4096),
                             ("kernel (16 interleaved) / per-step NumPy, K=9", r9, n9),
                             ("kernel (16 interleaved) / per-step NumPy, K=4096", r4096, n4096)):
        rows.append([f"speed-up {what}", f"{kern / base:.0f}x", ">= 200x",
                     "yes" if kern / base >= 200 else "NO"])
    sel = selection()
    for learner, K, T, _, _, ratio, _, path in sel:
        if learner == "ucb1" and K == 4096 and T == "2^13":
            r = float(ratio[:-1])
            rows.append([f"UCB1 count classes / 16-lane scan per pull, K=4096, T={T} (median)",
                         ratio, ">= 10x", "yes" if r >= 10 else "NO"])
        if K == 9:  # the path run_learner takes, against the scan
            r = float(ratio[:-1]) if path == "classes" else 1.0
            rows.append([f"{learner}, K=9: scan / path taken ({path}) per pull",
                         f"{r:.2f}x", ">= 1x", "yes" if r >= 1.0 else "NO"])
    th1, th2 = thread_speedup()
    rows.append(["kernel, 32 reps in prange: 1 -> 2 threads", f"{th1 / th2:.2f}x", ">= 1.7x",
                 "yes" if th1 / th2 >= 1.7 else "NO"])
    cfg = config_from_dict(SPEEDUP_CFG)
    sweep_time(cfg, 1)  # warm the compile cache
    t1 = min(sweep_time(cfg, 1), sweep_time(cfg, 1))
    t2 = min(sweep_time(cfg, 2), sweep_time(cfg, 2))
    rows.append([f"sweep of {len(cfg.cells)} cells, 1 process (s)", f"{t1:.2f}", "-", "-"])
    rows.append(["same sweep, 2 processes (s)", f"{t2:.2f}", "-", "-"])
    rows.append(["sweep: 1 -> 2 processes", f"{t1 / t2:.2f}x", ">= 1.7x",
                 "yes" if t1 / t2 >= 1.7 else "NO"])
    red = load_config(REDUCED)
    tr = sweep_time(red, 2)
    tr1 = sweep_time(red, 1, threads=1)
    what = f"reduced theorem sweep ({len(red.cells)} cells x {red.reps} reps)"
    rows.append([f"{what}, 2 processes (s)", f"{tr:.1f}", "<= 240",
                 "yes" if tr <= 240 else "NO"])
    rows.append([f"{what}, 1 process (s)", f"{tr1:.1f}", "-", "-"])
    rows.append(["reduced sweep: 1 -> 2 processes", f"{tr1 / tr:.2f}x", ">= 1.7x",
                 "yes" if tr1 / tr >= 1.7 else "NO"])
    load = os.getloadavg()
    text = (f"# Bandit benchmarks (issue 3)\n\n`python -m bench bandit` on {platform.node()!r}, "
            f"{os.cpu_count()} cores, load average at the end {load[0]:.2f} (the machine is "
            f"shared: ratios taken in one run are what to read).\n\n"
            + markdown_table(["measure", "value", "target", "met"], rows) + "\n\n"
            "- Kernel rates: one Numba thread, best of 3 runs (16 repetitions at K=9: best of 10, "
            "alternating with the Python baseline), after compilation: one "
            "repetition of T = 2^23 (K=9) or 2^15 (K=4096) pulls, and 16 repetitions of 2^21 "
            "(K=9) or 2^13 (K=4096) pulls, which the kernel runs in lockstep with the arm scan, "
            "the xoshiro steps, the division and the square root vectorised across repetitions "
            "(a sweep cell has 8-16 repetitions).\n"
            "- Python baseline: the same UCB1 (index mean + sqrt(2 log t / n), ties to the "
            "lowest arm) as a per-step loop over lists, in this same run, after one untimed "
            "warm-up run: at K=9, 10 runs of 200,000 pulls alternating with 10 runs of the "
            "16-repetition kernel, best of each (so a busy spell on the shared machine hits "
            "both sides); one run of 2^13 pulls at "
            "K=4096 (the kernel's horizon: the first K pulls skip the scan, so a shorter "
            "horizon would flatter the baseline).\n"
            "- Two Python baselines, both per step: a plain loop over lists (the fastest pure "
            "Python), and NumPy vector ops for the index (`argmax(mean + sqrt(2 log t / n))`, "
            "the usual library style).\n"
            "- Count classes (issue 16): the rows on the classes come from the section "
            "below (same run). The K=4096 rate in the first rows is whichever path "
            "run_learner takes (the classes).\n"
            "- Speed-up: the same 8-cell sweep (UCB1, K=64, T=2^23, 16 repetitions: long enough "
            "that each worker's start-up, about 0.5 s, does not dominate; T=2^22 until the "
            "8-arm scan passes made the kernel 1.8x faster here) with 1 and "
            "with 2 worker processes (forked from a server that has imported the package; each "
            "loads the compile cache), best of 2 each; the reduced theorem sweep with 1 and 2 "
            "processes (once each); and one kernel call with 32 repetitions (two groups of 16, "
            "T=2^20) in `prange` on 1 and 2 threads. The 2 cores may be shared with other "
            "jobs, so the speed-ups are lower bounds.\n")
    old = OUT.read_text() if OUT.exists() else ""
    i = old.find(SELECTION_TITLE)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + ("\n" + old[i:] if i >= 0 else ""))
    write_section(SELECTION_TITLE, selection_section(sel))
    print(OUT.read_text())


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["selection"]:
        write_section(SELECTION_TITLE, selection_section(selection()))
        print(OUT.read_text())
    else:
        main()
