"""Post-training the network on the chain through TRL (issue 23, point 1).

Every run goes through :class:`llm_bridge.trl_trainer.OutcomeBonusGRPOTrainer` (TRL's
``GRPOTrainer`` with the outcome bonuses of :mod:`obandits.bonuses`). The training instances
are the tabular learner's (:func:`obandits.cot.experiments.seed_context`), passed as dataset
columns, not in the prompt: ``id`` (the instance: the prompt id of the answer counts) and
``correct`` (the codes of its correct CoTs ``C_q``, for the verifiable reward ``1{o in C_q}``).

The methods TRL can express (:data:`METHODS`), each paired with the tabular method of the same
name:

* ``GRPO`` -- TRL's group-normalised advantages (``scale_rewards="group"``), ratio clip.
* ``PPO`` -- the tabular "PPO" is Monte-Carlo ``A = R - mean_group(R)`` with the ratio clip:
  TRL with ``scale_rewards="none"``.
* ``GRPO+KL`` -- TRL's ``beta`` (its per-token k3 KL to the pretrained model) at ``kl_beta``.
* ``GRPO+reject`` -- rejecting easy instances, the tabular rule: before a group is drawn,
  ``reject`` fresh CoTs of the current model (temperature 1) are drawn for its instance; if one
  is correct the instance is skipped (its group gets no gradient and no weight in the loss).
* ``GRPO+UCB``, ``+UCB-Mean``, ``+UCB-Con``, ``+Batch`` -- ``A = Â + c·b`` with the answer being
  the final state (``bonus_outcome="final"``) or the whole CoT (``"path"``).

Tabular methods with no TRL counterpart are refused (:data:`NO_TRL` says why).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from obandits import _validate as v
from obandits.bonuses import BonusConfig
from obandits.cot import TreeChain
from obandits.cot.instances import Instances
from obandits.options import option

from .network import parse_completion, prompt


@dataclass(frozen=True)
class NetMethod:
    """How one method runs in TRL (see the module doc)."""

    scale_rewards: str = "group"
    kl: bool = False
    reject: bool = False
    bonus: str = "none"


METHODS: dict[str, NetMethod | None] = {
    "base": None,  # the pretrained network, not trained
    "GRPO": NetMethod(),
    "PPO": NetMethod(scale_rewards="none"),
    "GRPO+KL": NetMethod(kl=True),
    "GRPO+reject": NetMethod(reject=True),
    "GRPO+UCB": NetMethod(bonus="ucb"),
    "GRPO+UCB-Mean": NetMethod(bonus="ucb-mean"),
    "GRPO+UCB-Con": NetMethod(bonus="ucb-con"),
    "GRPO+Batch": NetMethod(bonus="batch"),
}
NO_TRL = {
    "REINFORCE": "TRL always subtracts the group mean; REINFORCE has no baseline",
    "REINFORCE+reject": "TRL always subtracts the group mean; REINFORCE has no baseline",
    "REINFORCE+KL": "TRL always subtracts the group mean; REINFORCE has no baseline",
    "RAFT": "RAFT is fine-tuning on the correct samples, not a GRPO advantage",
    "KL closed form": "the closed-form KL tilt is a formula for a Markov policy, not training",
    "ORM best-of-N": "selection at inference time, not training",
    "soft best-of-N": "selection at inference time, not training",
    "PRM best-of-N": "selection at inference time, not training",
    "DPRM sampling": "selection at inference time, not training",
}


def check_method(name) -> str:
    """The method name, or a ValueError naming what is allowed (and why a tabular-only
    method is not)."""
    if name in NO_TRL:
        raise ValueError(f"method {name!r} has no TRL counterpart ({NO_TRL[name]}); "
                         f"cot-lm methods: {list(METHODS)}")
    return v.choice("method", name, tuple(METHODS))


@dataclass(frozen=True)
class LMRLConfig:
    """The network's post-training budget (issue 23: 150 steps of 16 prompts x 8)."""

    steps: int = option(150, "TRL steps (optimizer steps) of the network")
    prompts_per_step: int = option(16, "instances per TRL step")
    n_rollouts: int = option(8, "completions per instance (the group)")
    lr: float = option(1e-4, "network learning rate (AdamW, constant)")
    clip_eps: float = option(0.2, "ratio clip (TRL's epsilon)")
    num_iterations: int = option(1, "TRL's mu: optimizer steps per generation batch")
    eval_every: int = option(25, "evaluate the network every this many steps (curves)")

    def __post_init__(self) -> None:
        v.int_scalar("steps", self.steps, min_value=1)
        v.int_scalar("prompts_per_step", self.prompts_per_step, min_value=1)
        v.int_scalar("n_rollouts", self.n_rollouts, min_value=2)
        v.finite_scalar("lr", self.lr, min_value=0.0, strict_min=True)
        v.finite_scalar("clip_eps", self.clip_eps, min_value=0.0, strict_min=True)
        v.int_scalar("num_iterations", self.num_iterations, min_value=1)
        v.int_scalar("eval_every", self.eval_every, min_value=1)


def path_code(states: np.ndarray, M: int) -> int:
    """The valid code of a CoT (its intermediate states, base ``M``; see
    :func:`obandits.cot.chain.valid_paths`)."""
    code = 0
    for x in states[:-1]:
        code = code * M + int(x)
    return code


def is_correct_cot(chain: TreeChain, target: int, states, codes) -> bool:
    """``R(q, o) = 1{o in C_q}`` (Spec 2 §2) for parsed states ``o_1..o_{L-1}``."""
    return (states is not None and int(states[-1]) == target
            and path_code(states, chain.M) in codes)


def dataset(chain: TreeChain, inst: Instances):
    """The TRL dataset of one task's instances: ``prompt``, ``id``, ``correct``."""
    from datasets import Dataset

    s = chain.tasks[inst.task][0]
    return Dataset.from_dict({
        "prompt": [prompt(s)] * inst.n, "id": list(range(inst.n)),
        "correct": [inst.codes[inst.ptr[i]:inst.ptr[i + 1]].tolist() for i in range(inst.n)]})


def reward_fn(chain: TreeChain, task: int):
    """The verifiable reward as a TRL reward function (reads the ``correct`` column)."""
    target = chain.tasks[task][1]

    def cot_reward(completions, correct: list, **_) -> list[float]:
        return [float(is_correct_cot(chain, target, parse_completion(chain, c), set(cs)))
                for c, cs in zip(completions, correct)]

    return cot_reward


def answer_fn(chain: TreeChain, outcome: str) -> Callable[[str], str]:
    """The bonus's answer key of a completion: its final state, or the whole CoT; every
    malformed completion is the answer ``"malformed"``."""
    def key(text: str) -> str:
        states = parse_completion(chain, text)
        if states is None:
            return "malformed"
        return str(int(states[-1])) if outcome == "final" else " ".join(map(str, states))

    return key


def rejected_instances(chain: TreeChain, model, inst: Instances, ids, reject: int, gen) -> set:
    """Remedy 1, the tabular rule (:func:`obandits.cot.posttrain.solved_by_fresh_cots`): the
    instances among ``ids`` that one of ``reject`` fresh CoTs of ``model`` (temperature 1,
    torch generator ``gen``) solves."""
    from .evaluate import sample_paths

    s, g = chain.tasks[inst.task]
    uniq = list(dict.fromkeys(int(i) for i in ids))
    states, ok = sample_paths(chain, model, np.full(len(uniq) * reject, s), 1.0, gen)
    out = set()
    for j, i in enumerate(uniq):
        cs = set(inst.codes[inst.ptr[i]:inst.ptr[i + 1]].tolist())
        if any(ok[r] and is_correct_cot(chain, g, states[r], cs)
               for r in range(j * reject, (j + 1) * reject)):
            out.add(i)
    return out


def _trainer_class():
    import torch

    from ..trl_trainer import OutcomeBonusGRPOTrainer

    class CotLMTrainer(OutcomeBonusGRPOTrainer):
        """:class:`OutcomeBonusGRPOTrainer` plus the rejection of easy instances."""

        def __init__(self, *args, chain: TreeChain, inst: Instances, reject: int = 0,
                     reject_seed: int = 0, **kw):
            super().__init__(*args, **kw)
            self.chain, self.inst, self.reject = chain, inst, reject
            self.reject_gen = torch.Generator().manual_seed(reject_seed)
            self.n_groups = self.n_rejected = 0

        def _rejected(self, ids: list[int]) -> set[int]:
            return rejected_instances(self.chain, self.model, self.inst, ids, self.reject,
                                      self.reject_gen)

        def _generate_and_score_completions(self, inputs):
            training = self.model.training
            ids = [int(row["id"]) for row in inputs]
            skip = self._rejected(ids) if (self.reject and training) else set()
            out = super()._generate_and_score_completions(inputs)
            if training:
                self.n_groups += len(set(ids))
                self.n_rejected += len(skip)
            if skip:
                rows = torch.tensor([i in skip for i in ids])
                mask = out["completion_mask"].clone()
                mask[rows] = 0
                out["completion_mask"] = mask
                adv = out["advantages"].clone()
                adv[rows] = 0.0
                out["advantages"] = adv
                out["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
            return out

    return CotLMTrainer


def build_trainer(folder, chain: TreeChain, inst: Instances, method: str, rl: LMRLConfig,
                  output_dir: str, *, kl_beta: float, reject: int, bonus: BonusConfig,
                  bonus_outcome: str, seed: int, callbacks=()):
    """The TRL trainer of one post-training run of the network saved in ``folder`` (see
    :func:`train`; the bench times its parts)."""
    from transformers import PrinterCallback
    from trl import GRPOConfig

    from .network import load

    spec = METHODS[check_method(method)]
    if spec is None:
        raise ValueError("the base method is not trained")
    if spec.reject and spec.bonus != "none":
        raise ValueError("rejection with an outcome bonus has no tabular counterpart")
    model, tok = load(folder)
    args = GRPOConfig(
        output_dir=output_dir, per_device_train_batch_size=rl.prompts_per_step * rl.n_rollouts,
        gradient_accumulation_steps=1, num_generations=rl.n_rollouts,
        max_completion_length=chain.L - 1, max_steps=rl.steps, learning_rate=rl.lr,
        lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        beta=kl_beta if spec.kl else 0.0, scale_rewards=spec.scale_rewards,
        epsilon=rl.clip_eps, num_iterations=rl.num_iterations, temperature=1.0, top_k=0,
        top_p=1.0, logging_steps=max(1, rl.steps), report_to=[], save_strategy="no",
        disable_tqdm=True, use_cpu=True, seed=seed, data_seed=seed, dataloader_num_workers=0,
        bf16=False, fp16=False)
    trainer = _trainer_class()(
        model=model, args=args, train_dataset=dataset(chain, inst),
        reward_funcs=reward_fn(chain, inst.task), processing_class=tok,
        bonus=BonusConfig(method=spec.bonus, c=bonus.c, b0=bonus.b0,
                          count_mode=bonus.count_mode),
        answer_fn=answer_fn(chain, bonus_outcome), prompt_id_column="id",
        callbacks=list(callbacks), chain=chain, inst=inst,
        reject=reject if spec.reject else 0, reject_seed=seed)
    trainer.remove_callback(PrinterCallback)  # its per-step dicts would flood the sweep
    return trainer


def train(folder, chain: TreeChain, inst: Instances, method: str, rl: LMRLConfig, *,
          kl_beta: float, reject: int, bonus: BonusConfig, bonus_outcome: str, seed: int,
          on_eval: Callable[[int, object], None] | None = None) -> dict:
    """Post-train the network saved in ``folder`` with ``method`` on ``inst`` through TRL.

    ``on_eval(step, model)`` runs at step 0 and every ``rl.eval_every`` steps (curves).
    Returns ``{"model", "rejected_share", "seconds"}``."""
    from transformers import TrainerCallback

    class Evals(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kw):
            if on_eval is not None and (state.global_step % rl.eval_every == 0
                                        and state.global_step < rl.steps):
                on_eval(state.global_step, model)

    with tempfile.TemporaryDirectory(prefix="cot-lm-") as tmp:
        trainer = build_trainer(folder, chain, inst, method, rl, tmp, kl_beta=kl_beta,
                                reject=reject, bonus=bonus, bonus_outcome=bonus_outcome,
                                seed=seed, callbacks=[Evals()])
        if on_eval is not None:
            on_eval(0, trainer.model)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    trained = trainer.model
    trained.eval()
    share = (trainer.n_rejected / max(trainer.n_groups, 1) if trainer.reject
             else float("nan"))
    return {"model": trained, "rejected_share": share, "seconds": seconds}
