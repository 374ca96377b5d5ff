"""GRPO vs UCB-Con vs Batch on our own reference trainer (Spec 3; Spec 1 §4 claims C3-C4).

Runs ``python -m llm_bridge.train`` once per method with identical seed, task and budgets, then
writes the comparison figure and a results table (held-out pass@k, Tables 1-2 analogues:
token entropy and distinct answers per group, split correct / incorrect and solved / unsolved).

    python experiments/llm/compare_own.py --preset gpu          # on our own trainer (one GPU)
    python experiments/llm/compare_own.py --preset cpu-reduced  # a few steps on CPU (~10 min)

Expected cost of ``--preset gpu`` (estimate; it has not run on a GPU yet): about 30 min per
method on one H100 (so ~1.5 h for the three), peak GPU memory under 16 GB. Outputs go to
``--out`` (default ``runs/llm/compare-<preset>``) plus ``figures/llm_<preset>.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llm_bridge import train as train_cli  # noqa: E402
from llm_bridge.plot import plot_runs  # noqa: E402
from obandits.metrics import PASS_K  # noqa: E402
from obandits.tables import markdown_table  # noqa: E402

METHODS = ("grpo", "ucb-con", "batch")
# Identical for every method; only --method differs.
PRESETS = {
    "gpu": ["--model", "default", "--device", "cuda", "--dtype", "float32", "--amp",
            "--levels", "1,2,3,4", "--n-train", "1024", "--n-test", "128",
            "--steps", "200", "--prompts-per-step", "16", "--n-rollouts", "8",
            "--max-new-tokens", "256", "--gen-batch", "128", "--micro-batch", "16",
            "--lr", "2e-6", "--c", "0.2", "--b0", "0.5", "--eval-every", "25",
            "--eval-problems", "64", "--eval-samples", "32", "--save-every", "25"],
    "cpu-reduced": ["--model", "default", "--device", "cpu", "--threads", "1", "--levels", "1",
                    "--n-train", "64", "--n-test", "16", "--steps", "3",
                    "--prompts-per-step", "2", "--n-rollouts", "4", "--max-new-tokens", "80",
                    "--gen-batch", "16", "--micro-batch", "4", "--lr", "1e-5", "--c", "0.2",
                    "--b0", "0.5", "--eval-problems", "2", "--eval-samples", "8"],
}


def _mean(records, key):
    vals = [r[key] for r in records if r.get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def summarise(runs: dict[str, dict]) -> str:
    """Markdown tables: final held-out pass@k; Table 1 / Table 2 analogues over training."""
    ks = [k for k in PASS_K if any(str(k) in r["eval"][-1]["pass@k"] for r in runs.values()
                                   if r["eval"])]
    rows = []
    for m, r in runs.items():
        first, last = (r["eval"][0], r["eval"][-1]) if r["eval"] else (None, None)
        rows.append([m, last["step"] if last else None,
                     *[last["pass@k"].get(str(k)) if last else None for k in ks],
                     *[first["pass@k"].get(str(k)) if first else None for k in ks[:1]]])
    out = ["Held-out pass@k at the last evaluation (and pass@1 before training):", "",
           markdown_table(["method", "step", *[f"pass@{k}" for k in ks], "pass@1 @0"], rows),
           "", "Token entropy of training generations (Table 1 analogue, nats; mean over "
           "steps):", ""]
    out.append(markdown_table(["method", "correct", "incorrect", "all"],
                              [[m, _mean(r["train"], "entropy_correct"),
                                _mean(r["train"], "entropy_incorrect"),
                                _mean(r["train"], "entropy_all")] for m, r in runs.items()]))
    out += ["", "Distinct answers per group of training rollouts (Table 2 analogue; mean "
            "over steps):", ""]
    out.append(markdown_table(["method", "solved", "unsolved", "all"],
                              [[m, _mean(r["train"], "distinct_solved"),
                                _mean(r["train"], "distinct_unsolved"),
                                _mean(r["train"], "distinct_all")] for m, r in runs.items()]))
    out += ["", "Cost per training step (mean):", ""]
    out.append(markdown_table(
        ["method", "reward", "gen tok/s", "step s", "bonus share of step", "wall s"],
        [[m, _mean(r["train"], "reward"), _mean(r["train"], "gen_tokens_per_s"),
          _mean(r["train"], "step_seconds"),
          sum(x["bonus_seconds"] for x in r["train"]) / sum(x["step_seconds"] for x in r["train"]),
          r["wall_seconds"]] for m, r in runs.items()], digits=4))
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="gpu")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    p.add_argument("--figure", default=None, help="default: figures/llm_<preset>.png")
    p.add_argument("--resume", action="store_true", help="continue each method's checkpoint")
    p.add_argument("extra", nargs=argparse.REMAINDER,
                   help="after '--': more llm_bridge.train options, applied to every method")
    args = p.parse_args(argv)
    out = Path(args.out or ROOT / "runs" / "llm" / f"compare-{args.preset}")
    extra = [x for x in args.extra if x != "--"]
    runs = {}
    for method in args.methods.split(","):
        argv_m = [*PRESETS[args.preset], *extra, "--method", method, "--seed", str(args.seed),
                  "--out", str(out / method), "--no-plot"]
        if args.resume and (out / method / "checkpoint.pt").is_file():
            argv_m.append("--resume")
        print(f"\n=== {method}: python -m llm_bridge.train {' '.join(argv_m)}", flush=True)
        t0 = time.perf_counter()
        try:
            res = train_cli.run(train_cli.build_parser().parse_args(argv_m))
        except (ValueError, FileNotFoundError) as exc:
            print(f"compare: error: {exc}", file=sys.stderr)
            return 2
        res["wall_seconds"] = time.perf_counter() - t0
        runs[method] = res
    table = summarise(runs)
    fig = Path(args.figure or ROOT / "figures" / f"llm_{args.preset}.png")
    plot_runs({m: r["train"] + r["eval"] for m, r in runs.items()}, fig)
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps({m: {k: r[k] for k in ("train", "eval",
                                                                        "wall_seconds")}
                                                  for m, r in runs.items()}))
    print("\n" + table)
    print(f"\nfigure: {fig}\ntables: {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
