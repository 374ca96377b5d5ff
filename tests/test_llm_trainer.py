"""The GRPO trainer of the LLM bridge (Spec 3 §3) on the tiny model (CPU, seconds each)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from llm_bridge import train as train_cli
from llm_bridge.answers import is_correct
from llm_bridge.models import load_model, load_tokenizer, tiny_model
from llm_bridge.tasks import arithmetic_task, chat_prompt
from llm_bridge.trainer import (
    GRPOTrainer,
    TrainConfig,
    completion_logprobs,
    generate,
    rollouts_from_texts,
)
from obandits.bonuses import METHODS, BonusConfig, shaped_advantages
from obandits.counts import History
from obandits.metrics import token_entropy

TRAIN, TEST = arithmetic_task(24, 6, seed=0)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny")  # cached: the GGUF tokenizer loads once per process


BONUS_FIELDS = {f.name for f in dataclasses.fields(BonusConfig)}


def small(**kw):
    """A small TrainConfig; bonus fields (method, c, ...) go into its one BonusConfig."""
    base = {"prompts_per_step": 2, "n_rollouts": 3, "max_new_tokens": 6, "lr": 1e-3,
            "micro_batch": 4}
    bonus = {k: kw.pop(k) for k in list(kw) if k in BONUS_FIELDS}
    base.update(kw)
    return TrainConfig(bonus=BonusConfig(**bonus), **base)


def scripted(trainer, seed=0):
    """Replace sampling by completions that carry chosen answers (gold, near misses, repeats,
    unparseable), picked with the trainer's own torch generator so RNG state still matters."""
    gold = {chat_prompt(trainer.tokenizer, p.prompt): p.gold for p in trainer.train}

    def fake(prompts, gen):
        texts = []
        for pr in prompts:
            g = gold[pr]
            choices = [f"Adding up gives \\boxed{{{g}}}.", f"I get {g + 1}", f"\\boxed{{{g - 1}}}",
                       "no idea", f"so {g} + 0 = {g}", f"\\boxed{{{g + 1}}} maybe"]
            texts.append(choices[int(torch.randint(len(choices), (1,), generator=gen))])
        return rollouts_from_texts(trainer.tokenizer, prompts, texts, trainer.device)

    trainer._generate = fake
    return trainer


@pytest.mark.parametrize("method", METHODS)
def test_one_step_every_method(tok, method):
    model = tiny_model(tok, seed=1)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = GRPOTrainer(model, tok, TRAIN, small(method=method, mask_answer_bonus=True))
    rec = trainer.step()
    for key in ("reward", "loss", "grad_norm", "entropy_all", "distinct_all", "bonus_mean",
                "gen_tokens_per_s", "step_seconds"):
        assert rec[key] is not None and math.isfinite(rec[key]), key
    assert rec["step"] == 1 and rec["samples_seen"] == 6
    assert trainer.history.table.counts.sum() == 6
    adv = trainer.last_batch["advantage"].total
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert changed == bool(np.any(adv != 0))  # no signal, no update; a signal moves weights


@pytest.mark.parametrize("method,count_mode,mask", [
    ("none", "before", False), ("ucb", "before", False), ("ucb-mean", "before", True),
    ("ucb-con", "before", True), ("ucb-con", "after", False), ("batch", "before", True)])
def test_advantages_equal_obandits_bonuses(tok, method, count_mode, mask):
    cfg = small(method=method, count_mode=count_mode, mask_answer_bonus=mask,
                prompts_per_step=3, n_rollouts=5, c=0.3, b0=0.6)
    trainer = scripted(GRPOTrainer(tiny_model(tok, seed=2), tok, TRAIN[:3], cfg))
    for _ in range(2):  # prompts repeat across steps, so history counts become non-trivial
        snap = History.from_dict(trainer.history.to_dict())
        trainer.step()
        lb = trainer.last_batch
        golds = {p.id: p.gold for p in TRAIN}
        reward = np.array([float(is_correct(a, golds[k]))
                           for k, a in zip(lb["prompt_keys"], lb["answers"])])
        np.testing.assert_array_equal(reward, lb["reward"])
        pids, oids = snap.observe(lb["prompt_keys"], lb["answers"])
        if count_mode == "after":
            snap.table.update(pids, oids)
        count = snap.table.lookup(pids, oids)
        group = np.repeat(np.arange(3), 5)
        expect = shaped_advantages(group, oids, reward, count, cfg.bonus, backend="numpy")
        np.testing.assert_allclose(lb["advantage"].total, expect.total, atol=1e-9)
        np.testing.assert_allclose(lb["advantage"].bonus, expect.bonus, atol=1e-9)
        if count_mode == "before":
            snap.table.update(pids, oids)
        assert snap == trainer.history  # the trainer counted exactly this batch
        # Per-token advantages: total on reasoning tokens; on the answer's tokens only the GRPO
        # part when masking is on; zero on padding.
        tok_adv, amask = lb["token_advantage"], lb["answer_mask"]
        roll = rollouts_from_texts(tok, ["x"] * len(lb["texts"]), lb["texts"])
        valid = roll.completion_mask.bool()
        for i in range(len(group)):
            row, v = tok_adv[i], valid[i]
            assert torch.all(row[~v[: len(row)]] == 0)
            want = torch.full_like(row, float(expect.total[i]))
            if mask:
                want[amask[i]] = float(expect.grpo[i])
            torch.testing.assert_close(row[v[: len(row)]], want[v[: len(row)]])
    if method == "ucb":
        assert (trainer.last_batch["count"] > 0).any()


def test_answer_mask_covers_the_answer_tokens(tok):
    trainer = scripted(GRPOTrainer(tiny_model(tok), tok, TRAIN[:2],
                                   small(method="ucb-con", mask_answer_bonus=True)))
    trainer.step()
    lb = trainer.last_batch
    for text, row_mask, ids in zip(lb["texts"], lb["answer_mask"],
                                   rollouts_from_texts(tok, ["x"] * 6, lb["texts"]).completion_ids):
        from llm_bridge.answers import extract_answer

        ex = extract_answer(text)
        picked = tok.decode(ids[row_mask[: len(ids)]].tolist())
        if ex is None:
            assert not row_mask.any()
        else:
            assert ex.text.strip() in picked and len(picked) <= len(ex.text) + 4


def test_resume_gives_the_same_next_step(tok, tmp_path):
    cfg = small(method="batch", kl_beta=0.05)

    def fresh(seed=5):
        m = tiny_model(tok, seed=seed)
        ref = tiny_model(tok, seed=5)
        return GRPOTrainer(m, tok, TRAIN, cfg, ref_model=ref)

    a = fresh()
    a.step()
    rec_a = a.step()
    b = fresh()
    b.step()
    b.save(tmp_path / "ck.pt")
    c = fresh(seed=99)  # different initial weights: everything must come from the checkpoint
    c.load(tmp_path / "ck.pt")
    rec_c = c.step()
    for key in rec_a:
        if not key.endswith(("seconds", "tokens_per_s")):
            assert rec_a[key] == rec_c[key], key
    for pa, pc in zip(a.model.parameters(), c.model.parameters()):
        assert torch.equal(pa, pc)
    assert a.history == c.history and a.last_batch["texts"] == c.last_batch["texts"]
    with pytest.raises(ValueError, match="config differs"):
        GRPOTrainer(tiny_model(tok), tok, TRAIN, small(method="ucb")).load(tmp_path / "ck.pt")


def test_left_padding_matches_single_sequence(tok):
    model = tiny_model(tok, seed=3).eval()
    prompts = [chat_prompt(tok, TRAIN[0].prompt), chat_prompt(tok, "What is 1234567 * 89?")]
    gen = torch.Generator().manual_seed(0)
    roll = generate(model, tok, prompts, max_new_tokens=6, temperature=1.0, top_p=0.9, gen=gen)
    assert roll.prompt_mask[0].sum() < roll.prompt_mask[1].sum()  # the first one is padded
    with torch.no_grad():
        both, ent = completion_logprobs(model, roll, slice(0, 2), entropy=True)
        alone = rollouts_from_texts(tok, prompts[:1], ["."])
        alone.completion_ids = roll.completion_ids[:1]
        alone.completion_mask = roll.completion_mask[:1]
        one, _ = completion_logprobs(model, alone, slice(0, 1))
        m = roll.completion_mask[0].bool()
        torch.testing.assert_close(both[0][m], one[0][m], atol=1e-4, rtol=1e-4)
        # The torch entropy equals obandits.metrics.token_entropy on the same logits.
        ids = torch.cat([roll.prompt_ids, roll.completion_ids], 1)
        am = torch.cat([roll.prompt_mask, roll.completion_mask], 1)
        logits = model(input_ids=ids, attention_mask=am,
                       position_ids=(am.cumsum(-1) - 1).clamp(min=0)).logits
        P = roll.prompt_ids.shape[1]
        ref = token_entropy(logits[:, P - 1: -1].double().numpy())
        np.testing.assert_allclose(ent.numpy(), ref, rtol=1e-4, atol=1e-4)
        # With a temperature, log-probs are those of the tempered (sampled) distribution.
        hot, _ = completion_logprobs(model, roll, slice(0, 2), temperature=0.5)
        want = torch.log_softmax(logits[:, P - 1: -1].float() / 0.5, -1).gather(
            -1, roll.completion_ids.unsqueeze(-1)).squeeze(-1)
        sel = m.unsqueeze(0).expand_as(hot) & roll.completion_mask.bool()
        torch.testing.assert_close(hot[sel], want[sel], atol=1e-4, rtol=1e-4)


def test_ppo_epochs_sequence_loss_and_amp(tok):
    trainer = scripted(GRPOTrainer(tiny_model(tok), tok, TRAIN[:3],
                                   small(method="ucb-con", ppo_epochs=2, loss_agg="sequence",
                                         amp=True, lr=0.05)))
    rec = trainer.step()
    assert math.isfinite(rec["loss"]) and 0.0 <= rec["clip_frac"] <= 1.0
    assert rec["clip_frac"] > 0.0  # large lr: second-epoch ratios leave the clip range
    assert next(trainer.model.parameters()).dtype == torch.float32


def test_reported_kl_does_not_scale_with_ppo_epochs(tok):
    kls = []
    for epochs in (1, 3):
        trainer = scripted(GRPOTrainer(tiny_model(tok, seed=2), tok, TRAIN[:3],
                                       small(ppo_epochs=epochs, kl_beta=0.1, lr=0.0),
                                       ref_model=tiny_model(tok, seed=5)))  # KL > 0
        rec = trainer.step()
        assert rec["nonfinite_grad_epochs"] == 0
        kls.append(rec["kl"])
    assert kls[0] > 0 and kls[1] == pytest.approx(kls[0], rel=1e-4)


def test_evaluate_pass_at_k(tok):
    trainer = GRPOTrainer(tiny_model(tok), tok, TRAIN, small())
    before = trainer.gen.get_state().clone()
    ev = trainer.evaluate(TEST[:2], n_samples=4)
    assert set(ev["pass@k"]) == {"1", "2", "4"}
    assert torch.equal(before, trainer.gen.get_state())  # eval leaves training RNG alone


def test_config_and_model_errors(tmp_path):
    with pytest.raises(ValueError, match="method"):
        TrainConfig(bonus=BonusConfig(method="ppo"))
    with pytest.raises(ValueError, match="n_rollouts"):
        TrainConfig(n_rollouts=0)
    with pytest.raises(ValueError, match="top_p must be 1.0 for training"):
        TrainConfig(top_p=0.9)
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        load_model(str(tmp_path / "no_such_model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        load_model(str(tmp_path / "empty"))


def test_train_command_end_to_end_and_resume(tok, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--model", "tiny", "--method", "ucb-con", "--prompts-per-step", "2",
            "--n-rollouts", "3", "--max-new-tokens", "6", "--n-train", "12", "--n-test", "4",
            "--eval-problems", "2", "--eval-samples", "4", "--out", str(out), "--quiet"]
    assert train_cli.main(base + ["--steps", "2", "--save-every", "1"]) == 0
    from llm_bridge.plot import main as plot_main
    from llm_bridge.plot import read_log

    log = read_log(out)
    assert [r["kind"] for r in log] == ["eval", "train", "train", "eval"]
    assert (out / "curves.png").stat().st_size > 0 and (out / "checkpoint.pt").is_file()
    assert train_cli.main(base + ["--steps", "3", "--resume"]) == 0
    log = read_log(out)
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3]
    assert plot_main([str(out), "--out", str(tmp_path / "p.png")]) == 0
    assert "pass@1" in capsys.readouterr().out
    assert train_cli.main(base + ["--model", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert train_cli.main(base + ["--steps", "0"]) == 2
    # Users' own JSONL data, batch method, answer-token masking, no evaluation.
    from llm_bridge.tasks import save_jsonl

    save_jsonl(TRAIN[:5], tmp_path / "mine.jsonl")
    assert train_cli.main(base + ["--task", str(tmp_path / "mine.jsonl"), "--n-test", "2",
                                  "--method", "batch", "--mask-answer-bonus", "--no-eval",
                                  "--steps", "1", "--no-plot",
                                  "--out", str(tmp_path / "mine")]) == 0
    log = read_log(tmp_path / "mine")
    assert [r["kind"] for r in log] == ["train"] and log[0]["method"] == "batch"


@pytest.mark.slow
def test_real_smollm2_one_step(tmp_path):
    model, tok, _ = load_model("default", device="cpu")
    train, _ = arithmetic_task(8, 2, seed=0)
    trainer = GRPOTrainer(model, tok, train, TrainConfig(
        bonus=BonusConfig(method="ucb-con"), prompts_per_step=1, n_rollouts=4, max_new_tokens=48))
    rec = trainer.step()
    assert rec["completion_tokens"] > 0 and math.isfinite(rec["loss"])
    assert rec["unparseable"] < 1.0  # the instruct model does answer with numbers


@pytest.mark.parametrize("text", [
    "Adding gives \\boxed{1234567}.", "so the answer is 42", "é ü \\boxed{\\frac{3}{4}} ok",
    "no number here", "12 then 345678 then \\boxed{ 9 } done", "\\boxed{}"])
def test_answer_mask_bisection_matches_brute_force(tok, text):
    from llm_bridge.answers import extract_answer
    from llm_bridge.trainer import answer_token_mask

    roll = rollouts_from_texts(tok, ["x"], [text])
    got = answer_token_mask(tok, roll.completion_ids, roll.completion_mask)[0]
    toks = roll.completion_ids[0][roll.completion_mask[0].bool()].tolist()
    ex = extract_answer(tok.decode(toks, skip_special_tokens=True))
    want = torch.zeros_like(got)
    if ex is not None and ex.end > ex.start:
        ends = [0] + [len(tok.decode(toks[: k + 1], skip_special_tokens=True))
                      for k in range(len(toks))]
        for k in range(len(toks)):
            want[k] = ends[k] < ex.end and ends[k + 1] > ex.start and ends[k + 1] > ends[k]
    assert torch.equal(got, want)
    assert got.any() == (ex is not None and ex.end > ex.start)
