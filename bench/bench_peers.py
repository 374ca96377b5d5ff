"""Peers side by side (issue 16): SMPyBandits' ``UCB`` and MABWiser's ``UCB1`` against this
package's UCB1 on the same instance (K=9 Bernoulli arms, means 0.1, 0.2, ..., 0.9), in one run;
and the cold start (empty Numba cache) of one cell of every learner, one rlsim cell and one cot
cell.

The three are one algorithm: after one pull of each arm, play ``argmax_k mean_k + sqrt(2 log t
/ n_k)`` with ``t`` the pulls so far (SMPyBandits: ``rewards/pulls + sqrt(2 log t / pulls)``,
unpulled arms first in random order, ties at random; MABWiser: ``mean + alpha sqrt(2 log N /
n)`` with ``alpha = 1`` and ``N`` the decisions so far, ties to the first arm, unpulled arms at
0, so it is fitted on one pull of each arm first; here: ``mean + sqrt(2 log t) n^{-1/2}``, each
arm once in order, ties to the lowest arm). ``check_same_pulls`` asserts it: with deterministic
rewards (each pull pays the arm's mean) the three make the same pulls after the first K.

Needs the ``bench`` extra (``pip install -e .[bench]``). SMPyBandits 0.9.7 imports
``scipy.special.btdtri``, gone from SciPy 1.14: the shim maps it to ``betaincinv`` (the same
function). Writes ``bench/results/peers.md``.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from obandits.bandit.instances import BanditInstance
from obandits.bandit.learners import LEARNERS, LearnerConfig, _ucb1_classes, run_learner
from obandits.seeding import rep_states
from obandits.tables import markdown_table

from .peer_runs import MEANS, K, mabwiser_run, smpy_run

OUT = Path(__file__).parent / "results" / "peers.md"
ROOT = Path(__file__).resolve().parent.parent


def instance(reward="bernoulli") -> BanditInstance:
    return BanditInstance(K, K, np.arange(K), MEANS, reward=reward)


def ours_picks(T: int) -> list[int]:
    """Our pulls, deterministic rewards: the count-class kernel's picks (tests hold them equal
    to the scan's), checked here against run_learner's regret curve too."""
    inst = instance("deterministic")
    st = rep_states(0, "peers/same", 1)
    picks = np.zeros(T, np.int64)
    ck = np.arange(1, T + 1)
    out = np.zeros(T)
    _ucb1_classes(st[0].copy(), inst.phi, inst.mu, False, T, ck, out, 2.0, picks)
    reg = run_learner(LearnerConfig("ucb1"), [inst], T, ck, st)[0]
    assert np.array_equal(reg, np.cumsum(inst.mu_star - MEANS[picks])), "kernel paths differ"
    return picks.tolist()


def check_same_pulls(T: int = 3000) -> str:
    ours = ours_picks(T)
    smpy = smpy_run(T, 0, deterministic=True)
    mabw = mabwiser_run(T, 0, deterministic=True)
    assert sorted(smpy[:K]) == list(range(K)), "SMPyBandits did not start with each arm once"
    assert smpy[K:] == ours[K:], "SMPyBandits UCB made other pulls"
    assert mabw[K:] == ours[K:], "MABWiser UCB1 made other pulls"
    return (f"same pulls checked: deterministic rewards, T={T}: all three make the same "
            f"{T - K} pulls after the first {K} (SMPyBandits plays those {K} in random order)")


def rate(fn, pulls, best_of=3) -> float:
    best = float("inf")
    for _ in range(best_of):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return pulls / best


def ours_rate(T, reps) -> float:
    inst = instance()
    st = rep_states(0, "peers/rate", reps)
    run_learner(LearnerConfig("ucb1"), [inst] * reps, 100, [100], st)
    return rate(lambda: run_learner(LearnerConfig("ucb1"), [inst] * reps, T, [T], st), T * reps)


PROCESS = {
    "obandits": """
import numpy as np
from obandits.bandit.instances import BanditInstance
from obandits.bandit.learners import LearnerConfig, run_learner
from obandits.seeding import rep_states
inst = BanditInstance(9, 9, np.arange(9), np.round(np.linspace(0.1, 0.9, 9), 10))
run_learner(LearnerConfig("ucb1"), [inst] * 8, 10_000, [10_000], rep_states(0, "p", 8))
""",
    "SMPyBandits": "from bench.peer_runs import smpy_run\n[smpy_run(10_000, s) for s in range(8)]",
    "MABWiser": "from bench.peer_runs import mabwiser_run as f\n[f(10_000, s) for s in range(8)]",
}


def process_time(code: str, cache_dir: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of ``python -c code`` in a fresh process
    (one Numba thread)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


CELL = """
from obandits.bandit.runner import run_cell
run_cell({{"family": "partition", "K": 9, "m": 3, "gap": 0.4, "learner": "{learner}",
          "T": 10_000}}, 0, "cold", 8)
"""
SIMS = {
    "rlsim: one run (default ExperimentConfig, method 'none', rep 0)": """
from obandits.rlsim.experiment import ExperimentConfig, _run_one
cfg = ExperimentConfig()
_run_one(cfg, cfg.methods[0], 0)
""",
    "cot: one cell of the cot runner (GRPO, seed 0, default parameters)": """
from obandits.cot import runner
runner.run_cell({"method": "GRPO"}, 0, "cold", 1)
""",
}


def cold_warm(code: str, rounds: int = 1) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) of the process from an empty Numba cache, then with that cache filled;
    with ``rounds`` > 1 the median by CPU time of that many fresh pairs (the machine is
    noisy: one process varies by +-10%)."""
    pairs = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            pairs.append((process_time(code, d), process_time(code, d)))
    pairs.sort(key=lambda p: p[0][1])
    return pairs[len(pairs) // 2]


def main() -> None:
    numba.set_num_threads(1)
    same = check_same_pulls()
    print(same, flush=True)
    r16 = ours_rate(1 << 20, 16)
    r8 = ours_rate(10_000, 8)
    r1 = ours_rate(1 << 22, 1)
    rs = rate(lambda: smpy_run(20_000, 1), 20_000, best_of=2)
    rm = rate(lambda: mabwiser_run(3_000, 1), 3_000 - K, best_of=2)
    rows = [["obandits UCB1, 16 repetitions in lockstep (T=2^20)", f"{r16:.3g}", "1"],
            ["obandits UCB1, 8 repetitions, T=1e4 (one cell's call)", f"{r8:.3g}", "1"],
            ["obandits UCB1, one repetition (T=2^22)", f"{r1:.3g}", "1"],
            ["SMPyBandits UCB (T=2e4)", f"{rs:.3g}", f"{r16 / rs:.0f}x"],
            ["MABWiser UCB1 (T=3e3)", f"{rm:.3g}", f"{r16 / rm:.0f}x"]]
    print(rows, flush=True)
    proc = []
    (cw, cc), (ww, wc) = cold_warm(PROCESS["obandits"])
    proc.append(["obandits, empty Numba cache", f"{cw:.2f}", f"{cc:.2f}"])
    proc.append(["obandits, warm Numba cache", f"{ww:.2f}", f"{wc:.2f}"])
    peers = {}
    for name in ("SMPyBandits", "MABWiser"):
        peers[name] = process_time(PROCESS[name])
        proc.append([name, f"{peers[name][0]:.2f}", f"{peers[name][1]:.2f}"])
    ratios = [[name, f"{w / cw:.1f}x", f"{w / ww:.1f}x"] for name, (w, _) in peers.items()]
    print(proc, flush=True)
    cold = []
    for learner in LEARNERS:
        (c_w, c_c), (w_w, w_c) = cold_warm(CELL.format(learner=learner), rounds=3)
        cold.append([f"bandit cell, {learner}", f"{c_c:.2f}", f"{c_w:.2f}", f"{w_c:.2f}",
                     "yes" if c_c <= 5 else "NO"])
        print(cold[-1], flush=True)
    for what, code in SIMS.items():
        (c_w, c_c), (w_w, w_c) = cold_warm(code, rounds=3)
        cold.append([what, f"{c_c:.2f}", f"{c_w:.2f}", f"{w_c:.2f}",
                     "yes" if c_c <= 5 else "NO"])
        print(cold[-1], flush=True)
    load = os.getloadavg()
    text = (
        f"# Peers and cold start (issue 16)\n\n`python -m bench peers` on {platform.node()!r}, "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.2f} (shared machine: read "
        f"the ratios, taken in one run).\n\nInstance: K=9 Bernoulli arms, means 0.1, 0.2, ..., "
        f"0.9. {same}.\n\n## Warm pulls per second, one core\n\n"
        + markdown_table(["implementation", "pulls/s (CPU time)", "obandits (16 lanes) is"],
                         rows)
        + "\n\n## One run of T=1e4, 8 repetitions: whole process (python start, imports, "
          "compilation or cache load, run)\n\n"
        + markdown_table(["process", "wall s", "CPU s"], proc)
        + "\n\nPeer process time over obandits': "
        + "; ".join(f"{n} {a} with an empty cache, {b} with a warm one" for n, a, b in ratios)
        + ".\n\n## Cold start: one cell from an empty Numba cache (fresh process)\n\n"
        + markdown_table(["cell", "CPU s, empty cache", "wall s, empty cache",
                          "CPU s, warm cache", "<= 5 CPU s"], cold)
        + "\n\n- Bandit cells: `run_cell` with family partition, K=9, m=3, gap 0.4, T=1e4, 8 "
          "repetitions; each learner in its own process and empty cache directory "
          "(`NUMBA_CACHE_DIR`), then again with that cache; median of 3 such pairs (by CPU "
          "time of the empty-cache process).\n"
          "- rlsim and cot: one run / one cell of their experiments at the default "
          "configuration, the same way.\n"
          "- Peer rates: CPU time of a per-pull loop (choice, reward, update), best of 2; "
          "obandits: best of 3 kernel calls after compilation, one Numba thread.\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
