"""GRPO with outcome-based exploration bonuses on a transformers causal LM (Spec 3 §3).

One training step:

1. draw ``prompts_per_step`` training problems (seeded NumPy generator);
2. sample ``n_rollouts`` completions per prompt: batched, left-padded prompts with attention
   masks, KV-cached sampling from a dedicated (checkpointed) torch generator;
3. extract and canonicalise each answer (:mod:`llm_bridge.answers`), verifiable reward 1/0;
4. map canonical answers to per-prompt outcome ids with :class:`obandits.counts.History` and
   compute ``A_i = Â_i + B_i`` with :func:`obandits.bonuses.advantages_with_history` -- the same
   code the simulators use (Spec 1 §2); with answer-token masking the bonus part is applied to
   the reasoning tokens only;
5. clipped policy-gradient loss over completion tokens, optional KL to a frozen reference model
   (the ``k3`` estimator), gradient accumulation over micro-batches, AdamW.

A checkpoint holds model, optimizer, both RNG states, the step counter and the answer-count
History, so a resumed run continues exactly as an uninterrupted one (tested).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from obandits import _validate as v
from obandits.bonuses import BonusConfig, advantages_with_history
from obandits.counts import History
from obandits.fileio import atomic_write
from obandits.metrics import PASS_K, distinct_answers, mean_token_entropy, pass_at_k_curve

from .answers import answer_key, extract_answer, is_correct
from .tasks import Problem, chat_prompt

CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "llm_bridge.checkpoint", 2  # 2: config.bonus nested
LOSS_AGGS = ("token", "sequence")


def _help(text: str, **extra) -> dict:
    """Field metadata: the help text the command line shows (flags are generated from it)."""
    return {"help": text, **extra}


@dataclass(frozen=True)
class TrainConfig:
    """Validated trainer settings; each field's help is in its metadata (``--help`` shows it).

    The bonus travels as one :class:`obandits.bonuses.BonusConfig` (Spec 1 §2), unchanged from
    the command line to :func:`obandits.bonuses.advantages_with_history`.
    """

    bonus: BonusConfig = field(default_factory=BonusConfig, metadata=_help(
        "exploration bonus (Spec 1 §2); method none = plain GRPO"))
    mask_answer_bonus: bool = field(default=False, metadata=_help(
        "apply the bonus to reasoning tokens only, not the final answer's"))
    prompts_per_step: int = field(default=4, metadata=_help("prompts drawn per training step"))
    n_rollouts: int = field(default=8, metadata=_help("rollouts per prompt (group size)"))
    max_new_tokens: int = field(default=128, metadata=_help("completion length limit"))
    temperature: float = field(default=1.0, metadata=_help("sampling temperature (> 0)"))
    top_p: float = field(default=1.0, metadata=_help(
        "nucleus sampling; must be 1.0 for training (the update needs exact log-probs)"))
    gen_batch: int = field(default=32, metadata=_help("sequences per generation call"))
    lr: float = field(default=1e-6, metadata=_help("AdamW learning rate"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    clip_eps: float = field(default=0.2, metadata=_help("PPO clip range of the ratio"))
    kl_beta: float = field(default=0.0, metadata=_help(
        "KL weight to the frozen initial model (0: no reference model)"))
    ppo_epochs: int = field(default=1, metadata=_help("updates per generated batch"))
    micro_batch: int = field(default=8, metadata=_help(
        "sequences per backward pass (gradients accumulate over the batch)"))
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient-norm clip"))
    loss_agg: str = field(default="token", metadata=_help(
        "token: mean over all completion tokens of the batch; sequence: mean over sequences "
        "of the per-sequence token mean", choices=LOSS_AGGS))
    amp: bool = field(default=False, metadata=_help(
        "bfloat16 autocast for forward passes, float32 weights (use with --dtype float32 on "
        "GPU: pure bfloat16 weights lose updates as small as lr = 1e-6)"))
    seed: int = field(default=0, metadata=_help(
        "seed of the task, prompt order, sampling and the tiny model's init"))

    def __post_init__(self) -> None:
        if not isinstance(self.bonus, BonusConfig):
            raise ValueError(f"bonus must be an obandits.bonuses.BonusConfig, got "
                             f"{type(self.bonus).__name__}")
        if not isinstance(self.amp, bool):
            raise ValueError(f"amp must be a bool, got {self.amp!r}")
        if not isinstance(self.mask_answer_bonus, bool):
            raise ValueError(f"mask_answer_bonus must be a bool, got {self.mask_answer_bonus!r}")
        for name in ("prompts_per_step", "n_rollouts", "max_new_tokens", "gen_batch",
                     "ppo_epochs", "micro_batch"):
            v.int_scalar(name, getattr(self, name), min_value=1)
        v.finite_scalar("temperature", self.temperature, min_value=0.0, strict_min=True)
        v.finite_scalar("top_p", self.top_p, min_value=0.0, strict_min=True, max_value=1.0)
        if self.top_p < 1.0:  # the update needs the sampled distribution's exact log-probs
            raise ValueError(f"top_p must be 1.0 for training (a truncated sampler makes the "
                             f"policy-gradient update off-policy), got {self.top_p}")
        v.finite_scalar("lr", self.lr, min_value=0.0)
        v.finite_scalar("weight_decay", self.weight_decay, min_value=0.0)
        v.finite_scalar("clip_eps", self.clip_eps, min_value=0.0, strict_min=True)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0)
        v.finite_scalar("max_grad_norm", self.max_grad_norm, min_value=0.0, strict_min=True)
        v.choice("loss_agg", self.loss_agg, LOSS_AGGS)
        v.int_scalar("seed", self.seed, min_value=0)

    @property
    def method(self) -> str:
        return self.bonus.method


@dataclass
class Rollouts:
    """A generated batch: prompt ids (left-padded) and completion ids (right-padded)."""

    prompt_ids: torch.Tensor       # (B, P)
    prompt_mask: torch.Tensor      # (B, P) 1 = real token
    completion_ids: torch.Tensor   # (B, T)
    completion_mask: torch.Tensor  # (B, T) 1 = generated token (up to and including EOS)
    texts: list[str]
    gen_seconds: float

    @property
    def n_tokens(self) -> int:
        return int(self.completion_mask.sum())


def _sample(logits: torch.Tensor, temperature: float, top_p: float,
            gen: torch.Generator) -> torch.Tensor:
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sp, si = probs.sort(dim=-1, descending=True)
        drop = sp.cumsum(-1) - sp > top_p  # keep the smallest prefix with mass >= top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


def _stop_ids(model, tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id}
    gc = model.generation_config
    eos = getattr(gc, "eos_token_id", None) if gc else None
    ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    return sorted(i for i in ids if i is not None)


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], *, max_new_tokens: int, temperature: float,
             top_p: float, gen: torch.Generator) -> Rollouts:
    """Sample one completion per prompt (batched, left padding, KV cache, stops at EOS)."""
    from transformers import DynamicCache

    dev = next(model.parameters()).device
    t0 = time.perf_counter()
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids, am = enc["input_ids"].to(dev), enc["attention_mask"].to(dev)
    pos = (am.cumsum(-1) - 1).clamp(min=0)
    stop = torch.tensor(_stop_ids(model, tokenizer), device=dev)
    pad = tokenizer.pad_token_id
    out = model(input_ids=ids, attention_mask=am, position_ids=pos,
                past_key_values=DynamicCache(), use_cache=True)
    last_pos = pos[:, -1:]
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=dev)
    toks, masks = [], []
    for _ in range(max_new_tokens):
        nxt = _sample(out.logits[:, -1, :], temperature, top_p, gen)
        nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
        toks.append(nxt)
        masks.append(~finished)
        finished = finished | torch.isin(nxt, stop)
        if bool(finished.all()):
            break
        am = torch.cat([am, torch.ones_like(am[:, :1])], dim=1)
        last_pos = last_pos + 1
        out = model(input_ids=nxt[:, None], attention_mask=am, position_ids=last_pos,
                    past_key_values=out.past_key_values, use_cache=True)
    comp = torch.stack(toks, dim=1)
    cmask = torch.stack(masks, dim=1).long()
    texts = [tokenizer.decode(row[m.bool()].tolist(), skip_special_tokens=True)
             for row, m in zip(comp.cpu(), cmask.cpu())]
    return Rollouts(enc["input_ids"].to(dev), enc["attention_mask"].to(dev), comp, cmask, texts,
                    time.perf_counter() - t0)


def rollouts_from_texts(tokenizer, prompts: list[str], completions: list[str],
                        device="cpu") -> Rollouts:
    """Rollouts for given completion texts (each followed by EOS), laid out as :func:`generate`
    lays out sampled ones: for scoring fixed completions and for tests."""
    if len(prompts) != len(completions):
        raise ValueError(f"prompts and completions must have the same length, got "
                         f"{len(prompts)} and {len(completions)}")
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    rows = [tokenizer(c, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            for c in completions]
    T = max(len(r) for r in rows)
    comp = torch.full((len(rows), T), tokenizer.pad_token_id, dtype=torch.long)
    cmask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        comp[i, : len(r)] = torch.tensor(r)
        cmask[i, : len(r)] = 1
    texts = [tokenizer.decode(r, skip_special_tokens=True) for r in rows]
    return Rollouts(enc["input_ids"].to(device), enc["attention_mask"].to(device),
                    comp.to(device), cmask.to(device), texts, 0.0)


def _bisect(pred, n: int) -> int:
    """Smallest ``k`` in ``[0, n)`` with ``pred(k)`` (``pred`` monotone), else ``n``."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _span_tokens(tokenizer, toks: list[int], start: int, stop: int) -> list[int]:
    """Indices of the tokens whose decoded characters overlap ``[start, stop)``."""
    memo = {0: 0}

    def end(k):  # decoded length of toks[:k]
        if k not in memo:
            memo[k] = len(tokenizer.decode(toks[:k], skip_special_tokens=True))
        return memo[k]

    k0 = _bisect(lambda k: end(k + 1) > start, len(toks))
    k1 = _bisect(lambda k: end(k + 1) >= stop, len(toks))
    # Tokens that decode to nothing (part of a multi-byte character) are left out.
    return [k for k in range(k0, min(k1, len(toks) - 1) + 1) if end(k + 1) > end(k)]


def answer_token_mask(tokenizer, completion_ids: torch.Tensor,
                      completion_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: the completion tokens that overlap the extracted final answer's characters
    (Spec 1 §2, answer-token masking). Token ``k`` covers the characters between the decoded
    lengths of the prefixes ``toks[:k]`` and ``toks[:k+1]``; those lengths do not decrease with
    ``k``, so the first and last answer tokens are found by bisection (O(log T) decodes)."""
    out = torch.zeros(completion_ids.shape, dtype=torch.bool)
    for b, (row, m) in enumerate(zip(completion_ids.cpu(), completion_mask.cpu())):
        toks = row[m.bool()].tolist()
        ex = extract_answer(tokenizer.decode(toks, skip_special_tokens=True))
        if ex is not None and ex.end > ex.start:
            for k in _span_tokens(tokenizer, toks, ex.start, ex.end):
                out[b, k] = True
    return out.to(completion_ids.device)


def completion_logprobs(model, r: Rollouts, rows: slice | torch.Tensor, *,
                        entropy: bool = False, temperature: float = 1.0):
    """Per-token log-probabilities (and optionally entropies, nats) of the completion tokens of
    ``rows`` under ``softmax(logits / temperature)`` -- the distribution they were sampled
    from -- from one forward pass over prompt + completion."""
    p_ids, p_mask = r.prompt_ids[rows], r.prompt_mask[rows]
    c_ids, c_mask = r.completion_ids[rows], r.completion_mask[rows]
    ids = torch.cat([p_ids, c_ids], dim=1)
    am = torch.cat([p_mask, c_mask], dim=1)
    pos = (am.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=am, position_ids=pos, use_cache=False).logits
    logits = logits[:, p_ids.shape[1] - 1: -1, :].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, c_ids.unsqueeze(-1)).squeeze(-1)
    if not entropy:
        return logp, None
    with torch.no_grad():  # torch twin of obandits.metrics.token_entropy (tested equal)
        p = logp_all.exp()
        ent = -torch.where(p > 0, p * logp_all, torch.zeros_like(p)).sum(-1)  # -inf logits
    return logp, ent


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


class GRPOTrainer:
    """GRPO + outcome-based exploration on a causal LM (module docstring has the algorithm)."""

    def __init__(self, model, tokenizer, train: list[Problem], config: TrainConfig = TrainConfig(),
                 *, ref_model=None):
        if not train:
            raise ValueError("train must hold at least one problem")
        if config.kl_beta > 0 and ref_model is None:
            raise ValueError(f"kl_beta={config.kl_beta} > 0 needs a ref_model (frozen copy of "
                             f"the initial policy)")
        self.model, self.tokenizer, self.train, self.config = model, tokenizer, train, config
        self.ref_model = ref_model
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
        self.device = next(model.parameters()).device
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.gen = torch.Generator(device=self.device).manual_seed(config.seed)
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, 1])))
        self.history = History()
        self.solved: set[str] = set()
        self.step_count = 0
        self.samples_seen = 0
        self.last_batch: dict | None = None

    # ---------------------------------------------------------------- sampling and scoring
    def _choose(self) -> list[Problem]:
        k = self.config.prompts_per_step
        idx = self.rng.choice(len(self.train), size=k, replace=k > len(self.train))
        return [self.train[int(i)] for i in idx]

    def _generate(self, prompts: list[str], gen: torch.Generator) -> Rollouts:
        cfg = self.config
        parts = []
        for s in range(0, len(prompts), cfg.gen_batch):
            with _autocast(self.device, cfg.amp):
                parts.append(generate(self.model, self.tokenizer, prompts[s: s + cfg.gen_batch],
                                      max_new_tokens=cfg.max_new_tokens,
                                      temperature=cfg.temperature, top_p=cfg.top_p, gen=gen))
        return _concat(parts, self.tokenizer.pad_token_id)

    # ---------------------------------------------------------------- one step
    def step(self) -> dict:
        """One GRPO update; returns the step's log record."""
        cfg = self.config
        t0 = time.perf_counter()
        problems = self._choose()
        n = cfg.n_rollouts
        prompts = [chat_prompt(self.tokenizer, p.prompt) for p in problems for _ in range(n)]
        self.model.eval()
        roll = self._generate(prompts, self.gen)
        keys = [answer_key(t) for t in roll.texts]
        golds = [p.gold for p in problems for _ in range(n)]
        reward = np.array([float(is_correct(k, g)) for k, g in zip(keys, golds)])
        group = np.repeat(np.arange(len(problems)), n)
        prompt_keys = [p.id for p in problems for _ in range(n)]

        t_bonus = time.perf_counter()
        pids, oids = self.history.observe(prompt_keys, keys)
        count_before = self.history.table.lookup(pids, oids)
        adv = advantages_with_history(self.history.table, pids, group, oids, reward,
                                      cfg.bonus)
        bonus_seconds = time.perf_counter() - t_bonus

        cmask = roll.completion_mask.bool()
        grpo_t = torch.tensor(adv.grpo, dtype=torch.float32, device=self.device)[:, None]
        bonus_t = torch.tensor(adv.bonus, dtype=torch.float32, device=self.device)[:, None]
        ans_mask = None
        if cfg.mask_answer_bonus:
            ans_mask = answer_token_mask(self.tokenizer, roll.completion_ids, roll.completion_mask)
            token_adv = grpo_t + bonus_t * (~ans_mask).float()
        else:
            token_adv = (grpo_t + bonus_t).expand_as(roll.completion_ids).clone()
        token_adv = token_adv * cmask.float()

        stats = self._update(roll, token_adv)
        step_seconds = time.perf_counter() - t0

        correct = reward >= 1.0
        for p, ok in zip(prompt_keys, correct):
            if ok:
                self.solved.add(p)
        self.samples_seen += len(keys)
        self.step_count += 1
        da = distinct_answers(group, oids, correct)
        ent = mean_token_entropy(stats.pop("entropy"), roll.completion_mask.cpu().numpy() > 0,
                                 correct)
        self.last_batch = {"prompt_keys": prompt_keys, "answers": keys, "reward": reward,
                           "group": group, "outcome": oids, "count": count_before,
                           "advantage": adv, "token_advantage": token_adv.detach().cpu(),
                           "answer_mask": None if ans_mask is None else ans_mask.cpu(),
                           "texts": roll.texts}
        nz = adv.bonus != 0
        return {
            "kind": "train", "step": self.step_count, "method": cfg.bonus.method,
            "samples_seen": self.samples_seen,
            "reward": float(reward.mean()), "pass@1": float(reward.mean()),
            "unparseable": float(np.mean([k is None for k in keys])),
            "distinct_all": da.all, "distinct_solved": da.solved,
            "distinct_unsolved": da.unsolved, "groups_solved": da.n_solved,
            "entropy_all": ent.all, "entropy_correct": ent.correct,
            "entropy_incorrect": ent.incorrect,
            "bonus_mean": float(adv.bonus.mean()), "bonus_std": float(adv.bonus.std()),
            "bonus_min": float(adv.bonus.min()), "bonus_max": float(adv.bonus.max()),
            "bonus_nonzero": float(nz.mean()),
            "grpo_abs_mean": float(np.abs(adv.grpo).mean()),
            "train_solved_so_far": len(self.solved),
            "distinct_so_far": int(sum(len(a) for a in self.history.index.answers)),
            "completion_tokens": roll.n_tokens,
            "mean_completion_len": roll.n_tokens / len(keys),
            "gen_tokens_per_s": roll.n_tokens / max(roll.gen_seconds, 1e-9),
            "gen_seconds": roll.gen_seconds, "bonus_seconds": bonus_seconds,
            "sample_completion": roll.texts[0][:400], "sample_answer": keys[0],
            "step_seconds": step_seconds, **stats,
        }

    def _update(self, roll: Rollouts, token_adv: torch.Tensor) -> dict:
        cfg = self.config
        B = roll.completion_ids.shape[0]
        mask = roll.completion_mask.float()
        n_tok = mask.sum().clamp(min=1.0)
        slices = [slice(s, min(s + cfg.micro_batch, B)) for s in range(0, B, cfg.micro_batch)]
        old_logp = ref_logp = None
        if cfg.ppo_epochs > 1 or cfg.kl_beta > 0:
            with torch.no_grad(), _autocast(self.device, cfg.amp):
                if cfg.ppo_epochs > 1:
                    old_logp = torch.cat([completion_logprobs(self.model, roll, s,
                                                              temperature=cfg.temperature)[0]
                                          for s in slices])
                if cfg.kl_beta > 0:
                    ref_logp = torch.cat([completion_logprobs(self.ref_model, roll, s,
                                                              temperature=cfg.temperature)[0]
                                          for s in slices])
        # eval mode: dropout off, so the update sees the policy that sampled (as TRL does)
        self.model.eval()
        entropy = torch.zeros_like(mask)
        t0 = time.perf_counter()
        loss_sum = kl_sum = clip_sum = 0.0
        grad_norm = 0.0
        nonfinite = 0
        for epoch in range(cfg.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            for s in slices:
                with _autocast(self.device, cfg.amp):
                    logp, ent = completion_logprobs(self.model, roll, s, entropy=epoch == 0,
                                                    temperature=cfg.temperature)
                if ent is not None:
                    entropy[s] = ent
                old = old_logp[s] if old_logp is not None else logp.detach()
                ratio = torch.exp((logp - old).clamp(max=20.0))  # no inf * 0 = NaN below
                a = token_adv[s]
                per_tok = -torch.minimum(ratio * a,
                                         ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * a)
                m = mask[s]
                if ref_logp is not None:
                    d = (ref_logp[s] - logp).clamp(max=20.0)
                    kl = torch.exp(d) - d - 1.0  # k3 estimator of KL(pi || pi_ref)
                    per_tok = per_tok + cfg.kl_beta * kl
                    kl_sum += float((kl.detach() * m).sum())
                per_tok = per_tok.masked_fill(m == 0, 0.0)  # padding never reaches the loss
                if cfg.loss_agg == "token":
                    loss = (per_tok * m).sum() / n_tok
                else:
                    loss = ((per_tok * m).sum(-1) / m.sum(-1).clamp(min=1.0)).sum() / B
                loss.backward()
                loss_sum += float(loss.detach())
                # clip active: the clipped term is the one min() picked, strictly
                clipped = (ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * a
                           < ratio * a).float()
                clip_sum += float((clipped * m).sum())
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                             cfg.max_grad_norm))
            if not math.isfinite(grad_norm):  # never write NaN into the weights
                nonfinite += 1
                self.optimizer.zero_grad(set_to_none=True)
                continue
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss_sum / cfg.ppo_epochs, "grad_norm": grad_norm,
                "kl": kl_sum / float(n_tok) / cfg.ppo_epochs if ref_logp is not None else None,
                "nonfinite_grad_epochs": nonfinite,
                "clip_frac": clip_sum / float(n_tok) / cfg.ppo_epochs,
                "update_seconds": time.perf_counter() - t0,
                "entropy": entropy.detach().cpu().numpy()}

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, problems: list[Problem], n_samples: int = 32, ks=PASS_K,
                 seed: int | None = None) -> dict:
        """Held-out pass@k (unbiased, :func:`obandits.metrics.pass_at_k_curve`) for the ``ks``
        not above ``n_samples``, plus distinct answers per problem. Sampling uses its own
        generator seeded from (seed, step) so evaluation never changes the training stream."""
        v.int_scalar("n_samples", n_samples, min_value=1)
        seed = self.config.seed if seed is None else seed
        gen = torch.Generator(device=self.device).manual_seed(
            int(np.random.SeedSequence([seed, 2, self.step_count]).generate_state(1)[0]))
        self.model.eval()
        prompts = [chat_prompt(self.tokenizer, p.prompt) for p in problems
                   for _ in range(n_samples)]
        t0 = time.perf_counter()
        roll = self._generate(prompts, gen)
        keys = [answer_key(t) for t in roll.texts]
        golds = [p.gold for p in problems for _ in range(n_samples)]
        correct = np.array([is_correct(k, g) for k, g in zip(keys, golds)])
        c = correct.reshape(len(problems), n_samples).sum(axis=1)
        group = np.repeat(np.arange(len(problems)), n_samples)
        idx = History()
        _, oids = idx.observe([p.id for p in problems for _ in range(n_samples)], keys)
        da = distinct_answers(group, oids, correct)
        curve = pass_at_k_curve(np.full(len(problems), n_samples), c,
                                ks=[k for k in ks if k <= n_samples])
        return {"kind": "eval", "step": self.step_count, "method": self.config.method,
                "n_problems": len(problems), "n_samples": n_samples,
                "pass@k": {str(k): val for k, val in curve.items()},
                "distinct_all": da.all, "distinct_solved": da.solved,
                "distinct_unsolved": da.unsolved,
                "unparseable": float(np.mean([k is None for k in keys])),
                "eval_seconds": time.perf_counter() - t0,
                "gen_tokens_per_s": roll.n_tokens / max(roll.gen_seconds, 1e-9)}

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                "config": dataclasses.asdict(self.config),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "torch_generator": self.gen.get_state(),
                "numpy_rng": self.rng.bit_generator.state,
                "history": self.history.to_dict(), "solved": sorted(self.solved),
                "step": self.step_count, "samples_seen": self.samples_seen}

    def save(self, path) -> None:
        """Write a checkpoint atomically (temporary file, fsync, rename): a kill at any moment
        leaves either the previous checkpoint or the new one, never half a file."""
        state = self.state_dict()
        atomic_write(path, lambda fh: torch.save(state, fh), mkdir=True)

    def load(self, path) -> None:
        """Restore a checkpoint written by :meth:`save` (config must match). Every way a file
        can be wrong -- missing, truncated, garbage, another format, another config, weights
        of another model -- is a one-line error naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as exc:  # zip/pickle/EOF errors of a cut or foreign file
            raise ValueError(f"{path}: not a readable checkpoint (truncated or not written by "
                             f"llm_bridge: {_first_line(exc)})") from None
        if (not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT
                or state.get("version") != CHECKPOINT_VERSION):
            raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION} file")
        mine = dataclasses.asdict(self.config)
        if state["config"] != mine:
            diff = {k: (state["config"].get(k), mine[k]) for k in mine
                    if state["config"].get(k) != mine[k]}
            raise ValueError(f"{path}: checkpoint config differs from this run's (saved, now): "
                             f"{diff}")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:  # another architecture or width
            raise ValueError(f"{path}: the checkpoint's weights do not fit this model (was it "
                             f"saved with another --model?): {_first_line(exc)}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["torch_generator"].cpu())
        self.rng.bit_generator.state = state["numpy_rng"]
        self.history = History.from_dict(state["history"], source=f"{path} (history)")
        self.solved = set(state["solved"])
        self.step_count = int(state["step"])
        self.samples_seen = int(state["samples_seen"])


def _first_line(exc: BaseException, width: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= width else line[: width - 3] + "..."


def _concat(parts: list[Rollouts], pad: int) -> Rollouts:
    """Join generation chunks: re-pad prompts on the left and completions on the right."""
    if len(parts) == 1:
        return parts[0]
    P = max(r.prompt_ids.shape[1] for r in parts)
    T = max(r.completion_ids.shape[1] for r in parts)

    def left(x, width, value):
        return torch.nn.functional.pad(x, (width - x.shape[1], 0), value=value)

    def right(x, width, value):
        return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

    return Rollouts(torch.cat([left(r.prompt_ids, P, pad) for r in parts]),
                    torch.cat([left(r.prompt_mask, P, 0) for r in parts]),
                    torch.cat([right(r.completion_ids, T, pad) for r in parts]),
                    torch.cat([right(r.completion_mask, T, 0) for r in parts]),
                    [t for r in parts for t in r.texts], sum(r.gen_seconds for r in parts))
