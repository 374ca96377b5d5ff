"""llm_bridge.verl_bonus on CPU with hand-built tensors, without verl (the main environment
does not hold it); tests/test_verl_ray.py runs the same code inside real verl 0.9.1."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from llm_bridge import verl_bonus as vb
from obandits.bonuses import BonusConfig, shaped_advantages
from obandits.counts import History
from obandits.testing import check_advantage_fn


@pytest.fixture(autouse=True)
def fresh_state():
    vb.reset_counts()
    vb.configure(BonusConfig(c=0.2, b0=0.5))
    yield
    vb.reset_counts()


def verl_grpo(scores, index, norm=True, eps=1e-6):
    """verl 0.9.1's compute_grpo_outcome_advantage loop, as documented (torch.std, ddof 1)."""
    out = scores.clone()
    for u in set(index):
        rows = [i for i, x in enumerate(index) if x == u]
        s = scores[rows]
        out[rows] = (s - s.mean()) / (s.std() + eps) if norm else s - s.mean()
    return out


def hand_batch():
    uid = np.array(["u7"] * 4 + ["u3"] * 4, dtype=object)  # verl's fresh per-step uuids
    prompts = ["q0"] * 4 + ["q1"] * 4                       # extra_info.index, stable
    answers = [5, 5, 7, None, 12, 12, 12, 3]
    scores = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    tlr = torch.zeros(8, 5)
    tlr[:, -1] = scores                                     # outcome reward on the last token
    mask = torch.ones(8, 5)
    mask[0, 3:] = 0
    return uid, prompts, answers, scores, tlr, mask


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("method", sorted(vb.ESTIMATORS))
def test_estimator_is_verl_grpo_plus_obandits_bonus(method, norm):
    uid, prompts, answers, scores, tlr, mask = hand_batch()
    hist = History()
    hist.update(["q1"] * 3, [12, 12, 3])  # earlier steps
    vb.STATE.history = hist
    before = hist.lookup(prompts, answers)
    adv, ret = vb.ESTIMATOR_FNS[method](tlr, mask, index=uid, config={"x": 1},
                                        norm_adv_by_std_in_grpo=norm, answers=answers,
                                        prompts=prompts)
    assert adv.shape == (8, 5) and torch.equal(adv, ret)
    assert (adv[mask == 0] == 0).all()
    group = np.repeat([0, 1], 4)
    outcome = np.array([0, 0, 1, 2, 0, 0, 0, 1])
    cfg = BonusConfig(method=method, c=0.2, b0=0.5, scale="group" if norm else "none", ddof=1,
                      eps=1e-6)
    exp = shaped_advantages(group, outcome, scores.numpy(), before, cfg)
    np.testing.assert_allclose(adv[:, 0].numpy(), exp.total, rtol=1e-6, atol=1e-6)
    grpo = verl_grpo(scores, list(uid), norm)
    np.testing.assert_allclose(adv[:, 0].numpy() - exp.bonus, grpo.numpy(), atol=1e-6)
    assert vb.STATE.history.lookup(["q1"], [12])[0] == 2 + 3  # the batch was counted


def test_estimator_checked_with_obandits_testing():
    """What docs/verl.md shows a user doing with a hand-written verl estimator."""

    def as_flat(group, outcome, reward, count, cfg):
        prompts = [f"x{g}" for g in group]
        hist = History()  # a history holding exactly the batch's counts N(x, a)
        for p, o, c in zip(prompts, outcome.tolist(), count.tolist()):
            if hist.lookup([p], [o])[0] == 0:
                hist.update([p] * c, [o] * c)
        tlr = torch.tensor(reward, dtype=torch.float64)[:, None]
        adv, _ = vb.bonus_advantage(cfg.method, tlr, torch.ones_like(tlr), group,
                                    outcome.tolist(), prompts,
                                    norm_adv_by_std_in_grpo=cfg.scale == "group",
                                    bonus=cfg, history=hist, update=False)
        return adv[:, 0].numpy()

    check_advantage_fn(as_flat, methods=("ucb", "ucb-mean", "ucb-con", "batch"),
                       scales=("group", "none"), ddofs=(1,), eps=(1e-6,), max_examples=60)


class FakeData:
    def __init__(self, tlr, mask, ntb):
        self.batch = {"token_level_rewards": tlr, "response_mask": mask}
        self.non_tensor_batch = ntb


def test_compute_advantage_wrapper_and_compute_score():
    uid, prompts, answers, scores, tlr, mask = hand_batch()
    score = vb.make_compute_score()
    texts = [f"so \\boxed{{{a}}}" if a is not None else "no idea" for a in answers]
    outs = [score("arith", t, "5" if i < 4 else "3", extra_info={"index": p})
            for i, (t, p) in enumerate(zip(texts, prompts))]
    assert [o["score"] for o in outs] == [1, 1, 0, 0, 0, 0, 0, 1]
    assert [json.loads(o[vb.ANSWER_FIELD]) for o in outs] == answers
    ntb = {"uid": uid, vb.ANSWER_FIELD: np.array([o[vb.ANSWER_FIELD] for o in outs], object),
           vb.PROMPT_FIELD: np.array([o[vb.PROMPT_FIELD] for o in outs], object)}
    calls = []
    wrapped = vb.make_compute_advantage(lambda data, est, **kw: calls.append(est) or data)
    data = wrapped(FakeData(tlr, mask, ntb), "ucb-con", config=None)
    exp, _ = vb.bonus_advantage("ucb-con", tlr, mask, uid, answers, prompts,
                                history=History(), update=False)
    np.testing.assert_allclose(data.batch["advantages"].numpy(), exp.numpy(), atol=1e-7)
    wrapped(FakeData(tlr, mask, ntb), "grpo")
    assert calls == ["grpo"]  # other estimators go to verl's own function
    with pytest.raises(ValueError, match="obandits_answer"):
        wrapped(FakeData(tlr, mask, {"uid": uid}), "batch")
    with pytest.raises(ValueError, match="extra_info\\['index'\\]"):
        score("arith", "x", "1", extra_info={})
    with pytest.raises(ValueError, match="verl_plugin"):
        vb.ESTIMATOR_FNS["ucb"](tlr, mask, index=uid)
    with pytest.raises(ValueError, match="BonusConfig"):
        vb.configure({"c": 0.2})


def test_counts_saved_and_loaded_with_verl_checkpoints(tmp_path):
    """The folder read is the one verl resumes from: auto -> the latest, resume_path -> the
    given one; a fresh start (disable, or auto with no checkpoint) has zero counts."""
    trainer_cfg = SimpleNamespace(default_local_dir=str(tmp_path), resume_mode="auto",
                                  resume_from_path=None)
    latest = {"path": None}

    class Trainer:  # the two methods of verl's trainers we wrap
        def __init__(self, step):
            self.global_steps = step
            self.config = SimpleNamespace(trainer=trainer_cfg)

        def _save_checkpoint(self):
            folder = tmp_path / f"global_step_{self.global_steps}"
            assert (folder / vb.COUNTS_FILE).is_file()  # written before verl's tracker file
            latest["path"] = str(folder)

        def _load_checkpoint(self):
            return self.global_steps

    vb.patch_checkpoints(Trainer, find_latest=lambda base: latest["path"])
    vb.patch_checkpoints(Trainer)  # idempotent
    vb.STATE.history.update(["q0"], [5])
    Trainer(0)._load_checkpoint()  # auto, nothing saved: fresh start
    assert vb.STATE.history == History()
    vb.STATE.history.update(["q0", "q0"], [5, None])
    at1 = History.from_dict(vb.STATE.history.to_dict())
    Trainer(1)._save_checkpoint()
    vb.STATE.history.update(["q1"], [3])
    at2 = History.from_dict(vb.STATE.history.to_dict())
    Trainer(2)._save_checkpoint()
    vb.reset_counts()
    Trainer(0)._load_checkpoint()
    assert vb.STATE.history == at2  # auto: the latest
    trainer_cfg.resume_mode, trainer_cfg.resume_from_path = "resume_path", str(
        tmp_path / "global_step_1")
    Trainer(0)._load_checkpoint()
    assert vb.STATE.history == at1  # resume_path: that one, not the latest
    trainer_cfg.resume_from_path = str(tmp_path / "global_step_4")
    with pytest.raises(FileNotFoundError, match="obandits_counts.json"):
        Trainer(0)._load_checkpoint()
    trainer_cfg.resume_mode = "disable"
    Trainer(0)._load_checkpoint()
    assert vb.STATE.history == History()
    trainer_cfg.resume_mode = "latest"
    with pytest.raises(ValueError, match="resume_mode"):
        Trainer(0)._load_checkpoint()


def test_single_row_group_is_verl_convention():
    """verl gives a one-row group mean 0 and std 1: r / (1 + eps); obandits' bonus is added
    (a correct single row is an all-correct group: no bonus)."""
    tlr = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    uid, answers, prompts = ["a", "c", "b", "b"], [1, 4, 2, 3], ["x", "z", "y", "y"]
    for norm, g0 in ((True, 1 / (1 + 1e-6)), (False, 1.0)):
        adv, _ = vb.bonus_advantage("ucb-con", tlr, torch.ones_like(tlr), uid, answers, prompts,
                                    norm_adv_by_std_in_grpo=norm, history=History(),
                                    update=False)
        assert adv[0, 0].item() == pytest.approx(g0, abs=1e-7)
        assert adv[1, 0].item() == pytest.approx(0.2 * (1 - 0.5), abs=1e-7)


def test_bonus_settings_from_verl_algorithm_config():
    assert vb.bonus_from_config({"obandits": {"c": 0.3, "b0": 1.0}}).c == 0.3
    assert vb.bonus_from_config({"x": 1}) == vb.STATE.bonus
    with pytest.raises(ValueError, match="unknown keys \\['scale'\\]"):
        vb.bonus_from_config({"obandits": {"scale": "batch"}})
    with pytest.raises(ValueError, match="b0"):
        vb.bonus_from_config({"obandits": {"b0": 2.0}})


def test_registry_decorator_signature():
    """Register with a stand-in of verl's decorator (name -> decorator(fn) -> fn)."""
    registry = {}

    def register_adv_est(name):
        def deco(fn):
            registry[name] = fn
            return fn
        return deco

    vb.register(register_adv_est)
    assert set(registry) == {"ucb", "ucb-mean", "ucb-con", "batch"}

