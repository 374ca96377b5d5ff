"""Benchmark: Bu et al.'s own script against the ``bu2025`` preset on the same work, and the power
of the preset's comparison with their runs; written to ``bench/results/bu2025.md``.

Same work: one seed of their experiment (their chain for that seed, pretraining 2000 + 500
one-path steps, four fine-tuning runs of 1000 iterations, 11 strategies x 2 tasks scored with
K = 30 on 200 instances, N = 15), figures off on both sides. Their side runs their file
in-process through ``runpy`` with ``matplotlib.pyplot.savefig`` / ``show`` patched to no-ops
and its printing sent to a null stream; our side is one cell of the preset
(:func:`obandits.cot.bu2025.runner.run_cell`), sampled as they score and then exact, with
compilation excluded (one warm-up cell first; kernels are cached on disk anyway). Both are
measured in the same run. Their stubbed run (progress evaluations off) advances NumPy's global
generator by exactly the draws the evaluations would have made, so its table is the published
run's, number for number; the benchmark checks that.

Power (:func:`power`): the preset and every wrong version (the cleaner definitions and
``obandits.cot.bu2025.cells.MUTANTS``) are run on the seeds of the committed runs of their
script with ``R`` fresh root seeds (new random streams each time) and put through the
comparison with those runs (:mod:`obandits.cot.bu2025.compare`): how often each is judged to
agree, and how many cells fall outside.

Usage: ``python -m bench bu2025 [--authors-script PATH] [--seed S] [--power R]
[--no-timing]`` (the script: ``--authors-script`` or ``$OBANDITS_BU2025_SCRIPT``; without it
the authors' side is skipped with a message naming the variable and only our times are
written; ``--power 0`` skips the power table).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import runpy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results" / "bu2025.md"


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv[:-1] else default


def _no_progress(script: str | Path):
    """Their script with its progress evaluations stubbed out: the module part is executed,
    ``LinearSoftmaxModel._evaluate_pass_at_k`` (pass@30 on the 200 training instances every
    100 fine-tuning iterations, l.653-673, called at l.485) and ``compute_pass_at_k`` (pass@3
    every 100 pretraining steps, l.336-354) return 0 without sampling, then their
    ``__main__`` block runs. Each stub advances NumPy's global generator by the uniforms the
    evaluation would have drawn (one ``np.random.choice(p=...)`` per step of each of its
    instances x K paths, l.356-370: one double each), so every later draw -- and the table --
    is the published run's. Only progress prints change."""
    import textwrap

    src = Path(script).read_text()
    marker = '\nif __name__ == "__main__":\n'
    if marker not in src:
        raise ValueError(f"{script}: no `if __name__ == \"__main__\":` block to run")
    head, main = src.split(marker, 1)

    def run():
        ns = {"__name__": "bu2025_authors_script", "__file__": str(script)}
        exec(compile(head, str(script), "exec"), ns)
        model = ns["LinearSoftmaxModel"]

        def evaluate(self, tm, question_instances, K=3):  # l.653: K paths per instance
            np.random.random_sample(len(question_instances) * K * (self.L - 1))
            return 0.0

        def pass_at_k(self, tm, task_id="TASK1", K=3, num_trials=100):  # l.336
            np.random.random_sample(num_trials * K * (self.L - 1))
            return 0.0

        model._evaluate_pass_at_k = evaluate
        model.compute_pass_at_k = pass_at_k
        exec(compile(textwrap.dedent(main), str(script), "exec"), ns)

    return run


def run_authors(script: str | Path, seed: int, progress: bool = True
                ) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run of their script (figures off; ``progress=False``: its
    progress evaluations stubbed, :func:`_no_progress`), and its output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = plt.savefig, plt.show, sys.argv
    plt.savefig = plt.show = lambda *a, **k: None
    buf = io.StringIO()
    try:
        with tempfile.TemporaryDirectory(prefix="bu2025-bench-") as tmp:
            sys.argv = [str(script), "--seed", str(seed), "--output-dir", tmp]
            t, c = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(buf):
                if progress:
                    runpy.run_path(str(script), run_name="__main__")
                else:
                    _no_progress(script)()
            sec, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        plt.savefig, plt.show, sys.argv = saved
        plt.close("all")
    return sec, cpu, buf.getvalue()


def run_ours(seed: int, variant: str, repeat: int = 3) -> tuple[float, float, dict]:
    """Best wall and CPU seconds of one preset cell (after a warm-up cell), its columns."""
    from obandits.cot.bu2025.cells import validate_cell
    from obandits.cot.bu2025.runner import run_cell

    p = validate_cell({"seed": seed, "variant": variant})
    run_cell(validate_cell({"seed": seed, "variant": variant, "T1": 20, "T2": 5,
                            "finetune_iterations": 5, "num_trials": 5}), 0, "warmup", 1)
    best, best_cpu, cols = np.inf, np.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        cols = run_cell(p, 0, "bench", 1)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu, cols


def power(n_roots: int) -> tuple[str, dict]:
    """Markdown table and counts: the preset and every wrong version, run on the committed
    authors' seeds with root seeds 1..n_roots (fresh streams), judged against their runs."""
    from obandits.cot.bu2025.analysis import comparison
    from obandits.cot.bu2025.authors import read_authors
    from obandits.cot.bu2025.cells import MUTANTS, SEEDS, VARIANTS
    from obandits.cot.bu2025.preset import run_preset
    from obandits.results import read_table
    from obandits.tables import markdown_table

    variants = [*VARIANTS, *MUTANTS]
    authors = read_authors(None)
    got: dict = {x: [] for x in variants}
    t0 = time.perf_counter()
    for root in range(1, n_roots + 1):
        with tempfile.TemporaryDirectory(prefix="bu2025-power-") as tmp:
            run_preset(seeds=SEEDS, variants=variants, root_seed=root, out=tmp, workers=1,
                       progress=False)
            table = read_table(Path(tmp) / "results.csv")
        for x in variants:
            got[x].append(comparison(table, None, x, authors=authors))
        print(f"power: root seed {root} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for x in variants:
        res = got[x]
        agree = sum(r["verdict"] == "agrees" for r in res)
        out = np.array([r["outside"] for r in res])
        rows.append([x, f"{agree} of {len(res)}", f"{out.mean():.1f} ({out.min()}-{out.max()})",
                     f"{res[0]['tested']}", f"{np.median([r['p'] for r in res]):.4f}"])
    return markdown_table(["variant", "judged to agree", "cells outside, mean (range)",
                           "cells tested", "median p"], rows), got


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    from obandits.cot.bu2025.authors import SCRIPT_ENV, authors_script, parse_log

    n_power = int(_arg("--power", "10"))
    power_md = power(n_power)[0] if n_power > 0 else None
    if "--no-timing" in sys.argv:
        _write(None, power_md, n_power, 0)
        return
    script = authors_script(_arg("--authors-script", None))
    seed = int(_arg("--seed", "0"))
    t_s, c_s, cols = run_ours(seed, "bu2025")
    t_e, c_e, _ = run_ours(seed, "exact")
    n_rows = int(np.sum(cols["strategy"] != "DPRM (base-tilted)"))  # their 11 rows x 2 x 4
    ours = [("preset bu2025, sampled scoring", t_s, c_s, ">= 100x"),
            ("preset bu2025, exact scoring", t_e, c_e, ">= 1000x")]
    if script is not None:
        t_a, c_a, text = run_authors(script, seed)
        t_b, c_b, text_b = run_authors(script, seed, progress=False)
        published = parse_log(text, seed, str(script))
        their_rows = len(published)
        same = parse_log(text_b, seed, str(script)) == published
        if not same:
            print("their stubbed run's table differs from the published run's", file=sys.stderr)
        rows = [["their script as published (figures off)", f"{t_a:.1f}", f"{c_a:.1f}", "-",
                 "-", "-", their_rows],
                ["their script, progress evaluations stubbed (= the table's work)",
                 f"{t_b:.1f}", f"{c_b:.1f}", "1x", "1x", "-", their_rows]]
        rows += [[name, f"{t:.3f}", f"{c:.3f}", f"{t_b / t:.0f}x ({t_a / t:.0f}x)",
                  f"{c_b / c:.0f}x ({c_a / c:.0f}x)", target, n_rows]
                 for name, t, c, target in ours]
        note = (f"Their script: `{script.name}` (commit 6049bf5), run in this process, "
                "`plt.savefig`/`plt.show` patched to no-ops, output to a null stream: once "
                "as published (via runpy) and once with its progress evaluations stubbed out "
                "(pass@30 on the training set every 100 fine-tuning iterations, pass@3 every "
                "100 pretraining steps; they print progress and are not in the table), each "
                "stub advancing NumPy's global generator by the draws it replaces. The "
                "stubbed run's table "
                + ("**equals** the published run's, number for number" if same else
                   "**differs** from the published run's: the stubs do not replay its draws")
                + ". Speed-ups are against the stubbed run, the same work as ours; in "
                  "brackets against the script as published.")
    else:
        msg = (f"Bu et al.'s script not found: their side skipped (set {SCRIPT_ENV} or pass "
               f"--authors-script PATH; it is multi_task_tmc.py of "
               f"github:DakeBU/Distribution-Bias-of-Post-training, commit 6049bf5)")
        print(msg, file=sys.stderr)
        rows = [[name, f"{t:.3f}", f"{c:.3f}", "-", "-", target, n_rows]
                for name, t, c, target in ours]
        note = msg
    _write((seed, rows, note), power_md, n_power, seed)


def _write(timing, power_md, n_power, seed) -> None:
    from obandits.tables import markdown_table

    lines = ["# Benchmark: Bu et al.'s script against the bu2025 preset", ""]
    if timing is None:
        lines += ["(timing not run: `--no-timing`)", ""]
        return _finish(lines, power_md, n_power, seed)
    seed, rows, note = timing
    lines += [
        (f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
         f"{platform.python_version()}, NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}. "
         f"Same work on both sides: seed {seed} of their experiment (their chain for that "
         "seed; pretraining 2000 + 500 one-path steps; REINFORCE, RAFT, PPO, Reinforce-rej "
         "x 1000 iterations; 11 strategies x 2 tasks x (pass@30 on 200 instances + coverage "
         "of 200 x 30 paths); N = 15), figures off. Our times are the best of 3 after a "
         "warm-up cell (compilation excluded); theirs is one run. CPU seconds are given "
         "too because the machine is shared (wall time includes waiting for a core). "
         + note),
        "",
        markdown_table(["run", "wall s", "CPU s", "speed-up (wall)", "speed-up (CPU)",
                        "target", "table cells"], rows),
        "",
    ]
    _finish(lines, power_md, n_power, seed)


def _finish(lines, power_md, n_power, seed) -> None:
    if power_md is not None:
        lines += ["", "## Power of the comparison with their runs", "",
                  (f"Every variant of the preset run on the seeds of the committed runs of their "
                   f"script (`docs/data/bu2025/authors.csv`, six per chain) with {n_power} fresh "
                   f"root seeds (new random streams; the committed reference uses root seed "
                   f"0), each run judged against their runs by `obandits.cot.bu2025.compare` "
                   f"(paired by seed, per row and chain; agrees when the count of outside "
                   f"cells and the largest deviation are both within chance, p > 0.025 each, "
                   f"5% false alarms in all). `bu2025` is the faithful preset and should "
                   f"agree; every other row is a wrong version and should not."), "",
                  power_md]
    lines += ["", f"Reproduce: `OBANDITS_BU2025_SCRIPT=/path/to/multi_task_tmc.py .venv/bin/"
                  f"python -m bench bu2025 --seed {seed} --power {n_power}`."]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
