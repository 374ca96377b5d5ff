"""Where a TRL step of the network testbed (issue 23) spends its time, on this machine's CPU.

One post-training run through :class:`llm_bridge.cot_lm.posttrain` (GRPO, and GRPO+UCB-Con for
the bonus's share) on the paper chain, the issue's budget (150 steps of 16 prompts x 8
completions, GPT-2 2 x 64), one torch thread; the pretrained network comes from a fresh cache
(its pretraining timed on its own). A step is split by timing TRL's own methods:

* generation -- ``_generate`` (HF ``generate``, 3 new tokens per completion);
* reward and bonus -- ``_calculate_rewards`` and the adapter's bonus (counts,
  ``shaped_advantages``);
* scoring rest -- the rest of ``_generate_and_score_completions`` (tokenising, decoding, advantages,
  logging);
* loss and backward -- ``training_step`` less its input preparation;
* optimizer -- between the callbacks ``on_pre_optimizer_step`` and ``on_optimizer_step``;
* other -- the rest of the step (scheduler, callbacks, the Trainer's loop).

Also measured: the run's CPU seconds (target: 30 CPU-s or less for 150 steps, pretraining
excluded) and, as variants, generation without the KV cache (``use_cache=False``; a 3-token
completion barely uses one) and loss and backward without TRL's default gradient checkpointing,
each checked to give the same rewards and final weights bit for bit before its time is
reported. Command: ``python -m bench cot_lm``.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "cot_lm.md"


def _timed(obj, name, acc, key):
    fn = getattr(obj, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[key] += time.perf_counter() - t0

    setattr(obj, name, wrapper)


def run(method: str, steps: int, cache: str, use_cache: bool = True,
        checkpointing: bool = True) -> dict:
    """One timed post-training run; returns the parts' seconds, the CPU seconds and a digest
    of the final weights and rewards (for the bit-for-bit check)."""
    import hashlib

    import torch
    from transformers import TrainerCallback

    from llm_bridge.cot_lm.network import LMPretrainConfig, NetConfig, pretrained
    from llm_bridge.cot_lm.posttrain import LMRLConfig, build_trainer
    from obandits.bonuses import BonusConfig
    from obandits.cot import build_chain, paper_config
    from obandits.cot.instances import make_instances

    chain = build_chain(paper_config())
    folder, meta = pretrained(chain, NetConfig(), LMPretrainConfig(), 0, "bench", 0, cache)
    inst = make_instances(chain, 0, 200, np.random.default_rng(0))
    acc: dict[str, float] = defaultdict(float)
    rewards: list = []

    class Parts(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_pre_optimizer_step(self, *a, **k):
            self.o = time.perf_counter()

        def on_optimizer_step(self, *a, **k):
            acc["optimizer"] += time.perf_counter() - self.o

        def on_step_end(self, *a, **k):
            acc["step"] += time.perf_counter() - self.t

    with tempfile.TemporaryDirectory() as tmp:
        tr = build_trainer(folder, chain, inst, method, LMRLConfig(steps=steps), tmp,
                           kl_beta=1.0, reject=5, bonus=BonusConfig(c=0.2, b0=0.5),
                           bonus_outcome="final", seed=1, callbacks=[Parts()])
        if not use_cache:
            tr.generation_config.use_cache = False
        if not checkpointing:  # TRL's GRPOConfig turns gradient checkpointing on by default
            tr.model.gradient_checkpointing_disable()
            tr.args.gradient_checkpointing = False
        _timed(tr, "_generate", acc, "generation")
        _timed(tr, "_calculate_rewards", acc, "reward")
        _timed(tr, "_generate_and_score_completions", acc, "scoring")
        _timed(tr, "_prepare_inputs", acc, "prepare")
        _timed(tr, "training_step", acc, "training_step")
        _timed(tr, "compute_loss", acc, "loss")
        score = tr._generate_and_score_completions

        def keep(inputs):
            out = score(inputs)
            acc["bonus"] += tr.last_bonus["seconds"]
            rewards.append(tr.last_bonus["reward"].copy())
            return out

        tr._generate_and_score_completions = keep
        cpu0 = time.process_time()
        tr.train()
        cpu = time.process_time() - cpu0
    h = hashlib.sha256()
    for p in tr.model.parameters():
        h.update(p.detach().numpy().tobytes())
    h.update(np.concatenate(rewards).tobytes())
    n = steps
    parts = {
        "generation": acc["generation"] / n,
        "reward and bonus": (acc["reward"] + acc["bonus"]) / n,
        "scoring rest": (acc["scoring"] - acc["generation"] - acc["reward"] - acc["bonus"]) / n,
        "loss and backward": (acc["training_step"] - acc["prepare"]) / n,
        "optimizer": acc["optimizer"] / n,
    }
    parts["other"] = acc["step"] / n - sum(parts.values())
    return {"parts": parts, "step": acc["step"] / n, "cpu": cpu, "digest": h.hexdigest(),
            "pretrain_s": meta["seconds"], "torch_threads": torch.get_num_threads()}


def main(steps: int = 150) -> None:
    import torch

    torch.set_num_threads(1)
    from llm_bridge.cot_lm.runner import _quiet
    from obandits.tables import markdown_table

    _quiet()
    with tempfile.TemporaryDirectory() as cache:
        grpo = run("GRPO", steps, cache)
        nocache = run("GRPO", steps, cache, use_cache=False)
        nockpt = run("GRPO", steps, cache, checkpointing=False)
        ucb = run("GRPO+UCB-Con", steps, cache)
    same = grpo["digest"] == nocache["digest"]
    same_ckpt = grpo["digest"] == nockpt["digest"]
    rows = [[name, f"{1e3 * s:.1f}", f"{100 * s / grpo['step']:.0f} %"]
            for name, s in sorted(grpo["parts"].items(), key=lambda kv: -kv[1])]
    text = (f"# Network testbed: one TRL step, split (`python -m bench cot_lm`)\n\n"
            f"Paper chain, GPT-2 2 x 64, {steps} steps of 16 prompts x 8 completions, GRPO, one "
            f"torch thread, {time.strftime('%Y-%m-%d')}; pretraining (1500 steps, "
            f"not in the run) took {grpo['pretrain_s']:.1f} s.\n\n"
            + markdown_table(["part of a step", "ms per step", "share"], rows)
            + f"\n\n| run | step (ms) | run CPU-s ({steps} steps) |\n|---|---|---|\n"
            f"| GRPO | {1e3 * grpo['step']:.1f} | {grpo['cpu']:.1f} |\n"
            f"| GRPO, generation without KV cache | {1e3 * nocache['step']:.1f} | "
            f"{nocache['cpu']:.1f} |\n"
            f"| GRPO, no gradient checkpointing | {1e3 * nockpt['step']:.1f} | "
            f"{nockpt['cpu']:.1f} |\n"
            f"| GRPO+UCB-Con | {1e3 * ucb['step']:.1f} | {ucb['cpu']:.1f} |\n\n"
            f"Target: one run in 30 CPU-s or less (pretraining excluded): "
            f"{'met' if grpo['cpu'] <= 30 else 'NOT met'} ({grpo['cpu']:.1f} CPU-s). "
            f"Bonus share of a UCB-Con step: "
            f"{100 * ucb['parts']['reward and bonus'] / ucb['step']:.1f} % (reward and bonus). "
            f"Without the KV cache the run is "
            f"{'bit-identical' if same else 'NOT bit-identical'} (weights and rewards) and "
            f"{grpo['step'] / nocache['step']:.2f}x the speed of the default"
            f"{'' if same else ' (not adopted: numbers differ)'}. Without gradient "
            f"checkpointing (TRL's default is on; it recomputes the forward pass in backward) "
            f"the run is {'bit-identical' if same_ckpt else 'NOT bit-identical'}, loss and "
            f"backward take {1e3 * nockpt['parts']['loss and backward']:.1f} ms against "
            f"{1e3 * grpo['parts']['loss and backward']:.1f} ms, the step "
            f"{grpo['step'] / nockpt['step']:.2f}x the speed of the default.\n")
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
