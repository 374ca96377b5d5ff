"""The outcome-based exploration bonuses as verl advantage estimators (Spec 3 §4-5; verl 0.9.1).

verl's registered estimators see ``token_level_rewards``, ``response_mask``, ``config`` and
``index`` (a fresh uuid per prompt each step) but not the answers, so three pieces are needed:

1. :func:`make_compute_score` wraps a user's ``compute_score`` so that it also returns the
   canonical answer key and the stable prompt key (``extra_info["index"]``); verl puts these
   extra entries in ``reward_extra_info`` and from there in ``batch.non_tensor_batch``.
2. :func:`compute_advantage` wraps verl's ``ray_trainer.compute_advantage`` (which does not pass
   ``non_tensor_batch`` to estimators): for our estimator names it calls them with the answer
   and prompt keys, otherwise it defers to verl's function.
3. Estimators ``ucb``, ``ucb-mean``, ``ucb-con``, ``batch`` compute verl's GRPO advantage
   (unbiased std, eps 1e-6, ``norm_adv_by_std_in_grpo``) plus the bonus of
   :func:`obandits.bonuses.shaped_advantages`, with the counts ``N(x, a)`` in one module-level
   :class:`obandits.counts.History` (the driver process computes advantages), saved as
   ``global_step_N/obandits_counts.json`` beside verl's checkpoint and read back on resume.

:func:`install` does 2, registers 3 with verl's ``register_adv_est`` and patches the trainer's
checkpoint methods; see docs/verl.md for a user's config. Nothing here imports verl until
:func:`install` is called, so the estimators are testable without verl.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np
import torch

from obandits.bonuses import BonusConfig, shaped_advantages
from obandits.counts import History

from .answers import answer_key

ESTIMATORS = {"ucb": "ucb", "ucb-mean": "ucb-mean", "ucb-con": "ucb-con", "batch": "batch"}
COUNTS_FILE = "obandits_counts.json"
ANSWER_FIELD, PROMPT_FIELD = "obandits_answer", "obandits_prompt"
VERL_EPS = 1e-6  # verl's GRPO epsilon; its std is torch.std (ddof 1)


class _State:
    """The bonus configuration and the answer counts of the running job (driver process)."""

    def __init__(self):
        self.bonus = BonusConfig(method="none", c=0.2, b0=0.5)
        self.history = History()


STATE = _State()


def configure(bonus: BonusConfig) -> None:
    """Set ``c``, ``b0``, ``all_correct_rule``, ``correct_threshold``, ``count_mode`` used by
    the estimators (the method comes from the estimator name). Also read from the JSON in the
    environment variable ``OBANDITS_BONUS`` (BonusConfig fields) by :func:`install`."""
    if not isinstance(bonus, BonusConfig):
        raise ValueError(f"bonus must be an obandits.bonuses.BonusConfig, got {bonus!r}")
    STATE.bonus = bonus


def reset_counts() -> None:
    STATE.history = History()


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
    """verl GRPO advantage + obandits bonus, ``(advantages, returns)`` of shape (bs, T).

    ``answers``/``prompts``: per-sample answer and prompt keys; the counts are looked up in
    and (``update``) added to ``history`` per ``count_mode`` (Spec 1 §2)."""
    if method not in ESTIMATORS:
        raise ValueError(f"method must be one of {sorted(ESTIMATORS)}, got {method!r}")
    if answers is None or prompts is None:
        raise ValueError(f"estimator {method!r} needs the answer and prompt keys: wrap verl's "
                         f"compute_advantage with llm_bridge.verl_bonus.install() and the reward "
                         f"with make_compute_score()")
    from dataclasses import replace

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
    total = torch.as_tensor(adv.total, dtype=token_level_rewards.dtype,
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
        return bonus_advantage(method, token_level_rewards, response_mask, index, answers,
                               prompts, norm_adv_by_std_in_grpo=norm)

    estimator.__name__ = f"obandits_{method.replace('-', '_')}_advantage"
    estimator.__doc__ = f"verl advantage estimator {method!r}: see bonus_advantage."
    return estimator


ESTIMATOR_FNS = {name: _estimator(m) for name, m in ESTIMATORS.items()}


def register(register_adv_est: Callable) -> None:
    """Register the four estimators with verl's ``register_adv_est`` decorator."""
    for name, fn in ESTIMATOR_FNS.items():
        register_adv_est(name)(fn)


def make_compute_advantage(verl_compute_advantage: Callable) -> Callable:
    """The thin wrapper: our names get ``non_tensor_batch``'s answer and prompt keys."""

    def compute_advantage(data, adv_estimator, gamma=1.0, lam=1.0, num_repeat=1,
                          norm_adv_by_std_in_grpo=True, config=None):
        name = getattr(adv_estimator, "value", adv_estimator)
        if name not in ESTIMATOR_FNS:
            return verl_compute_advantage(data, adv_estimator, gamma=gamma, lam=lam,
                                          num_repeat=num_repeat,
                                          norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
                                          config=config)
        ntb = data.non_tensor_batch
        missing = [k for k in ("uid", ANSWER_FIELD, PROMPT_FIELD) if k not in ntb]
        if missing:
            raise ValueError(f"adv_estimator={name!r} needs non_tensor_batch fields {missing}: "
                             f"use make_compute_score() as the custom reward function")
        if "response_mask" not in data.batch.keys():
            resp = data.batch["responses"].size(1)
            data.batch["response_mask"] = data.batch["attention_mask"][:, -resp:]
        adv, ret = ESTIMATOR_FNS[name](
            data.batch["token_level_rewards"], data.batch["response_mask"], index=ntb["uid"],
            config=config, norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
            answers=[json.loads(a) for a in ntb[ANSWER_FIELD]], prompts=list(ntb[PROMPT_FIELD]))
        data.batch["advantages"], data.batch["returns"] = adv, ret
        return data

    return compute_advantage


def save_counts(step_folder) -> str:
    path = os.path.join(step_folder, COUNTS_FILE)
    STATE.history.save(path)
    return path


def load_counts(step_folder) -> None:
    path = os.path.join(step_folder, COUNTS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: the checkpoint was saved without "
                                f"llm_bridge.verl_bonus.install(); resuming would restart the "
                                f"answer counts from zero")
    STATE.history = History.load(path)


def patch_checkpoints(trainer_cls) -> None:
    """Make ``trainer_cls._save_checkpoint`` / ``_load_checkpoint`` (verl's RayPPOTrainer) also
    write / read ``global_step_N/obandits_counts.json``."""
    if getattr(trainer_cls, "_obandits_patched", False):
        return
    save, load = trainer_cls._save_checkpoint, trainer_cls._load_checkpoint

    def folder(self):
        return os.path.join(self.config.trainer.default_local_dir,
                            f"global_step_{self.global_steps}")

    def _save_checkpoint(self, *a, **k):
        out = save(self, *a, **k)
        save_counts(folder(self))
        return out

    def _load_checkpoint(self, *a, **k):
        out = load(self, *a, **k)
        if self.global_steps:  # 0: started from scratch
            load_counts(folder(self))
        return out

    trainer_cls._save_checkpoint, trainer_cls._load_checkpoint = _save_checkpoint, _load_checkpoint
    trainer_cls._obandits_patched = True


def install(bonus: BonusConfig | None = None) -> None:
    """Register the estimators with verl, wrap ``ray_trainer.compute_advantage`` and patch the
    trainer's checkpoints. Call it in the driver before ``RayPPOTrainer.fit`` (docs/verl.md)."""
    try:
        from verl.trainer.ppo import core_algos, ray_trainer
    except ImportError as exc:
        raise ImportError("llm_bridge.verl_bonus.install() needs verl (tested against the "
                          "documented API of verl 0.9.1): pip install 'verl==0.9.1'") from exc
    if bonus is None and os.environ.get("OBANDITS_BONUS"):
        bonus = BonusConfig(**json.loads(os.environ["OBANDITS_BONUS"]))
    if bonus is not None:
        configure(bonus)
    register(core_algos.register_adv_est)
    if not getattr(ray_trainer.compute_advantage, "_obandits", False):
        wrapped = make_compute_advantage(ray_trainer.compute_advantage)
        wrapped._obandits = True
        ray_trainer.compute_advantage = wrapped
    patch_checkpoints(ray_trainer.RayPPOTrainer)
