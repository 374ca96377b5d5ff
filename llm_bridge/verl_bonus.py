"""The outcome-based exploration bonuses as verl advantage estimators (Spec 3 §4-5; verl 0.9.1).

verl's registered estimators see ``token_level_rewards``, ``response_mask``, ``config`` (the
``algorithm`` config) and ``index`` (a fresh uuid per prompt each step) but not the answers, so
four pieces are needed, all of them run by verl itself in the process that computes advantages
(its Ray actor ``TaskRunner``, not the driver):

1. :func:`make_compute_score` wraps a user's ``compute_score`` so that it also returns the
   canonical answer key and the stable prompt key (``extra_info["index"]``); verl puts these
   extra entries in ``reward_extra_info``.
2. :mod:`llm_bridge.verl_plugin`, named in the config as
   ``actor_rollout_ref.model.external_lib=llm_bridge.verl_plugin``: verl imports that module
   (``import_external_libs`` in ``HFModelConfig``) inside the ``TaskRunner`` actor before the
   trainer is built, and importing it calls :func:`install`.
3. :func:`install` registers the estimators ``ucb``, ``ucb-mean``, ``ucb-con``, ``batch`` with
   ``register_adv_est`` and carries the answer and prompt keys to them: for the legacy
   ``RayPPOTrainer`` by wrapping ``ray_trainer.compute_advantage`` (its ``fit`` merges
   ``reward_extra_info`` into ``non_tensor_batch``, which verl's function does not forward); for
   the v1 trainer (``trainer.use_v1: true``, the 0.9.1 default) by wrapping
   ``PPOTrainer._compute_advantage``, which reads only ``uid`` and the tensors from the
   TransferQueue: the wrapper reads the rows' ``extra_fields.reward_extra_info`` for the same
   keys and hands them to the estimator that verl's own ``compute_advantage`` calls.
4. The answer counts ``N(x, a)`` (one :class:`obandits.counts.History` per process) are written
   to ``global_step_N/obandits_counts.json`` by both trainers' ``_save_checkpoint`` (before verl
   writes its ``latest_checkpointed_iteration.txt``) and read back by ``_load_checkpoint`` from
   the folder verl resumes from: ``resume_mode=auto`` the latest one in ``default_local_dir``,
   ``resume_mode=resume_path`` ``resume_from_path``; a fresh start (``disable``, or ``auto``
   with no checkpoint) starts from zero counts.

Each estimator returns verl's GRPO advantage (``core_algos.compute_grpo_outcome_advantage``:
unbiased std, eps 1e-6, ``norm_adv_by_std_in_grpo``; a one-row group has mean 0 and std 1, so
its advantage is ``r / (1 + eps)``) plus the bonus of :func:`obandits.bonuses.shaped_advantages`
(Spec 1 §2). The bonus settings come from ``algorithm.obandits`` in verl's config
(:data:`BONUS_KEYS`), else from :func:`configure`. Nothing here imports verl until
:func:`install` is called, so the estimators are testable without verl.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from obandits.bonuses import BonusConfig, shaped_advantages
from obandits.counts import History

from .answers import answer_key

ESTIMATORS = {"ucb": "ucb", "ucb-mean": "ucb-mean", "ucb-con": "ucb-con", "batch": "batch"}
COUNTS_FILE = "obandits_counts.json"
ANSWER_FIELD, PROMPT_FIELD = "obandits_answer", "obandits_prompt"
CONFIG_KEY = "obandits"  # algorithm.obandits in verl's config
BONUS_KEYS = ("c", "b0", "all_correct_rule", "correct_threshold", "count_mode")
VERL_EPS = 1e-6  # verl's GRPO epsilon; its std is torch.std (ddof 1)
RESUME_MODES = ("disable", "auto", "resume_path")


class _State:
    """The bonus configuration and the answer counts of this process (verl's TaskRunner), and
    the answer / prompt keys of the v1 batch whose advantages are being computed."""

    def __init__(self):
        self.bonus = BonusConfig(method="none", c=0.2, b0=0.5)
        self.history = History()
        self.pending: tuple[list, list] | None = None


STATE = _State()


def configure(bonus: BonusConfig) -> None:
    """Set ``c``, ``b0``, ``all_correct_rule``, ``correct_threshold``, ``count_mode`` used when
    verl's ``algorithm`` config has no ``obandits`` entry (the method comes from the estimator
    name)."""
    if not isinstance(bonus, BonusConfig):
        raise ValueError(f"bonus must be an obandits.bonuses.BonusConfig, got {bonus!r}")
    STATE.bonus = bonus


def reset_counts() -> None:
    STATE.history = History()


def bonus_from_config(config) -> BonusConfig:
    """The bonus settings: ``config.obandits`` (verl's ``algorithm`` config, a dict-like with
    keys from :data:`BONUS_KEYS`) over those of :func:`configure`."""
    entry = None
    if config is not None and hasattr(config, "get"):
        entry = config.get(CONFIG_KEY)
    if entry is None:
        return STATE.bonus
    if hasattr(entry, "items"):
        entry = {str(k): v for k, v in entry.items()}
    else:
        raise ValueError(f"algorithm.{CONFIG_KEY} must be a mapping with keys from {BONUS_KEYS}, "
                         f"got {entry!r}")
    bad = sorted(set(entry) - set(BONUS_KEYS))
    if bad:
        raise ValueError(f"algorithm.{CONFIG_KEY} has unknown keys {bad}; allowed: "
                         f"{list(BONUS_KEYS)} (the method is the estimator's name, the GRPO "
                         f"scale is verl's norm_adv_by_std_in_grpo)")
    return replace(STATE.bonus, **entry)


def _answer_json(key) -> str:
    """Answer keys travel as JSON text so that verl's numpy object arrays keep one type."""
    return json.dumps(key)


def make_compute_score(score_fn: Callable | None = None,
                       answer_fn: Callable[[str], object] = answer_key) -> Callable:
    """Wrap ``score_fn(data_source, solution_str, ground_truth, extra_info=None, **kw)`` (verl's
    custom reward signature; returns a float or a dict with ``score``) so that it returns
    ``{"score": r, "obandits_answer": <answer JSON>, "obandits_prompt": <prompt key>}``.

    The prompt key is ``extra_info["index"]`` (stable across epochs, unlike verl's ``uid``);
    a missing index is an error naming the field. The default score is 1 when the answer's
    canonical key equals the ground truth's."""
    from .answers import canonical_answer, is_correct

    def default_score(data_source, solution_str, ground_truth, extra_info=None, **_):
        return float(is_correct(answer_fn(solution_str), canonical_answer(str(ground_truth))))

    fn = score_fn or default_score

    def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):
        if not isinstance(extra_info, dict) or "index" not in extra_info:
            raise ValueError(f"extra_info['index'] is needed as the stable prompt key of the "
                             f"answer counts; got extra_info={extra_info!r} (add 'index' to "
                             f"the dataset's extra_info column)")
        res = fn(data_source, solution_str, ground_truth, extra_info=extra_info, **kw)
        out = dict(res) if isinstance(res, dict) else {"score": float(res)}
        if "score" not in out:
            raise ValueError(f"score function returned {res!r}: a dict needs a 'score' key")
        out[ANSWER_FIELD] = _answer_json(answer_fn(solution_str))
        out[PROMPT_FIELD] = str(extra_info["index"])
        return out

    return compute_score


def _groups(index) -> np.ndarray:
    """Dense group ids in order of first appearance of verl's per-step ``uid``."""
    _, first, inv = np.unique(np.asarray(index, dtype=object).astype(str), return_index=True,
                              return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inv].astype(np.int64)


def bonus_advantage(method: str, token_level_rewards: torch.Tensor,
                    response_mask: torch.Tensor, index, answers, prompts, *,
                    norm_adv_by_std_in_grpo: bool = True, bonus: BonusConfig | None = None,
                    history: History | None = None, update: bool = True):
    """verl's GRPO advantage + the obandits bonus (Spec 1 §1-2), ``(advantages, returns)`` of
    shape (bs, T), zero outside ``response_mask``.

    The GRPO part is :func:`obandits.bonuses.shaped_advantages`' with verl's settings (group
    std, ddof 1, eps 1e-6; ``scale="none"`` without ``norm_adv_by_std_in_grpo``), except for a
    group of one row, which verl gives mean 0 and std 1: ``r / (1 + eps)`` (``r`` unscaled).
    ``answers``/``prompts``: per-sample answer and prompt keys; the counts are looked up in
    and (``update``) added to ``history`` per ``count_mode`` (Spec 1 §2)."""
    if method not in ESTIMATORS:
        raise ValueError(f"method must be one of {sorted(ESTIMATORS)}, got {method!r}")
    if answers is None or prompts is None:
        raise ValueError(f"estimator {method!r} needs the answer and prompt keys: name "
                         f"llm_bridge.verl_plugin in actor_rollout_ref.model.external_lib and "
                         f"use make_compute_score() as the reward (docs/verl.md)")
    bonus = bonus if bonus is not None else STATE.bonus
    history = history if history is not None else STATE.history
    cfg = replace(bonus, method=method, scale="group" if norm_adv_by_std_in_grpo else "none",
                  ddof=1, eps=VERL_EPS)
    answers, prompts = list(answers), list(prompts)
    n = token_level_rewards.shape[0]
    if len(answers) != n or len(prompts) != n or len(index) != n:
        raise ValueError(f"{n} rewards but {len(answers)} answers, {len(prompts)} prompt keys, "
                         f"{len(index)} uids")
    scores = token_level_rewards.sum(dim=-1).detach().double().cpu().numpy()
    group = _groups(index)
    if cfg.count_mode == "after" and update:
        history.update(prompts, answers)
    count = history.lookup(prompts, answers)
    _, outcome = history.observe(prompts, answers)
    adv = shaped_advantages(group, outcome, scores, count, cfg)
    if cfg.count_mode == "before" and update:
        history.update(prompts, answers)
    grpo = adv.grpo.copy()
    single = np.bincount(group)[group] == 1  # verl: a one-row group has mean 0, std 1
    grpo[single] = scores[single] / (1.0 + VERL_EPS) if norm_adv_by_std_in_grpo else scores[single]
    total = torch.as_tensor(grpo + adv.bonus, dtype=token_level_rewards.dtype,
                            device=token_level_rewards.device)
    out = total.unsqueeze(-1) * response_mask
    return out, out


def _estimator(method: str):
    def estimator(token_level_rewards, response_mask, index=None, config=None,
                  norm_adv_by_std_in_grpo: bool | None = None, answers=None, prompts=None,
                  **_):
        norm = norm_adv_by_std_in_grpo
        if norm is None:
            norm = bool(config.get("norm_adv_by_std_in_grpo", True)) if config is not None else True
        if answers is None and STATE.pending is not None:  # the v1 trainer's batch
            answers, prompts = STATE.pending
        return bonus_advantage(method, token_level_rewards, response_mask, index, answers,
                               prompts, norm_adv_by_std_in_grpo=norm,
                               bonus=bonus_from_config(config))

    estimator.__name__ = f"obandits_{method.replace('-', '_')}_advantage"
    estimator.__doc__ = f"verl advantage estimator {method!r}: see bonus_advantage."
    return estimator


ESTIMATOR_FNS = {name: _estimator(m) for name, m in ESTIMATORS.items()}


def register(register_adv_est: Callable) -> None:
    """Register the four estimators with verl's ``register_adv_est`` decorator."""
    for name, fn in ESTIMATOR_FNS.items():
        register_adv_est(name)(fn)


def _name(adv_estimator) -> str:
    return str(getattr(adv_estimator, "value", adv_estimator))


def _decode(answers) -> list:
    return [json.loads(a) for a in answers]


def make_compute_advantage(verl_compute_advantage: Callable) -> Callable:
    """Wrap the legacy trainer's ``ray_trainer.compute_advantage``: our estimator names get
    ``non_tensor_batch``'s answer and prompt keys (verl's ``fit`` put them there from
    ``reward_extra_info``); other names go to verl's function unchanged."""

    def compute_advantage(data, adv_estimator, gamma=1.0, lam=1.0, num_repeat=1,
                          norm_adv_by_std_in_grpo=True, config=None):
        name = _name(adv_estimator)
        if name not in ESTIMATOR_FNS:
            return verl_compute_advantage(data, adv_estimator, gamma=gamma, lam=lam,
                                          num_repeat=num_repeat,
                                          norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
                                          config=config)
        ntb = data.non_tensor_batch
        missing = [k for k in ("uid", ANSWER_FIELD, PROMPT_FIELD) if k not in ntb]
        if missing == [ANSWER_FIELD, PROMPT_FIELD] and STATE.pending is not None:
            missing = []  # the v1 trainer: the keys come from its TransferQueue rows
        if missing:
            raise ValueError(f"adv_estimator={name!r} needs non_tensor_batch fields {missing}: "
                             f"use make_compute_score() as the custom reward function")
        if "response_mask" not in data.batch.keys():
            resp = data.batch["responses"].size(1)
            data.batch["response_mask"] = data.batch["attention_mask"][:, -resp:]
        adv, ret = ESTIMATOR_FNS[name](
            data.batch["token_level_rewards"], data.batch["response_mask"], index=ntb["uid"],
            config=config, norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
            answers=_decode(ntb[ANSWER_FIELD]) if ANSWER_FIELD in ntb else None,
            prompts=[str(p) for p in ntb[PROMPT_FIELD]] if PROMPT_FIELD in ntb else None)
        data.batch["advantages"], data.batch["returns"] = adv, ret
        return data

    compute_advantage._obandits = True
    return compute_advantage


def keys_from_extra_fields(extra_fields, keys=None) -> tuple[list, list]:
    """Answer and prompt keys from the v1 trainer's per-row ``extra_fields`` (dicts, or
    tensordict ``NonTensorData`` holding them) whose ``reward_extra_info`` came from
    :func:`make_compute_score`; ``keys`` (TransferQueue keys, for messages)."""
    rows = extra_fields.tolist() if hasattr(extra_fields, "tolist") else list(extra_fields)
    answers, prompts = [], []
    for i, row in enumerate(rows):
        row = getattr(row, "data", row)
        info = row.get("reward_extra_info", {}) if isinstance(row, dict) else {}
        if ANSWER_FIELD not in info or PROMPT_FIELD not in info:
            where = keys[i] if keys is not None else i
            raise ValueError(f"row {where!r}: reward_extra_info has no {ANSWER_FIELD!r} / "
                             f"{PROMPT_FIELD!r} (got keys {sorted(info)}): use "
                             f"llm_bridge.verl_bonus.make_compute_score() as the custom reward "
                             f"function")
        answers.append(json.loads(info[ANSWER_FIELD]))
        prompts.append(str(info[PROMPT_FIELD]))
    return answers, prompts


def _single_output_sessions(keys) -> None:
    """v1 keys are ``{uid}_{session}_{index}``; the estimators treat each row as one rollout,
    so an agent loop with several outputs per session is refused."""
    several = [k for k in keys if not str(k).endswith("_0")]
    if several:
        raise ValueError(f"the obandits estimators take one output per rollout session; key "
                         f"{several[0]!r} is a later output of a multi-output agent loop")


def patch_v1_compute_advantage(trainer_cls) -> None:
    """Make the v1 ``PPOTrainer._compute_advantage`` hand the rows' answer and prompt keys (read
    from the TransferQueue's ``extra_fields``) to our estimators while verl computes them."""
    if getattr(trainer_cls, "_obandits_adv_patched", False):
        return
    original = trainer_cls._compute_advantage

    def _compute_advantage(self, batch, metrics):
        if _name(self.config.algorithm.adv_estimator) not in ESTIMATOR_FNS:
            return original(self, batch, metrics)
        import transfer_queue as tq

        keys = list(batch.keys)
        _single_output_sessions(keys)
        extra = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id,
                                select_fields=["extra_fields"])
        STATE.pending = keys_from_extra_fields(extra["extra_fields"], keys)
        try:
            return original(self, batch, metrics)
        finally:
            STATE.pending = None

    trainer_cls._compute_advantage = _compute_advantage
    trainer_cls._obandits_adv_patched = True


def save_counts(step_folder) -> str:
    path = os.path.join(step_folder, COUNTS_FILE)
    STATE.history.save(path)
    return path


def load_counts(step_folder) -> None:
    path = os.path.join(step_folder, COUNTS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: the checkpoint was saved without "
                                f"llm_bridge.verl_plugin; resuming would restart the answer "
                                f"counts from zero")
    STATE.history = History.load(path)


def resume_folder(trainer_config, find_latest: Callable | None = None) -> str | None:
    """The ``global_step_N`` folder verl 0.9.1's ``_load_checkpoint`` resumes from (both
    trainers): ``resume_mode=disable`` none; ``auto`` the latest checkpoint of
    ``default_local_dir`` (verl's ``find_latest_ckpt_path``; none without one);
    ``resume_path`` ``resume_from_path``; relative paths are taken from the working directory."""
    mode = trainer_config.resume_mode
    if mode == "disable":
        return None
    if mode == "auto":
        if find_latest is None:
            from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

            find_latest = find_latest_ckpt_path
        return find_latest(os.path.abspath(trainer_config.default_local_dir))
    if mode == "resume_path":
        path = trainer_config.resume_from_path
        if not isinstance(path, str) or "global_step_" not in path:
            raise ValueError(f"trainer.resume_from_path must name a global_step_N folder, got "
                             f"{path!r}")
        return os.path.abspath(path)
    raise ValueError(f"trainer.resume_mode must be one of {RESUME_MODES}, got {mode!r}")


def patch_checkpoints(trainer_cls, find_latest: Callable | None = None) -> None:
    """Make ``trainer_cls._save_checkpoint`` / ``_load_checkpoint`` (verl's legacy
    ``RayPPOTrainer`` or v1 ``PPOTrainer``) also write / read
    ``global_step_N/obandits_counts.json``; see :func:`resume_folder` for the folder read."""
    if getattr(trainer_cls, "_obandits_patched", False):
        return
    save, load = trainer_cls._save_checkpoint, trainer_cls._load_checkpoint

    def _save_checkpoint(self, *a, **k):
        folder = os.path.join(self.config.trainer.default_local_dir,
                              f"global_step_{self.global_steps}")
        save_counts(folder)  # before verl's tracker file names this step as the latest
        return save(self, *a, **k)

    def _load_checkpoint(self, *a, **k):
        folder = resume_folder(self.config.trainer, find_latest)
        out = load(self, *a, **k)
        if folder is None:
            reset_counts()  # a fresh start
        else:
            load_counts(folder)
        return out

    trainer_cls._save_checkpoint, trainer_cls._load_checkpoint = _save_checkpoint, _load_checkpoint
    trainer_cls._obandits_patched = True


def install(bonus: BonusConfig | None = None) -> None:
    """Register the estimators with verl and patch both trainers (advantage step, checkpoints).

    Runs in verl's ``TaskRunner`` actor when the config names ``llm_bridge.verl_plugin`` in
    ``actor_rollout_ref.model.external_lib`` (docs/verl.md); idempotent."""
    try:
        from verl.trainer.ppo import core_algos, ray_trainer
    except ImportError as exc:
        raise ImportError("llm_bridge.verl_bonus.install() needs verl 0.9.1 (tested with "
                          "it): pip install 'verl==0.9.1'") from exc
    if bonus is not None:
        configure(bonus)
    for name, fn in ESTIMATOR_FNS.items():
        if core_algos.ADV_ESTIMATOR_REGISTRY.get(name) is not fn:
            core_algos.register_adv_est(name)(fn)
    if not getattr(ray_trainer.compute_advantage, "_obandits", False):
        ray_trainer.compute_advantage = make_compute_advantage(ray_trainer.compute_advantage)
    patch_checkpoints(ray_trainer.RayPPOTrainer)
    try:
        from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    except ImportError:  # the v1 trainer needs transferqueue; the legacy one still works
        return
    patch_v1_compute_advantage(PPOTrainer)
    patch_checkpoints(PPOTrainer)
