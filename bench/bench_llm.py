"""LLM bridge speed on this machine's CPU: TRL's GRPOTrainer with the bonus
(:class:`llm_bridge.trl_trainer.OutcomeBonusGRPOTrainer`) against our own reference trainer
(:class:`llm_bridge.trainer.GRPOTrainer`) on the same config: SmolLM2-135M-Instruct, 2 prompts x
4 rollouts x 64 new tokens, method ucb-con, one torch thread; and the bonus computation's share
of a TRL step (target < 1 %).

Both trainers run in the same process, one warm-up step then ``steps`` timed steps each.
Generated tokens/s = completion tokens / time inside generation (TRL: ``_generate``, timed by a
subclass). TRL's default gradient checkpointing is turned off (ours has none). The bonus
share is the time of everything the adapter adds to a step (gathering the keys, answer
extraction, counts, ``shaped_advantages``, logging) over the step time.
Command: ``python -m bench llm``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "llm.md"


def main(steps: int = 2, prompts: int = 2, rollouts: int = 4, max_new_tokens: int = 64,
         threads: int = 1) -> None:
    import torch

    # One thread: two threads on a 2-core machine shared with other jobs make OpenMP wait for
    # descheduled threads (measured once: generation fell from 66 to 5 tokens/s).
    torch.set_num_threads(threads)
    from trl import GRPOConfig

    from llm_bridge.compare import _dataset
    from llm_bridge.tasks import arithmetic_task
    from llm_bridge.trainer import GRPOTrainer, TrainConfig
    from llm_bridge.trl_trainer import OutcomeBonusGRPOTrainer, correctness_reward, load_trl_model
    from obandits.bonuses import BonusConfig
    from obandits.tables import markdown_table

    train, _ = arithmetic_task(64, 8, levels=(1, 2), seed=0)
    bonus = BonusConfig(method="ucb-con", c=0.2, b0=0.5)

    # ---- our own trainer
    t0 = time.perf_counter()
    model, tok = load_trl_model("default", device="cpu", dtype="float32")
    load_s = time.perf_counter() - t0
    cfg = TrainConfig(method="ucb-con", prompts_per_step=prompts, n_rollouts=rollouts,
                      max_new_tokens=max_new_tokens, micro_batch=prompts * rollouts,
                      gen_batch=64, lr=1e-6)
    own = GRPOTrainer(model, tok, train, cfg)
    own.step()
    recs = [own.step() for _ in range(steps)]
    own_step = float(np.mean([r["step_seconds"] for r in recs]))
    own_tps = float(np.sum([r["gen_tokens_per_s"] * r["gen_seconds"] for r in recs])
                    / np.sum([r["gen_seconds"] for r in recs]))

    # ---- TRL with the bonus, same model weights and config
    model, tok = load_trl_model("default", device="cpu", dtype="float32")
    timing = {"gen_s": [], "tokens": [], "bonus_s": []}

    class Timed(OutcomeBonusGRPOTrainer):
        def _generate(self, prompts_):
            t = time.perf_counter()
            out = super()._generate(prompts_)
            timing["gen_s"].append(time.perf_counter() - t)
            timing["tokens"].append(sum(len(c) for c in out[1]))  # completion_ids
            return out

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            timing["bonus_s"].append(self.last_bonus["seconds"])
            return out

    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(output_dir=tmp, per_device_train_batch_size=prompts * rollouts,
                          num_generations=rollouts, max_completion_length=max_new_tokens,
                          max_steps=steps + 1, learning_rate=1e-6, logging_steps=1,
                          report_to=[], save_strategy="no", use_cpu=True, seed=0, bf16=False,
                          beta=0.0, disable_tqdm=True, gradient_checkpointing=False)
        trl = Timed(model=model, args=args, train_dataset=_dataset(train, tok),
                    reward_funcs=correctness_reward, processing_class=tok, bonus=bonus)
        step_times = []
        from transformers import TrainerCallback

        class StepClock(TrainerCallback):
            def on_step_begin(self, *a, **k):
                self.t = time.perf_counter()

            def on_step_end(self, *a, **k):
                step_times.append(time.perf_counter() - self.t)

        trl.add_callback(StepClock())
        trl.train()
    trl_step = float(np.mean(step_times[1:]))
    trl_tps = float(np.sum(timing["tokens"][1:]) / np.sum(timing["gen_s"][1:]))
    share = float(np.sum(timing["bonus_s"][1:]) / np.sum(step_times[1:]))

    rows = [
        ["model load, s", load_s, None, None],
        [f"step, s ({prompts} prompts x {rollouts} rollouts x {max_new_tokens} tokens)",
         own_step, trl_step, trl_step / own_step],
        ["generated tokens/s", own_tps, trl_tps, trl_tps / own_tps],
        ["bonus share of a step, %", None, 100 * share, None],
    ]
    verdict = "holds" if share < 0.01 else "DOES NOT hold"
    text = "\n".join([
        "# bench llm", "",
        f"SmolLM2-135M-Instruct (float32) on CPU, {threads} torch thread; method ucb-con; "
        f"one warm-up step then {steps} timed steps per trainer, both in the same run. "
        "Command: `python -m bench llm`.", "",
        markdown_table(["measure", "own trainer", "TRL + bonus", "TRL / own"], rows, digits=4),
        "", f"Target: bonus share of a TRL step < 1 %: {verdict}. Timings are noisy on a "
        "shared 2-core machine; ratios are taken in the same run.", ""])
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
