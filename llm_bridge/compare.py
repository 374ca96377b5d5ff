"""GRPO vs UCB-Con vs Batch through TRL's GRPOTrainer (Spec 3 §3-4; Spec 1 §4 claims C3-C4).

Each method runs :class:`llm_bridge.trl_trainer.OutcomeBonusGRPOTrainer` with the same seed,
task, model and budgets; only the bonus differs. vLLM generation (colocate mode, one GPU) is
used when vLLM is installed and a GPU is present, plain ``generate`` otherwise. Per method,
``OUT/<method>/log.jsonl`` holds tidy records (``kind`` train / eval, one per step / evaluation);
``OUT/summary.md`` the table, ``OUT/compare.png`` the figure (:func:`llm_bridge.plot.plot_runs`).

    python -m llm_bridge.compare --preset gpu            # the experiment (one GPU)
    python -m llm_bridge.compare --preset cpu-tiny       # end to end in ~1 min on CPU (tests)
    python -m llm_bridge.compare --preset gpu --resume   # continue after an interruption

Resume: a method whose ``done.json`` exists is skipped; otherwise training continues from its
latest ``checkpoint-N/`` (model, optimizer, answer counts) and the log is cut back to step N.
Note that TRL draws prompts in a different order after a resume than without (Spec 3 §5); our
own trainer (``python -m llm_bridge.train``) resumes exactly.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

METHODS = {"grpo": "none", "ucb-con": "ucb-con", "batch": "batch"}
# Identical for every method (only the bonus differs). lr 0 would make all methods identical.
PRESETS = {
    "gpu": dict(model="default", dtype="bfloat16", levels=(1, 2, 3, 4), n_train=1024,
                n_test=128, steps=200, prompts_per_step=16, n_rollouts=8, max_new_tokens=256,
                lr=2e-6, c=0.2, b0=0.5, eval_every=25, eval_problems=64, eval_samples=32,
                save_every=25, micro_batch=16),
    "gpu-reduced": dict(model="default", dtype="bfloat16", levels=(1, 2, 3), n_train=256,
                        n_test=64, steps=40, prompts_per_step=8, n_rollouts=8,
                        max_new_tokens=192, lr=3e-6, c=0.2, b0=0.5, eval_every=10,
                        eval_problems=32, eval_samples=16, save_every=10, micro_batch=16),
    "cpu-tiny": dict(model="tiny", dtype="float32", levels=(1,), n_train=8, n_test=2, steps=2,
                     prompts_per_step=2, n_rollouts=4, max_new_tokens=8, lr=1e-4, c=0.2,
                     b0=0.5, eval_every=1, eval_problems=2, eval_samples=4, save_every=1,
                     micro_batch=8),
    "cpu": dict(model="default", dtype="float32", levels=(1,), n_train=32, n_test=8, steps=3,
                prompts_per_step=2, n_rollouts=4, max_new_tokens=64, lr=1e-5, c=0.2, b0=0.5,
                eval_every=3, eval_problems=2, eval_samples=8, save_every=1, micro_batch=8),
}


def _dataset(problems, tokenizer):
    from datasets import Dataset

    from .tasks import chat_prompt

    return Dataset.from_dict({"prompt": [chat_prompt(tokenizer, p.prompt) for p in problems],
                              "answer": [p.answer for p in problems],
                              "id": [p.id for p in problems]})


def _last_checkpoint(out: Path) -> Path | None:
    cks = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return cks[-1] if cks else None


def _read_log(path: Path, upto: int | None = None) -> list[dict]:
    if not path.is_file():
        return []
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in recs if upto is None or r["step"] <= upto]


def _config(p: dict, out: Path, seed: int, use_gpu: bool):
    from trl import GRPOConfig

    batch = p["prompts_per_step"] * p["n_rollouts"]
    micro = min(p["micro_batch"], batch)
    if batch % micro:
        raise ValueError(f"prompts_per_step * n_rollouts = {batch} must be a multiple of "
                         f"micro_batch = {micro}")
    kw = dict(output_dir=str(out), per_device_train_batch_size=micro,
              gradient_accumulation_steps=batch // micro, num_generations=p["n_rollouts"],
              max_completion_length=p["max_new_tokens"], max_steps=p["steps"],
              learning_rate=p["lr"], logging_steps=1, report_to=[], save_strategy="steps",
              save_steps=p["save_every"], seed=seed, bf16=p["dtype"] == "bfloat16",
              use_cpu=not use_gpu, beta=0.0, temperature=1.0, scale_rewards="group",
              save_only_model=False, disable_tqdm=False, gradient_checkpointing=False)
    if use_gpu and importlib.util.find_spec("vllm") is not None:
        kw.update(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3)
    return GRPOConfig(**kw)


def run_method(name: str, p: dict, out: Path, seed: int, *, resume: bool) -> list[dict]:
    """Train one method (or skip/continue it); returns its log records."""
    import torch
    from transformers import TrainerCallback

    from obandits.bonuses import BonusConfig

    from .tasks import arithmetic_task
    from .trainer import GRPOTrainer as Reference
    from .trainer import TrainConfig
    from .trl_trainer import OutcomeBonusGRPOTrainer, correctness_reward, load_trl_model

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    if resume and (out / "done.json").is_file():
        print(f"[{name}] done already, skipped", flush=True)
        return _read_log(log_path)
    ck = _last_checkpoint(out) if resume else None
    if ck is None and log_path.exists():
        log_path.unlink()  # a fresh run never appends to an old log
    if ck is not None:
        step = int(ck.name.split("-")[1])
        log_path.write_text("".join(json.dumps(r) + "\n" for r in _read_log(log_path, step)))
        print(f"[{name}] resuming from {ck}", flush=True)
    use_gpu = torch.cuda.is_available()
    train, test = arithmetic_task(p["n_train"], p["n_test"], levels=p["levels"], seed=seed)
    model, tok = load_trl_model(p["model"], dtype=p["dtype"],
                                device="cuda" if use_gpu else "cpu", seed=seed)
    args = _config(p, out, seed, use_gpu)
    bonus = BonusConfig(method=METHODS[name], c=p["c"], b0=p["b0"])
    evaluator = Reference(model, tok, train, TrainConfig(max_new_tokens=p["max_new_tokens"],
                                                          gen_batch=64, seed=seed))

    def emit(rec):
        with open(log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    class Log(TrainerCallback):
        def __init__(self):
            self.t = time.perf_counter()

        def on_log(self, args_, state, control, logs=None, **kw):
            if not logs or "reward" not in logs:
                return
            now, self.t = time.perf_counter(), time.perf_counter()
            toks = logs.get("completions/mean_length", 0.0) * p["prompts_per_step"] * p[
                "n_rollouts"]
            emit({"kind": "train", "step": state.global_step, "method": name,
                  "reward": logs["reward"], "entropy_all": logs.get("entropy"),
                  "distinct_all": logs.get("distinct/all"),
                  "distinct_solved": logs.get("distinct/solved"),
                  "distinct_unsolved": logs.get("distinct/unsolved"),
                  "distinct_so_far": logs.get("distinct/so_far"),
                  "bonus_abs_mean": logs.get("bonus/abs_mean"), "loss": logs.get("loss"),
                  "step_seconds": logs.get("step_time", now - self.t),
                  "gen_tokens_per_s": toks / max(logs.get("step_time", 1e-9), 1e-9)})

        def on_step_end(self, args_, state, control, **kw):
            if p["eval_every"] and state.global_step % p["eval_every"] == 0:
                evaluator.step_count = state.global_step
                was = model.training
                rec = evaluator.evaluate(test[: p["eval_problems"]], p["eval_samples"])
                model.train(was)
                rec["method"] = name
                emit(rec)
                print(f"[{name}] step {state.global_step}: held-out pass@1 "
                      f"{rec['pass@k'].get('1', float('nan')):.3f}", flush=True)

    if ck is None and p["eval_every"]:
        rec = evaluator.evaluate(test[: p["eval_problems"]], p["eval_samples"])
        rec["method"] = name
        emit(rec)
    trainer = OutcomeBonusGRPOTrainer(model=model, args=args, train_dataset=_dataset(train, tok),
                                      reward_funcs=correctness_reward, processing_class=tok,
                                      bonus=bonus, callbacks=[Log()])
    print(f"[{name}] training {p['steps']} steps ({'GPU' if use_gpu else 'CPU'}, "
          f"{'vLLM' if args.use_vllm else 'generate'})", flush=True)
    trainer.train(resume_from_checkpoint=str(ck) if ck is not None else None)
    (out / "done.json").write_text(json.dumps({"steps": trainer.state.global_step}))
    return _read_log(log_path)


def _mean(records, key):
    vals = [r[key] for r in records if r.get("kind") == "train" and r.get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def summarise(runs: dict[str, list[dict]]) -> str:
    from obandits.tables import markdown_table

    rows = []
    for m, recs in runs.items():
        evals = [r for r in recs if r["kind"] == "eval"]
        last = evals[-1] if evals else {"pass@k": {}, "step": None}
        first = evals[0] if evals else {"pass@k": {}}
        ks = sorted(int(k) for k in last["pass@k"])
        rows.append([m, last["step"], first["pass@k"].get("1"),
                     *[last["pass@k"].get(str(k)) for k in (1, ks[-1] if ks else 1)],
                     _mean(recs, "reward"), _mean(recs, "distinct_unsolved"),
                     _mean(recs, "step_seconds"), _mean(recs, "gen_tokens_per_s")])
    kmax = max((int(k) for recs in runs.values() for r in recs if r["kind"] == "eval"
                for k in r["pass@k"]), default=1)
    return markdown_table(["method", "eval step", "pass@1 @0", "pass@1", f"pass@{kmax}",
                           "train reward", "distinct/unsolved", "step s", "gen tok/s"], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="gpu")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    ap.add_argument("--out", default=None, help="default: runs/llm/trl-<preset>")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        print(f"compare: error: unknown methods {bad}; choose from {list(METHODS)}",
              file=sys.stderr)
        return 2
    p = dict(PRESETS[args.preset])
    if args.steps is not None:
        if args.steps < 1:
            print(f"compare: error: --steps must be >= 1, got {args.steps}", file=sys.stderr)
            return 2
        p["steps"] = args.steps
    out = Path(args.out or Path("runs") / "llm" / f"trl-{args.preset}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"preset": args.preset, "seed": args.seed,
                                                 "methods": methods, **p}, default=list))
    runs = {}
    for i, m in enumerate(methods, 1):
        print(f"\n=== [{i}/{len(methods)}] {m}", flush=True)
        runs[m] = run_method(m, p, out / m, args.seed, resume=args.resume)
    table = summarise(runs)
    (out / "summary.md").write_text(table + "\n")
    from .plot import plot_runs

    fig = plot_runs(runs, out / "compare.png")
    print("\n" + table + f"\n\nfigure: {fig}\ntable: {out / 'summary.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
