"""Benchmark: Bu et al.'s own script against the ``bu2025`` preset on the same work, written to
``bench/results/bu2025.md``.

Same work: one seed of their experiment (their chain for that seed, pretraining 2000 + 500
one-path steps, four fine-tuning runs of 1000 iterations, 11 strategies x 2 tasks scored with
K = 30 on 200 instances, N = 15), figures off on both sides. Their side runs their file
in-process through ``runpy`` with ``matplotlib.pyplot.savefig`` / ``show`` patched to no-ops
and its printing sent to a null stream; our side is one cell of the preset
(:func:`obandits.cot.bu2025_runner.run_cell`), sampled as they score and then exact, with
compilation excluded (one warm-up cell first; kernels are cached on disk anyway). Both are
measured in the same run.

Usage: ``python -m bench bu2025 [--authors-script PATH] [--seed S]`` (default path
``/work/notes/bu/multi_task_tmc.py``; if it is absent the authors' side is skipped with a
message and only our times are written).
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

DEFAULT_SCRIPT = "/work/notes/bu/multi_task_tmc.py"
OUT = Path(__file__).parent / "results" / "bu2025.md"


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv[:-1] else default


def _no_progress(script: str | Path):
    """Their script with its progress evaluations stubbed out: the module part is executed,
    ``LinearSoftmaxModel._evaluate_pass_at_k`` (pass@30 on the 200 training instances every
    100 fine-tuning iterations, l.653-673, called at l.485) and ``compute_pass_at_k`` (pass@3
    every 100 pretraining steps, l.336-354) return 0 without sampling, then their
    ``__main__`` block runs. Only progress prints change; the table's work is untouched."""
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
        model._evaluate_pass_at_k = lambda self, *a, **k: 0.0
        model.compute_pass_at_k = lambda self, *a, **k: 0.0
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
    from obandits.cot.bu2025_runner import run_cell, validate_cell

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


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    from obandits.cot.bu2025_runner import parse_log
    from obandits.tables import markdown_table

    script = Path(_arg("--authors-script", DEFAULT_SCRIPT))
    seed = int(_arg("--seed", "0"))
    t_s, c_s, cols = run_ours(seed, "bu2025")
    t_e, c_e, _ = run_ours(seed, "exact")
    n_rows = int(np.sum(cols["strategy"] != "DPRM (base-tilted)"))  # their 11 rows x 2 x 4
    ours = [("preset bu2025, sampled scoring", t_s, c_s, ">= 100x"),
            ("preset bu2025, exact scoring", t_e, c_e, ">= 1000x")]
    if script.is_file():
        t_a, c_a, text = run_authors(script, seed)
        t_b, c_b, text_b = run_authors(script, seed, progress=False)
        their_rows = len(parse_log(text, seed, str(script)))
        assert len(parse_log(text_b, seed, str(script))) == their_rows
        rows = [["their script as published (figures off)", f"{t_a:.1f}", f"{c_a:.1f}", "-",
                 "-", "-", their_rows],
                ["their script, progress evaluations stubbed (= the table's work)",
                 f"{t_b:.1f}", f"{c_b:.1f}", "1x", "1x", "-", their_rows]]
        rows += [[name, f"{t:.3f}", f"{c:.3f}", f"{t_b / t:.0f}x ({t_a / t:.0f}x)",
                  f"{c_b / c:.0f}x ({c_a / c:.0f}x)", target, n_rows]
                 for name, t, c, target in ours]
        note = (f"Their script: `{script}` (commit 6049bf5), run in this process, "
                "`plt.savefig`/`plt.show` patched to no-ops, output to a null stream: once "
                "as published (via runpy) and once with its progress evaluations stubbed out "
                "(pass@30 on the training set every 100 fine-tuning iterations, pass@3 every "
                "100 pretraining steps; they print progress and are not in the table). "
                "Speed-ups are against the stubbed run, the same work as ours; in brackets "
                "against the script as published.")
    else:
        msg = (f"authors' script {str(script)!r} not found: their side skipped (pass "
               f"--authors-script PATH; it is multi_task_tmc.py of "
               f"github:DakeBU/Distribution-Bias-of-Post-training, commit 6049bf5)")
        print(msg, file=sys.stderr)
        rows = [[name, f"{t:.3f}", f"{c:.3f}", "-", "-", target, n_rows]
                for name, t, c, target in ours]
        note = msg
    lines = [
        "# Benchmark: Bu et al.'s script against the bu2025 preset",
        "",
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
        f"Reproduce: `.venv/bin/python -m bench bu2025 --seed {seed}`.",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
