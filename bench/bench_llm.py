"""LLM bridge speed: generation tokens/s and full GRPO step time for the default model
(SmolLM2-135M-Instruct) on this machine's device, and the share of the step spent computing the
exploration bonus (must be negligible, < 1%).

The bonus share is a ratio measured in the same run: the time of the bonus bookkeeping of one
step (answer ids via the History, ``advantages_with_history``; averaged over 200 repetitions on
the step's own batch) divided by the measured full step time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "llm.md"


def main(steps: int = 2, prompts: int = 2, rollouts: int = 8, max_new_tokens: int = 64,
         threads: int = 1) -> None:
    import torch

    # One thread: with two threads on a 2-core machine shared with other jobs, OpenMP waits
    # for descheduled threads (measured once: generation fell from 66 to 5 tokens/s); one
    # thread is stable.
    if threads:
        torch.set_num_threads(threads)

    from llm_bridge.models import load_model
    from llm_bridge.tasks import arithmetic_task, chat_prompt
    from llm_bridge.trainer import GRPOTrainer, TrainConfig, generate
    from obandits.bonuses import advantages_with_history
    from obandits.counts import History
    from obandits.tables import markdown_table

    t0 = time.perf_counter()
    model, tok, dev = load_model("default")
    load_s = time.perf_counter() - t0
    train, _ = arithmetic_task(64, 8, levels=(1, 2), seed=0)
    cfg = TrainConfig(method="ucb-con", prompts_per_step=prompts, n_rollouts=rollouts,
                      max_new_tokens=max_new_tokens, micro_batch=8, gen_batch=64, lr=1e-6,
                      amp=dev.type == "cuda")
    trainer = GRPOTrainer(model, tok, train, cfg)

    # Generation alone: one batch of prompts*rollouts sequences (after a warm-up call).
    gen = torch.Generator(device=dev).manual_seed(0)
    batch = [chat_prompt(tok, p.prompt) for p in train[:prompts] for _ in range(rollouts)]
    generate(model, tok, batch[:2], max_new_tokens=4, temperature=1.0, top_p=1.0, gen=gen)
    gen_rates = []
    for _ in range(2):
        r = generate(model, tok, batch, max_new_tokens=max_new_tokens, temperature=1.0,
                     top_p=1.0, gen=gen)
        gen_rates.append(r.n_tokens / r.gen_seconds)

    trainer.step()  # warm-up (also compiles / loads the numba kernel)
    recs = [trainer.step() for _ in range(steps)]
    step_s = float(np.mean([r["step_seconds"] for r in recs]))
    in_step_bonus = float(np.sum([r["bonus_seconds"] for r in recs]) /
                          np.sum([r["step_seconds"] for r in recs]))

    # The bonus bookkeeping of one step, timed precisely on the last step's batch.
    lb = trainer.last_batch
    hist = History.from_dict(trainer.history.to_dict())
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        pids, oids = hist.observe(lb["prompt_keys"], lb["answers"])
        advantages_with_history(hist.table, pids, lb["group"], oids, lb["reward"],
                                cfg.bonus_config)
    bonus_s = (time.perf_counter() - t0) / reps

    device = str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else
                         f" ({torch.get_num_threads()} torch threads)")
    rows = [
        ["model load (s)", load_s],
        [f"generation tokens/s (batch of {len(batch)}, {max_new_tokens} new tokens)",
         float(np.mean(gen_rates))],
        ["generation tokens/s inside the training steps",
         float(np.mean([r["gen_tokens_per_s"] for r in recs]))],
        [f"full GRPO step (s): {prompts} prompts x {rollouts} rollouts", step_s],
        ["  of which generation (share)",
         float(np.mean([r["gen_seconds"] / r["step_seconds"] for r in recs]))],
        ["  of which policy update (share)",
         float(np.mean([r["update_seconds"] / r["step_seconds"] for r in recs]))],
        ["bonus computation per step (ms)", 1e3 * bonus_s],
        ["bonus share of step time, % (isolated timing / step)", 100 * bonus_s / step_s],
        ["bonus share of step time, % (as timed inside the steps)", 100 * in_step_bonus],
    ]
    verdict = "holds" if bonus_s / step_s < 0.01 else "DOES NOT hold"
    text = "\n".join([
        "# bench llm", "",
        f"Default model SmolLM2-135M-Instruct on {device}; method ucb-con; "
        f"{steps} timed steps after one warm-up step. Command: `python -m bench llm`.", "",
        markdown_table(["measure", "value"], rows, digits=5), "",
        f"Target: bonus share < 1% of the step: {verdict}. Timings are noisy on a shared "
        f"machine; the shares are ratios taken in the same run.", ""])
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
