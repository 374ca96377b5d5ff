"""A multi-problem softmax model of an LLM policy (Spec 1 §4, "RL as a sampling process").

Each problem ``p`` has ``T`` reasoning traces; trace ``t`` ends in answer ``phi[p, t]`` among
``m`` answers, and answer ``a`` pays ``mu[p, a]`` (deterministic verifiable reward by default:
``mu[p, 0] = 1`` for the correct answer, 0 otherwise). The policy is a softmax over traces,

    z[p, t] = l0[p, t] + theta[p, t] + share * sum_f w[f] * x[p, t, f]
    pi(t | p) = softmax_t z[p, t]

* ``l0`` -- the base (pretrained) logits; ``pi_0 = softmax(l0)`` is the base model;
* ``theta`` -- per-problem, per-trace parameters (unshared: an update on ``p`` moves only ``p``);
* ``w`` -- trace-feature weights shared by *all* problems, so sharpening learned on solved
  problems transfers to unsolved ones ("transfer of diversity degradation", claim C1);
* ``x`` -- trace features: ``x[..., 0]`` is the trace's *confidence* (its base logit,
  standardised within the problem: raising ``w[0]`` lowers the temperature everywhere),
  ``x[..., 1]`` a *skill* feature correlated (``skill_corr``) with correctness (real
  generalisation), ``x[..., 2:]`` style features (noise shared across problems);
* ``share`` -- the sharing strength (0: problems are independent).

With ``share = 0`` (or no features) one problem is literally an outcome-based bandit instance
``(K = T, m, phi, mu, p0 = pi_0)`` of Spec 1 §5: :func:`from_bandit_instance` builds that model
from any object with attributes ``K, m, phi, mu, p0, reward``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _validate as v
from ..seeding import cell_sequence

REWARDS = ("deterministic", "bernoulli")
# Floor of a base logit for an arm the base model never samples (p0 = 0): exp(-50) ~ 2e-22.
_LOGIT_FLOOR = -50.0


@dataclass(frozen=True)
class ModelConfig:
    """Generative parameters of the multi-problem policy model; all drawn from ``seed``.

    Attributes:
        n_train: training problems (RL updates them).
        n_test: held-out test problems (moved only through the shared weights ``w``).
        n_traces: traces ``T`` per problem (the bandit's arms).
        n_answers: answers ``m`` per problem (outcomes); answer 0 is the correct one.
        n_style: extra shared style features beyond confidence and skill (>= 0).
        share: strength of trace-parameter sharing across problems (>= 0; 0 = none).
        difficulty_mean: mean of ``logit q_p``, ``q_p`` the base model's probability of the
            correct answer on problem ``p`` (more negative = harder).
        difficulty_sd: spread of ``logit q_p`` across problems (> 0 gives easy and hard ones).
        trace_sd: sd of the per-trace base-logit noise (spread of the base model within a
            problem; larger = a peakier base model).
        wrong_zipf: popularity of wrong answers ``~ 1 / j**wrong_zipf`` (j = 1..m-1); larger
            means a few dominant wrong answers.
        correct_frac: probability that a trace (beyond the guaranteed ones) ends in the correct
            answer before the difficulty shift.
        min_correct_traces: traces guaranteed to end in the correct answer (every problem is
            solvable in principle).
        skill_corr: correlation in [-1, 1] of the skill feature with correctness.
        seed: root seed; the model is a deterministic function of this config.
    """

    n_train: int = 256
    n_test: int = 256
    n_traces: int = 64
    n_answers: int = 12
    n_style: int = 2
    share: float = 1.0
    difficulty_mean: float = -3.0
    difficulty_sd: float = 2.0
    trace_sd: float = 1.0
    wrong_zipf: float = 1.0
    correct_frac: float = 0.03
    min_correct_traces: int = 2
    skill_corr: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        v.int_scalar("n_train", self.n_train, min_value=1)
        v.int_scalar("n_test", self.n_test, min_value=0)
        v.int_scalar("n_traces", self.n_traces, min_value=2)
        v.int_scalar("n_answers", self.n_answers, min_value=2)
        v.int_scalar("n_style", self.n_style, min_value=0)
        v.finite_scalar("share", self.share, min_value=0.0)
        v.finite_scalar("difficulty_mean", self.difficulty_mean, min_value=-20.0,
                        max_value=20.0)
        v.finite_scalar("difficulty_sd", self.difficulty_sd, min_value=0.0, max_value=10.0)
        v.finite_scalar("trace_sd", self.trace_sd, min_value=0.0, max_value=10.0)
        v.finite_scalar("wrong_zipf", self.wrong_zipf, min_value=0.0)
        v.finite_scalar("correct_frac", self.correct_frac, min_value=0.0, max_value=1.0)
        v.int_scalar("min_correct_traces", self.min_correct_traces, min_value=1)
        if self.min_correct_traces >= self.n_traces:
            raise ValueError(f"min_correct_traces must be < n_traces={self.n_traces}, got "
                             f"{self.min_correct_traces}")
        v.finite_scalar("skill_corr", self.skill_corr, min_value=-1.0, max_value=1.0)
        v.int_scalar("seed", self.seed, min_value=0)


@dataclass(frozen=True, eq=False)
class Model:
    """The arrays of a built model (problems ``0..n_train-1`` train, the rest test).

    ``phi`` int64 (P, T); ``mu`` float64 (P, m); ``base_logits`` float64 (P, T); ``feats``
    float64 (P, T, F); ``share`` float; ``reward`` ``deterministic`` | ``bernoulli``;
    ``n_train`` int. ``correct_threshold``: a sample is *correct* when its reward reaches it.
    """

    phi: np.ndarray
    mu: np.ndarray
    base_logits: np.ndarray
    feats: np.ndarray
    share: float
    n_train: int
    reward: str = "deterministic"
    correct_threshold: float = 1.0
    config: ModelConfig | None = field(default=None)

    def __post_init__(self) -> None:
        phi = np.asarray(self.phi)
        if phi.ndim != 2 or not np.issubdtype(phi.dtype, np.integer):
            raise ValueError(f"phi must be a 2-D integer array (problems, traces), got "
                             f"{phi.dtype} {phi.shape}")
        P, T = phi.shape
        mu = v.float_array("mu", self.mu, ndim=2, min_value=0.0)
        if mu.shape[0] != P:
            raise ValueError(f"mu must have {P} rows (one per problem), got {mu.shape}")
        if phi.min() < 0 or phi.max() >= mu.shape[1]:
            raise ValueError(f"phi must map traces to answers in [0, {mu.shape[1]}), got "
                             f"range [{phi.min()}, {phi.max()}]")
        bl = v.float_array("base_logits", self.base_logits, ndim=2)
        if bl.shape != (P, T):
            raise ValueError(f"base_logits must have shape {(P, T)}, got {bl.shape}")
        f = v.float_array("feats", self.feats, ndim=3)
        if f.shape[:2] != (P, T):
            raise ValueError(f"feats must have shape ({P}, {T}, F), got {f.shape}")
        v.finite_scalar("share", self.share, min_value=0.0)
        v.int_scalar("n_train", self.n_train, min_value=1, max_value=P)
        v.choice("reward", self.reward, REWARDS)
        if self.reward == "bernoulli" and mu.max() > 1.0:
            raise ValueError(f"mu must be in [0, 1] for Bernoulli rewards, got max {mu.max()}")
        v.finite_scalar("correct_threshold", self.correct_threshold)
        for name, arr in (("phi", phi.astype(np.int64)), ("mu", mu), ("base_logits", bl),
                          ("feats", f)):
            object.__setattr__(self, name, np.ascontiguousarray(arr))

    @property
    def n_problems(self) -> int:
        return self.phi.shape[0]

    @property
    def n_test(self) -> int:
        return self.n_problems - self.n_train

    @property
    def n_traces(self) -> int:
        return self.phi.shape[1]

    @property
    def n_answers(self) -> int:
        return self.mu.shape[1]

    def base_probs(self) -> np.ndarray:
        """``pi_0(t | p)``, shape (P, T)."""
        z = self.base_logits - self.base_logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def answer_probs(self, trace_probs: np.ndarray) -> np.ndarray:
        """Answer distribution (P, m) of a trace distribution (P, T)."""
        out = np.zeros(self.mu.shape)
        rows = np.repeat(np.arange(self.n_problems), self.n_traces)
        np.add.at(out, (rows, self.phi.ravel()), trace_probs.ravel())
        return out

    def correct_prob(self, trace_probs: np.ndarray) -> np.ndarray:
        """Probability that a sample is correct (reward >= threshold with certainty for
        deterministic rewards; the expected reward ``sum_a pi(a) mu[a]`` for Bernoulli)."""
        ap = self.answer_probs(trace_probs)
        if self.reward == "bernoulli":
            return (ap * self.mu).sum(axis=1)
        return (ap * (self.mu >= self.correct_threshold)).sum(axis=1)


def build_model(config: ModelConfig) -> Model:
    """Draw a model from ``config`` (deterministic in ``config.seed``); see the module doc."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    cfg = config
    rng = np.random.default_rng(cell_sequence(cfg.seed, "rlsim/model"))
    P, T, m = cfg.n_train + cfg.n_test, cfg.n_traces, cfg.n_answers
    pop = 1.0 / np.arange(1, m) ** cfg.wrong_zipf
    pop = pop / pop.sum()
    phi = np.empty((P, T), np.int64)
    base = np.empty((P, T))
    F = 2 + cfg.n_style
    feats = np.empty((P, T, F))
    for p in range(P):
        wrong = 1 + rng.choice(m - 1, size=T, p=pop)
        is_c = rng.random(T) < cfg.correct_frac
        is_c[: cfg.min_correct_traces] = True
        a = np.where(is_c, 0, wrong)
        phi[p] = a
        l0 = cfg.trace_sd * rng.standard_normal(T)
        # Shift the correct traces so the base model's P(correct) is exactly q_p.
        lq = cfg.difficulty_mean + cfg.difficulty_sd * rng.standard_normal()
        mc, mw = np.exp(l0[is_c]).sum(), np.exp(l0[~is_c]).sum()
        l0 = l0 + np.where(is_c, lq - np.log(mc / mw), 0.0)
        base[p] = l0 - l0.max()
        conf = (l0 - l0.mean()) / (l0.std() + 1e-12)
        cstd = (is_c - is_c.mean()) / (is_c.std() + 1e-12)
        skill = cfg.skill_corr * cstd + np.sqrt(1.0 - cfg.skill_corr ** 2) * rng.standard_normal(T)
        feats[p, :, 0] = conf
        feats[p, :, 1] = skill
        feats[p, :, 2:] = rng.standard_normal((T, cfg.n_style))
    mu = np.zeros((P, m))
    mu[:, 0] = 1.0
    return Model(phi=phi, mu=mu, base_logits=base, feats=feats, share=cfg.share,
                 n_train=cfg.n_train, config=cfg)


def from_bandit_instance(instance) -> Model:
    """The single-problem, unshared model of an outcome-based bandit instance (Spec 1 §5).

    ``instance`` is any object with attributes ``K`` (arms), ``m`` (outcomes), ``phi`` (int[K],
    arm -> outcome), ``mu`` (float[m]), ``p0`` (float[K] base distribution or None = uniform)
    and ``reward`` (``"bernoulli"`` or ``"deterministic"``), e.g.
    ``obandits.bandit.instances.BanditInstance``. Traces are arms, answers are outcomes, the base
    logits are ``log p0`` (floored at -50 for arms with ``p0 = 0``), there are no features and
    ``share = 0``: GRPO on this model is GRPO on the bandit.
    """
    missing = [a for a in ("K", "m", "phi", "mu", "p0", "reward") if not hasattr(instance, a)]
    if missing:
        raise ValueError(f"instance must have attributes K, m, phi, mu, p0, reward; "
                         f"missing {missing}")
    K = v.int_scalar("K", instance.K, min_value=1)
    m = v.int_scalar("m", instance.m, min_value=1)
    phi = v.int_array("phi", instance.phi, min_value=0)
    if len(phi) != K or phi.max() >= m:
        raise ValueError(f"phi must have length K={K} and values in [0, {m}), got length "
                         f"{len(phi)}, max {phi.max()}")
    mu = v.float_array("mu", instance.mu, min_value=0.0)
    if len(mu) != m:
        raise ValueError(f"mu must have length m={m}, got {len(mu)}")
    reward = v.choice("reward", instance.reward, REWARDS)
    if instance.p0 is None:
        logits = np.zeros(K)
    else:
        p0 = v.float_array("p0", instance.p0, min_value=0.0)
        if len(p0) != K or not np.isclose(p0.sum(), 1.0):
            raise ValueError(f"p0 must be a distribution over K={K} arms, got length "
                             f"{len(p0)}, sum {p0.sum()}")
        with np.errstate(divide="ignore"):
            logits = np.maximum(np.log(p0), np.log(p0.max()) + _LOGIT_FLOOR)
    # Correct = the best outcome's reward (a Bernoulli sample counts when it pays 1).
    thr = 1.0 if reward == "bernoulli" or mu.max() <= 0 else float(mu.max())
    return Model(phi=phi[None, :], mu=mu[None, :], base_logits=logits[None, :],
                 feats=np.zeros((1, K, 0)), share=0.0, n_train=1, reward=reward,
                 correct_threshold=thr)
