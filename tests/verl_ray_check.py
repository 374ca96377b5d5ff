"""verl 0.9.1's advantage step and checkpoints, executed inside a local Ray actor on CPU.

Run by ``tests/test_verl_ray.py`` with the verl virtual environment's Python (``make
verl-venv``): ``python tests/verl_ray_check.py WORKDIR`` writes ``WORKDIR/result.json``.

What runs, for the v1 trainer (``PPOTrainer``, verl 0.9.1's default) and the legacy
``RayPPOTrainer``, inside one Ray actor standing for verl's ``TaskRunner``:

* verl's own config (Hydra, ``verl/trainer/config/ppo_trainer.yaml``) with the lines of
  docs/verl.md; verl's ``HFModelConfig`` built from it, which imports the ``external_lib``
  (``llm_bridge.verl_plugin``) and so registers the estimators in the actor;
* the reward: verl's ``get_custom_reward_fn`` loads ``pkg://llm_bridge.verl_reward`` and verl's
  ``NaiveRewardManager.run_single`` scores each decoded response with it;
* the advantage step: v1: the trainer's own ``_compute_advantage`` on rows put in a real
  TransferQueue the way ``AgentLoopWorkerTQ`` puts them; legacy: ``fit``'s advantage block
  (``extract_reward``, ``non_tensor_batch.update``, ``compute_advantage`` looked up in
  ``ray_trainer`` as ``fit`` does);
* checkpoints: the trainers' own ``_save_checkpoint`` / ``_load_checkpoint`` with stand-in
  worker groups (the FSDP actor and the rollout engines need GPUs), ``resume_mode`` ``auto``
  and ``resume_path``.

What cannot run on CPU and is not run: ``fit`` itself (it drives rollout engines, vLLM or
SGLang, and FSDP / Megatron actor workers, which need GPUs). The result holds the inputs and
outputs of every step; the test compares them with ``obandits.bonuses``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

STEPS = 3          # training steps per run; checkpoints after steps 1 and 2
N = 4              # rollouts per prompt (actor_rollout_ref.rollout.n)
# Per step: (prompt index, gold answer, [answers of its rollouts]); the last prompt has one row
# (a group of one, as after filtering) to check verl's single-row convention.
PLAN = [
    [("p0", "5", ["5", "5", "7", "x"]), ("p1", "3", ["12", "12", "12", "3"]), ("p2", "9", ["9"])],
    [("p0", "5", ["7", "7", "5", "8"]), ("p1", "3", ["12", "4", "4", "4"]), ("p2", "9", ["1"])],
    [("p0", "5", ["5", "5", "5", "5"]), ("p1", "3", ["12", "3", "x", "x"]), ("p2", "9", ["9"])],
]


def tiny_model_dir(path: str) -> str:
    """A character-level tokenizer and a tiny Llama config saved as a Hugging Face model
    directory (what verl's HFModelConfig reads; no weights are needed for these steps)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    chars = [chr(i) for i in range(32, 127)]
    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tk.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>")
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.save_pretrained(path)
    LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=2, pad_token_id=0,
                eos_token_id=1, architectures=["LlamaForCausalLM"]).save_pretrained(path)
    return path


def compose(overrides: list[str]):
    """verl's own ppo_trainer config with ``overrides`` (Hydra, as ``main_ppo`` builds it)."""
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    cfg_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


class _WorkerGroup:
    """Stands for the actor worker group (FSDP on GPUs) in the trainers' checkpoint methods."""

    def __init__(self):
        self.loaded = []

    def save_checkpoint(self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None):
        os.makedirs(local_path, exist_ok=True)
        with open(os.path.join(local_path, "step.txt"), "w") as fh:
            fh.write(str(global_step))

    def load_checkpoint(self, local_path, del_local_after_load=False):
        self.loaded.append(local_path)


class _Callback:
    def on_save(self, **_):
        pass


def run_in_actor(config_overrides: list[str], trainer: str, model_dir: str) -> dict:
    """Everything below runs inside the Ray actor (verl's TaskRunner stand-in)."""
    import asyncio

    import numpy as np
    import torch
    from omegaconf import OmegaConf
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.reward import extract_reward, get_custom_reward_fn
    from verl.utils.config import omega_conf_to_dataclass

    out: dict = {"trainer": trainer, "pid": os.getpid()}
    out["registered_before"] = "ucb-con" in core_algos.ADV_ESTIMATOR_REGISTRY
    config = compose(config_overrides + [f"actor_rollout_ref.model.path={model_dir}"])
    OmegaConf.resolve(config)
    # What both TaskRunners do before building the trainer: this imports external_lib.
    model_config = omega_conf_to_dataclass(config.actor_rollout_ref.model)
    tokenizer = model_config.tokenizer
    out["registered_after"] = all(n in core_algos.ADV_ESTIMATOR_REGISTRY
                                  for n in ("ucb", "ucb-mean", "ucb-con", "batch"))
    import llm_bridge.verl_bonus as vb

    reward_fn = get_custom_reward_fn(config)
    manager = NaiveRewardManager(config, tokenizer, reward_fn)

    def score(prompt_key, gold, text):
        """verl's reward manager on one decoded response (as the reward loop runs it)."""
        ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False))
        width = 24
        resp = torch.zeros(1, width, dtype=torch.long)
        resp[0, :len(ids)] = ids
        mask = torch.zeros(1, width, dtype=torch.long)
        mask[0, :len(ids)] = 1
        item = DataProto.from_dict(
            tensors={"responses": resp, "attention_mask": mask},
            non_tensors={"data_source": np.array(["arith"], dtype=object),
                         "reward_model": np.array([{"ground_truth": gold}], dtype=object),
                         "extra_info": np.array([{"index": prompt_key}], dtype=object)})
        res = asyncio.get_event_loop().run_until_complete(manager.run_single(item))
        return res["reward_score"], res["reward_extra_info"], resp[0], mask[0], len(ids)

    def rollouts(step):
        rows = []
        for prompt_key, gold, answers in PLAN[step]:
            uid = str(uuid.uuid4())  # verl's fresh per-step uid of a prompt
            for a in answers:
                text = f"so \\boxed{{{a}}}" if a != "x" else "no idea"
                r, info, resp, mask, length = score(prompt_key, gold, text)
                rows.append(dict(uid=uid, prompt=prompt_key, gold=gold, score=float(r), info=info,
                                 responses=resp, response_mask=mask, length=length))
        return rows

    def rm_scores(rows):
        t = torch.zeros(len(rows), rows[0]["responses"].shape[0])
        for i, r in enumerate(rows):
            t[i, r["length"] - 1] = r["score"]  # verl's outcome reward on the last token
        return t

    def legacy_step(rows):
        """fit()'s advantage block of RayPPOTrainer (verl 0.9.1 ray_trainer.py 1567-1677)."""
        from verl.trainer.ppo import ray_trainer

        keys = list(rows[0]["info"])
        batch = DataProto.from_dict(
            tensors={"responses": torch.stack([r["responses"] for r in rows]),
                     "response_mask": torch.stack([r["response_mask"] for r in rows]).float(),
                     "rm_scores": rm_scores(rows)},
            non_tensors={"uid": np.array([r["uid"] for r in rows], dtype=object),
                         # the agent loop's reward_extra_info columns (agent_loop.py 1108-1111)
                         **{k: np.array([r["info"][k] for r in rows]) for k in keys}},
            meta_info={"reward_extra_keys": keys})
        reward_tensor, reward_extra_infos_dict = extract_reward(batch)
        batch.batch["token_level_scores"] = reward_tensor
        if reward_extra_infos_dict:
            batch.non_tensor_batch.update({k: np.array(v) for k, v in
                                           reward_extra_infos_dict.items()})
        batch.batch["token_level_rewards"] = batch.batch["token_level_scores"]
        batch = ray_trainer.compute_advantage(
            batch, adv_estimator=config.algorithm.adv_estimator, gamma=config.algorithm.gamma,
            lam=config.algorithm.lam, num_repeat=config.actor_rollout_ref.rollout.n,
            norm_adv_by_std_in_grpo=config.algorithm.get("norm_adv_by_std_in_grpo", True),
            config=config.algorithm)
        return batch.batch["advantages"]

    def v1_step(trainer_obj, rows, step):
        """The v1 trainer's own _compute_advantage on rows put as AgentLoopWorkerTQ puts them."""
        import transfer_queue as tq
        from tensordict import TensorDict
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        keys, fields = [], []
        for i, r in enumerate(rows):
            keys.append(f"{r['uid']}_{i}_0")  # {uid}_{session}_{index}
            length = r["length"]
            rm = torch.zeros(length)
            rm[-1] = r["score"]
            fields.append({"uid": r["uid"], "responses": r["responses"][:length],
                           "response_mask": torch.ones(length, dtype=torch.long),
                           "rm_scores": rm, "extra_fields": {"reward_extra_info": r["info"]},
                           "global_steps": step})
        meta = tq.kv_batch_put(keys=keys, partition_id="train",
                               fields=list_of_dict_to_tensordict(fields),
                               tags=[{"status": "success"}] * len(keys))
        meta = trainer_obj._compute_advantage(meta, metrics={})
        got = tq.kv_batch_get(keys=keys, partition_id="train",
                              select_fields=["advantages", "response_mask"])
        assert isinstance(got, TensorDict)
        nested = got["advantages"]
        parts = nested.unbind() if nested.is_nested else list(nested)
        adv = torch.zeros(len(rows), rows[0]["responses"].shape[0])
        for i, t in enumerate(parts):  # the rows' response tokens, padded as the legacy batch
            adv[i, :len(t)] = t
        return adv

    def make_trainer():
        if trainer == "legacy":
            from verl.trainer.ppo.ray_trainer import RayPPOTrainer as cls
        else:
            from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync as cls
        obj = cls.__new__(cls)  # the worker groups of __init__/init need GPUs
        obj.config = config
        obj.global_steps = 0
        obj.use_critic = False
        obj.trainer_mode = "sync"
        obj.actor_rollout_wg = _WorkerGroup()
        obj.checkpoint_callback = _Callback()
        obj.train_dataloader = StatefulDataLoader(list(range(8)), batch_size=2)
        return obj

    def counts():
        return vb.STATE.history.to_dict()

    if trainer == "v1":
        import transfer_queue as tq

        config.transfer_queue.enable = True
        tq.init(config.transfer_queue)
    try:
        steps = []
        obj = make_trainer()
        obj._load_checkpoint()  # resume_mode=auto, nothing saved yet: a fresh start
        out["fresh_counts"] = counts()
        for step in range(STEPS):
            rows = rollouts(step)
            obj.global_steps = step + 1
            adv = legacy_step(rows) if trainer == "legacy" else v1_step(obj, rows, step + 1)
            scores = rm_scores(rows)
            verl_grpo, _ = core_algos.compute_grpo_outcome_advantage(
                token_level_rewards=scores, response_mask=torch.ones_like(scores),
                index=np.array([r["uid"] for r in rows], dtype=object),
                norm_adv_by_std_in_grpo=config.algorithm.norm_adv_by_std_in_grpo)
            steps.append({"uid": [r["uid"] for r in rows], "prompt": [r["prompt"] for r in rows],
                          "answer": [json.loads(r["info"][vb.ANSWER_FIELD]) for r in rows],
                          "prompt_key": [r["info"][vb.PROMPT_FIELD] for r in rows],
                          "score": [r["score"] for r in rows],
                          "advantage": adv[:, 0].tolist(),
                          "advantage_tokens": adv.tolist(),
                          "length": [r["length"] for r in rows],
                          "verl_grpo": verl_grpo[:, 0].tolist(), "counts_after": counts()})
            if step < 2:
                obj._save_checkpoint()
        out["steps"] = steps
        ckpt = config.trainer.default_local_dir
        out["files"] = sorted(os.path.relpath(os.path.join(d, f), ckpt)
                              for d, _, fs in os.walk(ckpt) for f in fs)
        # Resume: auto (the latest, step 2), then resume_path (step 1): counts and the next step.
        resumed = {}
        for mode, path in (("auto", None), ("resume_path", os.path.join(ckpt, "global_step_1"))):
            vb.reset_counts()
            vb.STATE.history.update(["stale"], ["stale"])  # whatever the process held before
            config.trainer.resume_mode = mode
            config.trainer.resume_from_path = path
            obj = make_trainer()
            obj._load_checkpoint()
            rec = {"global_steps": obj.global_steps, "counts": counts(),
                   "actor_loaded": obj.actor_rollout_wg.loaded}
            step = obj.global_steps  # the next step, replayed with the restored counts
            rows = rollouts(step)
            obj.global_steps = step + 1
            adv = legacy_step(rows) if trainer == "legacy" else v1_step(obj, rows, step + 1)
            rec["next_advantage"] = adv[:, 0].tolist()
            resumed[mode] = rec
        out["resumed"] = resumed
        config.trainer.resume_mode = "disable"
        obj = make_trainer()
        obj._load_checkpoint()
        out["disable_counts"] = counts()
    finally:
        if trainer == "v1":
            tq.close()
    return out


def main(workdir: str) -> int:
    import ray

    model_dir = tiny_model_dir(os.path.join(workdir, "model"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"NUMBA_NUM_THREADS": "1",
                                                                "OMP_NUM_THREADS": "1"}})
    try:
        result = {}
        for trainer in ("v1", "legacy"):
            ckpt = os.path.join(workdir, f"ckpt-{trainer}")
            overrides = [
                "algorithm.adv_estimator=ucb-con",
                "algorithm.norm_adv_by_std_in_grpo=true",
                "+algorithm.obandits.c=0.3",
                "+algorithm.obandits.b0=0.5",
                f"actor_rollout_ref.rollout.n={N}",
                "actor_rollout_ref.model.external_lib=llm_bridge.verl_plugin",
                "reward.custom_reward_function.path=pkg://llm_bridge.verl_reward",
                "reward.custom_reward_function.name=compute_score",
                f"trainer.use_v1={'true' if trainer == 'v1' else 'false'}",
                f"trainer.default_local_dir={ckpt}",
                "trainer.resume_mode=auto",
                # CPU test only: one TransferQueue storage unit (default 8, one CPU each)
                "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
            ]
            # A fresh actor per trainer: a TaskRunner process that has imported nothing yet.
            actor = ray.remote(num_cpus=0)(_Actor).remote()
            result[trainer] = ray.get(actor.run.remote(overrides, trainer, model_dir))
            ray.kill(actor)
    finally:
        ray.shutdown()
    with open(os.path.join(workdir, "result.json"), "w") as fh:
        json.dump(result, fh)
    return 0


class _Actor:
    def run(self, overrides, trainer, model_dir):
        return run_in_actor(overrides, trainer, model_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
