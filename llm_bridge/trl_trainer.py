"""The outcome-based exploration bonuses inside TRL's ``GRPOTrainer`` (Spec 3 §4-5).

:class:`OutcomeBonusGRPOTrainer` is a ``trl.GRPOTrainer`` whose advantages are ``A = Â + c·b``
(Spec 1 §2): ``Â`` is TRL's own GRPO advantage, untouched (every ``scale_rewards``, its ddof 1
and eps 1e-4, so ``method="none"`` is plain TRL bit for bit), and ``c·b`` is the bonus part of
:func:`obandits.bonuses.shaped_advantages` computed on the *gathered* global batch (a group can
straddle processes). The answer counts ``N(x, a)`` live in an :class:`obandits.counts.History`
keyed by a stable prompt id, updated on every process from the same gathered batch in the same
order, saved in each ``checkpoint-N/`` and restored on ``resume_from_checkpoint``.

Why not a reward function: TRL normalises the summed reward per group, so a bonus passed as a
reward becomes ``(r + b - mean(r + b)) / std(r + b)``: UCB-Con turns into UCB-Mean, Batch is
never reproduced and ``c`` drops out of all-wrong groups (see docs/llm-trl.md).

Usage::

    from llm_bridge.trl_trainer import OutcomeBonusGRPOTrainer, correctness_reward
    trainer = OutcomeBonusGRPOTrainer(model=model, args=GRPOConfig(...), train_dataset=ds,
                                      reward_funcs=correctness_reward,
                                      bonus=BonusConfig(method="ucb-con", c=0.2, b0=0.5))
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch

from obandits.bonuses import BonusConfig, shaped_advantages
from obandits.counts import History

from .answers import answer_key, canonical_answer, is_correct

SUPPORTED_TRL = "1.16"  # major.minor this adapter was read against and tested with
COUNTS_FILE = "obandits_counts.json"
# The private parent methods we rely on, with the parameters we call them with.
_EXPECTED = {
    "_generate_and_score_completions": ("self", "inputs"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    "_save_checkpoint": ("self", "model", "trial"),
    "_load_optimizer_and_scheduler": ("self", "checkpoint"),
}
TRL_SCALES = ("group", "batch", "none")


def _import_trl():
    try:
        import trl
        from trl import GRPOTrainer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"llm_bridge.trl_trainer needs TRL {SUPPORTED_TRL}.*: "
                          f"pip install 'obandits[trl]'") from exc
    return trl, GRPOTrainer


def check_trl_version(trl_module=None, parent=None) -> None:
    """Raise a RuntimeError naming the supported TRL version when the private methods this
    adapter overrides are missing or have a different signature; the version alone is not
    checked (a newer TRL with the same methods is allowed)."""
    if trl_module is None or parent is None:
        trl_module, parent = _import_trl()
    version = getattr(trl_module, "__version__", "?")
    for name, params in _EXPECTED.items():
        fn = getattr(parent, name, None)
        got = tuple(inspect.signature(fn).parameters) if fn is not None else None
        if got != params:
            raise RuntimeError(
                f"TRL {version} is not supported by OutcomeBonusGRPOTrainer: GRPOTrainer.{name} "
                f"has parameters {got}, expected {params}. Install the supported version: "
                f"pip install 'trl=={SUPPORTED_TRL}.*' (pip install 'obandits[trl]')")


def completion_text(completion) -> str:
    """Text of a TRL completion: a string, or the content of a conversational message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # multimodal content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    raise ValueError(f"cannot read a completion of type {type(completion).__name__}")


def prompt_text(prompt) -> str:
    """A stable text key for a prompt: the string, or the JSON of a conversational prompt."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)


def correctness_reward(completions, answer, **_) -> list[float]:
    """Verifiable 0/1 reward for a dataset with an ``answer`` column (gold answer text):
    1 when the completion's canonical answer equals the gold's (Spec 1 §1)."""
    return [float(is_correct(answer_key(completion_text(c)), canonical_answer(str(g))))
            for c, g in zip(completions, answer)]


def bonus_as_reward_advantages(group, outcome, reward, count, config: BonusConfig, *,
                               scale_rewards: str = "group") -> np.ndarray:
    """What a user gets by passing the bonus as a TRL reward function (the route NOT to take):
    TRL's normalisation applied to ``r + B`` (``B`` the obandits bonus), float64.

    Kept for the docs and the test that shows it differs from ``Â + c·b``."""
    adv = shaped_advantages(group, outcome, reward, count, config)
    total = np.asarray(reward, float) + adv.bonus
    return _trl_grpo(np.asarray(group), total, scale_rewards)


def _trl_grpo(group: np.ndarray, reward: np.ndarray, scale_rewards: str) -> np.ndarray:
    """TRL 1.16's advantage formula for consecutive groups (ddof 1, eps 1e-4; ``batch`` divides
    by the std of the raw rewards), float64; used by tests and the bonus-as-reward demo."""
    _, inv = np.unique(group, return_inverse=True)
    size = np.bincount(inv).astype(float)
    mean = np.bincount(inv, weights=reward) / size
    centred = reward - mean[inv]
    if scale_rewards == "none":
        return centred
    if scale_rewards == "batch":
        std = reward.std(ddof=1) if len(reward) > 1 else 0.0
        return centred / (std + 1e-4)
    ss = np.bincount(inv, weights=centred**2)
    std = np.sqrt(np.where(size > 1, ss / np.maximum(size - 1, 1), 0.0))
    return centred / (std[inv] + 1e-4)


def trl_bonus_config(bonus: BonusConfig, scale_rewards) -> BonusConfig:
    """``bonus`` with the GRPO scale of TRL's ``scale_rewards`` (ddof 1, eps 1e-4), so that
    ``shaped_advantages(...).grpo`` is TRL's GRPO part for ``group`` and ``none``. TRL's
    ``batch`` (std of the raw rewards) has no obandits equivalent; its GRPO part is TRL's own."""
    if scale_rewards not in TRL_SCALES:
        raise ValueError(f"scale_rewards={scale_rewards!r} is not mapped by "
                         f"OutcomeBonusGRPOTrainer; use one of {TRL_SCALES}")
    from dataclasses import replace

    return replace(bonus, scale="group" if scale_rewards == "group" else "none",
                   ddof=1, eps=1e-4)


class BonusState:
    """The answer counts and the bonus computation, independent of TRL (tested on its own).

    ``step(prompt_keys, answers, correct_reward)`` takes the *gathered* global batch in
    consecutive groups of ``n_rollouts``, returns the per-sample ``Advantages`` of
    :func:`obandits.bonuses.shaped_advantages` and counts the batch (Spec 1 §2, count_mode).
    """

    def __init__(self, bonus: BonusConfig, scale_rewards="group"):
        if not isinstance(bonus, BonusConfig):
            raise ValueError(f"bonus must be an obandits.bonuses.BonusConfig, got "
                             f"{type(bonus).__name__}: {bonus!r}")
        self.config = trl_bonus_config(bonus, scale_rewards)
        self.history = History()
        self.n_batches = 0

    def step(self, prompt_keys: Sequence[Hashable], answers: Sequence[Hashable], reward,
             n_rollouts: int):
        reward = np.nan_to_num(np.asarray(reward, dtype=np.float64), nan=0.0)
        n = len(prompt_keys)
        if n % n_rollouts or len(answers) != n or len(reward) != n:
            raise ValueError(f"batch of {n} prompt keys, {len(answers)} answers, {len(reward)} "
                             f"rewards is not a whole number of groups of {n_rollouts}")
        group = np.arange(n) // n_rollouts
        hist = self.history
        if self.config.count_mode == "after":
            hist.update(prompt_keys, answers)
        count = hist.lookup(prompt_keys, answers)
        _, outcome = hist.observe(prompt_keys, answers)
        adv = shaped_advantages(group, outcome, reward, count, self.config)
        if self.config.count_mode == "before":
            hist.update(prompt_keys, answers)
        self.n_batches += 1
        return adv, count


def _trl_base():
    return _import_trl()[1]


class OutcomeBonusGRPOTrainer(_trl_base()):
    """``trl.GRPOTrainer`` with outcome-based exploration bonuses (Spec 1 §2, Spec 3 §4).

    Extra arguments (everything else goes to ``GRPOTrainer``):
        bonus: :class:`obandits.bonuses.BonusConfig` (``method``, ``c``, ``b0``,
            ``all_correct_rule``, ``correct_threshold``, ``count_mode``); its ``scale``,
            ``eps`` and ``ddof`` are replaced by TRL's (``args.scale_rewards``, 1e-4, 1).
        answer_fn: completion text -> hashable answer key (JSON scalar for checkpoints);
            default :func:`llm_bridge.answers.answer_key`.
        prompt_id_column: dataset column holding a stable prompt id; default: the column
            ``id`` when the train dataset has it, else the prompt text.
        correctness_reward: name or index of the reward function whose value decides
            "correct" for the all-correct rule; needed when there are several reward functions.
        mask_answer_bonus: put the bonus on reasoning tokens only (advantages become (B, T)).
    """

    def __init__(self, *args, bonus: BonusConfig | None = None,
                 answer_fn: Callable[[str], Hashable] | None = None,
                 prompt_id_column: str | None = None, correctness_reward: str | int | None = None,
                 mask_answer_bonus: bool = False, **kwargs):
        trl, parent = _import_trl()
        check_trl_version(trl, parent)
        if bonus is None:
            bonus = BonusConfig(method="none")
        given = inspect.signature(parent.__init__).bind_partial(self, *args, **kwargs).arguments
        scale = getattr(given.get("args"), "scale_rewards", "group")
        self.bonus_state = BonusState(bonus, scale)  # validates bonus and scale_rewards
        if answer_fn is not None and not callable(answer_fn):
            raise ValueError(f"answer_fn must be callable, got {answer_fn!r}")
        if not isinstance(mask_answer_bonus, bool):
            raise ValueError(f"mask_answer_bonus must be a bool, got {mask_answer_bonus!r}")
        ds = given.get("train_dataset")
        cols = list(getattr(ds, "column_names", None) or [])
        if prompt_id_column is not None and prompt_id_column not in cols:
            raise ValueError(f"prompt_id_column={prompt_id_column!r} is not a column of the "
                             f"train dataset (columns: {cols})")
        if prompt_id_column is None and "id" in cols:
            prompt_id_column = "id"
        self.answer_fn = answer_fn or answer_key
        self.prompt_id_column = prompt_id_column
        self.mask_answer_bonus = mask_answer_bonus
        self.last_bonus: dict | None = None  # the last train batch's bonus inputs (tests, logs)
        super().__init__(*args, **kwargs)
        self._correct_col = self._resolve_correctness(correctness_reward)

    # ---- set-up checks ----------------------------------------------------------------------

    def _resolve_correctness(self, which) -> int:
        names = list(self.reward_func_names)
        if which is None:
            if len(names) == 1 or self.bonus_state.config.method == "none":
                return 0
            raise ValueError(f"{len(names)} reward functions {names}: name the correctness "
                             f"reward for the all-correct rule with correctness_reward=<name or "
                             f"index>")
        if isinstance(which, int) and not isinstance(which, bool) and 0 <= which < len(names):
            return which
        if isinstance(which, str) and which in names:
            return names.index(which)
        raise ValueError(f"correctness_reward={which!r} is neither a reward function name in "
                         f"{names} nor an index below {len(names)}")

    # ---- the bonus ---------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._bonus_inputs = (inputs, prompts, completions, rewards)  # gathered rewards
        return rewards

    def _prompt_keys(self, inputs, prompts) -> list:
        if self.prompt_id_column is None:
            return [prompt_text(p) for p in prompts]
        try:
            keys = [row[self.prompt_id_column] for row in inputs]
        except KeyError:
            raise ValueError(f"prompt_id_column={self.prompt_id_column!r} missing from a batch "
                             f"row (keys: {sorted(inputs[0])})") from None
        return [k.item() if hasattr(k, "item") else k for k in keys]

    def _generate_and_score_completions(self, inputs):
        self._bonus_inputs = None
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training:  # evaluation batches are never counted
            return out
        if self._bonus_inputs is None or "advantages" not in out:
            raise RuntimeError(f"TRL's GRPOTrainer did not go through _calculate_rewards or "
                               f"return 'advantages'; OutcomeBonusGRPOTrainer supports TRL "
                               f"{SUPPORTED_TRL}.* only")
        from accelerate.utils import gather_object

        t0 = time.perf_counter()
        local_inputs, prompts, completions, rewards = self._bonus_inputs
        self._bonus_inputs = None
        keys = gather_object(self._prompt_keys(local_inputs, prompts))
        answers = gather_object([self.answer_fn(completion_text(c)) for c in completions])
        correct = rewards[:, self._correct_col].detach().float().cpu().numpy()
        adv, count = self.bonus_state.step(keys, answers, correct, self.num_generations)
        local = out["advantages"]
        n_local, rank = local.shape[0], self.accelerator.process_index
        if len(keys) != n_local * self.accelerator.num_processes:
            raise RuntimeError(f"gathered {len(keys)} rows but {n_local} local advantages on "
                               f"{self.accelerator.num_processes} processes")
        sl = slice(rank * n_local, (rank + 1) * n_local)
        bonus = torch.as_tensor(adv.bonus[sl], dtype=local.dtype, device=local.device)
        self.last_bonus = {"prompt_keys": keys, "answers": answers, "reward": correct,
                           "count": count, "bonus": adv.bonus}
        if self.bonus_state.config.method != "none":
            if self.mask_answer_bonus:
                from .trainer import answer_token_mask

                mask = answer_token_mask(self.processing_class, out["completion_ids"],
                                         out["completion_mask"])
                out["advantages"] = local[:, None] + bonus[:, None] * (~mask).to(local.dtype)
            else:
                out["advantages"] = local + bonus
        self._log_bonus(adv.bonus, correct, keys)
        self.last_bonus["seconds"] = time.perf_counter() - t0  # bench: the bonus's share
        return out

    def _log_bonus(self, bonus: np.ndarray, correct: np.ndarray, keys) -> None:
        """Bonus statistics and distinct answers per group (solved / unsolved), Spec 3 §3."""
        from obandits.metrics import distinct_answers

        g = self.num_generations
        pids, oids = self.bonus_state.history.observe(keys, self.last_bonus["answers"])
        ok = np.nan_to_num(correct, nan=0.0) >= self.bonus_state.config.correct_threshold
        da = distinct_answers(np.arange(len(keys)) // g, oids, ok)
        m = self._metrics["train"]
        m["bonus/mean"].append(float(bonus.mean()))
        m["bonus/abs_mean"].append(float(np.abs(bonus).mean()))
        for name, val in (("all", da.all), ("solved", da.solved), ("unsolved", da.unsolved)):
            if val is not None and np.isfinite(val):
                m[f"distinct/{name}"].append(float(val))
        so_far = sum(len(a) for a in self.bonus_state.history.index.answers)
        m["distinct/so_far"].append(float(so_far))

    # ---- checkpoints -------------------------------------------------------------------------

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            path = os.path.join(self._get_output_dir(trial=trial), folder, COUNTS_FILE)
            self.bonus_state.history.save(path)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, COUNTS_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} missing: the checkpoint was not written by "
                                    f"OutcomeBonusGRPOTrainer, resuming would restart the answer "
                                    f"counts from zero")
        self.bonus_state.history = History.load(path)


def load_trl_model(spec: str = "default", *, dtype: str = "auto", device: str = "auto",
                   seed: int = 0):
    """``(model, tokenizer)`` from :func:`llm_bridge.models.load_model`, usable by TRL.

    The embedded SmolLM2 GGUF is de-quantised to float but transformers leaves quantizer
    markers on it, and the HF Trainer then refuses to train a "purely quantized" model
    (Spec 3 §5): the markers are cleared here."""
    from .models import load_model

    model, tok, _ = load_model(spec, device=device, dtype=dtype, seed=seed)
    for attr, cleared in (("hf_quantizer", None), ("is_quantized", False),
                          ("quantization_method", None)):
        if getattr(model, attr, None):
            try:
                setattr(model, attr, cleared)
            except AttributeError:  # a read-only property derived from hf_quantizer
                pass
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    if getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None:
        raise RuntimeError(f"could not clear the quantizer markers of {spec!r}: the HF Trainer "
                           f"would refuse it as a quantized model")
    return model, tok
