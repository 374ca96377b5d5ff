"""``python -m llm_bridge.train``: GRPO (+ an outcome-based exploration bonus) on a causal LM.

Writes to ``--out``: ``config.json``, the task splits ``train.jsonl`` / ``test.jsonl``,
``log.jsonl`` (one record per training step, ``kind = "train"``, and per evaluation,
``kind = "eval"``), ``checkpoint.pt`` (every ``--save-every`` steps and at the end) and
``curves.png`` (:mod:`llm_bridge.plot`). ``--resume`` continues from the checkpoint exactly.

Example (CPU, a few minutes)::

    python -m llm_bridge.train --method ucb-con --model default --steps 4 \\
        --prompts-per-step 2 --n-rollouts 4 --max-new-tokens 64 --out runs/llm/ucb-con
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

METHOD_ALIASES = {"grpo": "none"}
METHOD_CHOICES = ("grpo", "none", "ucb", "ucb-mean", "ucb-con", "batch")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llm_bridge.train",
                                description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--method", default="grpo", choices=METHOD_CHOICES,
      help="grpo (= none): plain GRPO; ucb | ucb-mean | ucb-con | batch: Spec 1 §2 bonuses")
    a("--model", default="default",
      help="'default' (embedded SmolLM2-135M-Instruct), 'tiny' (random, for tests) or a local "
           "Hugging Face model directory / .gguf file")
    a("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    a("--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU) | float32 | "
                                      "bfloat16 | float16")
    a("--seed", type=int, default=0, help="seed of task, prompt order, sampling, tiny init")
    a("--threads", type=int, default=0, help="torch CPU threads (0: torch's default; 1 is "
                                             "robust on a CPU shared with other jobs)")
    g = p.add_argument_group("task")
    g.add_argument("--task", default="arithmetic",
                   help="'arithmetic' (synthetic, seeded) or a JSONL file of training problems")
    g.add_argument("--test-task", default=None, help="JSONL of held-out problems (with a JSONL "
                                                     "--task; default: split off --n-test)")
    g.add_argument("--levels", default="1,2,3", help="arithmetic difficulty levels (1-5)")
    g.add_argument("--n-train", type=int, default=256, help="arithmetic training problems")
    g.add_argument("--n-test", type=int, default=64, help="held-out problems")
    g = p.add_argument_group("budget")
    g.add_argument("--steps", type=int, default=10, help="training steps")
    g.add_argument("--prompts-per-step", type=int, default=4)
    g.add_argument("--n-rollouts", type=int, default=8, help="rollouts per prompt (group size)")
    g.add_argument("--max-new-tokens", type=int, default=128)
    g.add_argument("--gen-batch", type=int, default=32, help="sequences per generation call")
    g.add_argument("--micro-batch", type=int, default=8,
                   help="sequences per backward pass (gradient accumulation)")
    g.add_argument("--eval-every", type=int, default=0, help="held-out eval every N steps "
                                                              "(0: only before and after)")
    g.add_argument("--eval-problems", type=int, default=16, help="held-out problems evaluated")
    g.add_argument("--eval-samples", type=int, default=32, help="samples per held-out problem "
                                                                "(pass@k for k <= this)")
    g.add_argument("--no-eval", action="store_true", help="skip held-out evaluation")
    g = p.add_argument_group("bonus (Spec 1 §2)")
    g.add_argument("--c", type=float, default=0.2, help="bonus scale c")
    g.add_argument("--b0", type=float, default=0.5, help="UCB-Con baseline b0")
    g.add_argument("--no-all-correct-rule", action="store_true",
                   help="keep the bonus on groups whose rollouts are all correct")
    g.add_argument("--count-mode", default="before", choices=("before", "after"))
    g.add_argument("--scale", default="group", choices=("group", "none", "batch"),
                   help="GRPO std normalisation (none = Dr. GRPO)")
    g.add_argument("--mask-answer-bonus", action="store_true",
                   help="apply the bonus to reasoning tokens only, not the final answer's")
    g = p.add_argument_group("optimisation")
    g.add_argument("--lr", type=float, default=1e-6)
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--clip-eps", type=float, default=0.2)
    g.add_argument("--beta-kl", type=float, default=0.0, help="KL weight to the frozen initial "
                                                              "model (0: no reference model)")
    g.add_argument("--ppo-epochs", type=int, default=1)
    g.add_argument("--max-grad-norm", type=float, default=1.0)
    g.add_argument("--loss-agg", default="token", choices=("token", "sequence"))
    g.add_argument("--amp", action="store_true", help="bfloat16 autocast for forward passes "
                                                       "(use with --dtype float32 on GPU)")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="runs/llm/run", help="output directory")
    g.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps "
                                                             "(0: only at the end)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    g.add_argument("--no-plot", action="store_true")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _config(args):
    from .trainer import TrainConfig

    return TrainConfig(
        method=METHOD_ALIASES.get(args.method, args.method), c=args.c, b0=args.b0,
        all_correct_rule=not args.no_all_correct_rule, count_mode=args.count_mode,
        scale=args.scale, mask_answer_bonus=args.mask_answer_bonus,
        prompts_per_step=args.prompts_per_step, n_rollouts=args.n_rollouts,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
        gen_batch=args.gen_batch, lr=args.lr, weight_decay=args.weight_decay,
        clip_eps=args.clip_eps, beta_kl=args.beta_kl, ppo_epochs=args.ppo_epochs,
        micro_batch=args.micro_batch, max_grad_norm=args.max_grad_norm,
        loss_agg=args.loss_agg, amp=args.amp, seed=args.seed)


def _tasks(args):
    from .tasks import arithmetic_task, load_jsonl, train_test_split

    if args.task == "arithmetic":
        try:
            levels = tuple(int(x) for x in args.levels.split(","))
        except ValueError:
            raise ValueError(f"--levels must be comma-separated integers, got {args.levels!r}")
        return arithmetic_task(args.n_train, args.n_test, levels=levels, seed=args.seed)
    train = load_jsonl(args.task)
    if args.test_task:
        return train, load_jsonl(args.test_task)
    return train_test_split(train, min(args.n_test, len(train) - 1), seed=args.seed)


def _check_args(args) -> None:
    for name in ("steps", "n_train", "n_test", "eval_problems", "eval_samples"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("eval_every", "save_every"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as fh:
        return [r for r in map(json.loads, filter(str.strip, fh)) if r["step"] <= upto]


def run(args) -> dict:
    """Train as ``args`` say; returns ``{"train": [...], "eval": [...], "out": path}``."""
    import torch
    from tqdm import tqdm

    from obandits.tables import markdown_table

    from .models import load_model
    from .tasks import save_jsonl
    from .trainer import GRPOTrainer

    _check_args(args)
    config = _config(args)
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    if args.resume and not ckpt.is_file():
        raise ValueError(f"--resume given but no checkpoint at {ckpt}")
    train, test = _tasks(args)
    t0 = time.perf_counter()
    model, tok, device = load_model(args.model, device=args.device, dtype=args.dtype,
                                    seed=args.seed)
    load_seconds = time.perf_counter() - t0
    ref = copy.deepcopy(model) if config.beta_kl > 0 else None
    trainer = GRPOTrainer(model, tok, train, config, ref_model=ref)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    if args.resume:
        trainer.load(ckpt)
        records = _read_log(out / "log.jsonl", trainer.step_count)
    else:
        save_jsonl(train, out / "train.jsonl")
        save_jsonl(test, out / "test.jsonl")
    meta = {"args": vars(args), "config": dataclasses.asdict(config), "device": str(device),
            "dtype": str(next(model.parameters()).dtype), "torch": torch.__version__,
            "model_load_seconds": load_seconds, "n_train": len(train), "n_test": len(test)}
    (out / "config.json").write_text(json.dumps(meta, indent=2))
    eval_set = test[: args.eval_problems]

    log_path = out / "log.jsonl"
    with open(log_path, "w") as fh:  # rewritten on resume: drops records past the checkpoint
        fh.writelines(json.dumps(r) + "\n" for r in records)

    def emit(rec):
        records.append(rec)
        with open(log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    def want_eval(step):
        if args.no_eval:
            return False
        if step in (0, args.steps):
            return True
        return args.eval_every > 0 and step % args.eval_every == 0

    if trainer.step_count == 0 and want_eval(0):
        emit(trainer.evaluate(eval_set, args.eval_samples))
    bar = tqdm(total=args.steps, initial=trainer.step_count, desc=f"llm {args.method}",
               disable=args.quiet, unit="step")
    while trainer.step_count < args.steps:
        rec = trainer.step()
        emit(rec)
        bar.update(1)
        bar.set_postfix(reward=f"{rec['reward']:.2f}", tok_s=f"{rec['gen_tokens_per_s']:.0f}")
        s = trainer.step_count
        if want_eval(s):
            emit(trainer.evaluate(eval_set, args.eval_samples))
        if args.save_every and s % args.save_every == 0 and s < args.steps:
            trainer.save(ckpt)
    bar.close()
    trainer.save(ckpt)

    tr = [r for r in records if r["kind"] == "train"]
    ev = [r for r in records if r["kind"] == "eval"]
    rows = []
    for r in ev:
        pk = r["pass@k"]
        rows.append([r["step"], pk.get("1"), pk.get("8"), pk.get(str(max(map(int, pk)))),
                     r["distinct_all"], r["unparseable"]])
    print(f"\n{args.method} on {args.model} ({len(train)} train / {len(test)} test problems, "
          f"{device}):")
    if tr:
        print(markdown_table(["steps", "mean reward", "gen tok/s", "step s", "bonus s share"],
                             [[len(tr), sum(r["reward"] for r in tr) / len(tr),
                               sum(r["gen_tokens_per_s"] for r in tr) / len(tr),
                               sum(r["step_seconds"] for r in tr) / len(tr),
                               sum(r["bonus_seconds"] for r in tr) /
                               sum(r["step_seconds"] for r in tr)]], digits=4))
    if rows:
        print(markdown_table(["eval step", "pass@1", "pass@8", "pass@max", "distinct/problem",
                              "unparseable"], rows))
    if not args.no_plot and records:
        from .plot import plot_runs

        plot_runs({args.method: records}, out / "curves.png")
    return {"train": tr, "eval": ev, "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"llm_bridge.train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
