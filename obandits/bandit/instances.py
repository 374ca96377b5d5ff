"""Outcome-based bandit instances (Spec 1 §5) and the three generator families.

An instance is ``(K, m, phi, mu)`` with an optional base distribution ``p0`` over arms: pulling
arm ``k`` reveals outcome ``phi[k]`` and a reward ``r ~ Bernoulli(mu[phi[k]])`` (``reward =
"bernoulli"``) or exactly ``r = mu[phi[k]]`` (``reward = "deterministic"``, the verifiable reward
when ``mu`` is 0/1). Pseudo-regret is ``R_T = sum_t (mu* - mu[phi[k_t]])``.

Every family uses the same two-level means **(ours)**: one best outcome with mean
``0.5 + gap/2`` and every other outcome at ``0.5 - gap/2``, the classic worst-case shape, so a
grid over ``gap`` gives the minimax proxy of the issue (largest regret over gaps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as v

REWARDS = ("bernoulli", "deterministic")
FAMILIES = ("partition", "needle", "llm")


@dataclass(frozen=True)
class BanditInstance:
    """A validated outcome bandit ``(K, m, phi, mu, p0, reward)`` (Spec 1 §5)."""

    K: int
    m: int
    phi: np.ndarray
    mu: np.ndarray
    p0: np.ndarray | None = None
    reward: str = "bernoulli"

    def __post_init__(self):
        K = v.int_scalar("K", self.K, min_value=1)
        m = v.int_scalar("m", self.m, min_value=1)
        if m > K:
            raise ValueError(f"m (outcomes) must be <= K (arms), got m={m} > K={K}")
        phi = v.int_array("phi", self.phi, min_value=0)
        if len(phi) != K:
            raise ValueError(f"phi must have length K={K}, got {len(phi)}")
        if phi.max() >= m:
            raise ValueError(f"phi must map arms to outcomes 0..{m - 1}, got {int(phi.max())}")
        missing = np.setdiff1d(np.arange(m), phi)
        if len(missing):
            raise ValueError(f"every outcome needs at least one arm; outcome {int(missing[0])} "
                             f"has none")
        mu = v.float_array("mu", self.mu, min_value=0.0, max_value=1.0)
        if len(mu) != m:
            raise ValueError(f"mu must have length m={m}, got {len(mu)}")
        p0 = self.p0
        if p0 is not None:
            p0 = v.float_array("p0", p0, min_value=0.0)
            if len(p0) != K:
                raise ValueError(f"p0 must have length K={K}, got {len(p0)}")
            if abs(p0.sum() - 1.0) > 1e-9:
                raise ValueError(f"p0 must be a distribution over arms (sum 1), got sum "
                                 f"{p0.sum()!r}")
        v.choice("reward", self.reward, REWARDS)
        for name, val in (("K", K), ("m", m), ("phi", phi), ("mu", mu), ("p0", p0)):
            object.__setattr__(self, name, val)
        for arr in (phi, mu, p0):
            if arr is not None:
                arr.flags.writeable = False

    @property
    def arm_means(self) -> np.ndarray:
        """``mu[phi[k]]`` for every arm."""
        return self.mu[self.phi]

    @property
    def mu_star(self) -> float:
        return float(self.mu.max())

    @property
    def base(self) -> np.ndarray:
        """``p0``, or uniform over arms when none was given."""
        return self.p0 if self.p0 is not None else np.full(self.K, 1.0 / self.K)

    def outcome_mass(self) -> np.ndarray:
        """Mass of each outcome under the base distribution: ``sum_{k: phi[k]=j} p0[k]``."""
        return np.bincount(self.phi, weights=self.base, minlength=self.m)


def two_level_means(m: int, gap: float, best: int) -> np.ndarray:
    """``mu``: outcome ``best`` at ``0.5 + gap/2``, the others at ``0.5 - gap/2``."""
    gap = v.finite_scalar("gap", gap, min_value=0.0, max_value=1.0)
    mu = np.full(m, 0.5 - gap / 2)
    mu[best] = 0.5 + gap / 2
    return mu


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(v.int_scalar("seed", seed, min_value=0))


def random_partition(K: int, m: int, gap: float, seed, *, reward: str = "bernoulli"
                     ) -> BanditInstance:
    """Arms split at random into ``m`` non-empty outcomes (each arm uniform, then every outcome
    given one arm); ``p0`` uniform over arms; a random outcome is the best."""
    K = v.int_scalar("K", K, min_value=1)
    m = v.int_scalar("m", m, min_value=1, max_value=K)
    rng = _rng(seed)
    phi = rng.integers(0, m, K)
    phi[rng.permutation(K)[:m]] = rng.permutation(m)
    return BanditInstance(K, m, phi, two_level_means(m, gap, int(rng.integers(m))),
                          np.full(K, 1.0 / K), reward)


def needle(K: int, m: int, gap: float, seed, *, needle_frac: float = 0.0,
           reward: str = "bernoulli") -> BanditInstance:
    """Needle in a haystack (the lower-bound family of Spec 1 §5): ``max(1, round(needle_frac *
    K))`` arms, at random positions, map to the best outcome 0; the other arms are split at
    random over outcomes ``1..m-1`` (each non-empty); ``p0`` uniform over arms."""
    K = v.int_scalar("K", K, min_value=2)
    m = v.int_scalar("m", m, min_value=2, max_value=K)
    needle_frac = v.finite_scalar("needle_frac", needle_frac, min_value=0.0, max_value=1.0)
    n_best = max(1, round(needle_frac * K))
    if K - n_best < m - 1:
        raise ValueError(f"needle_frac={needle_frac} leaves {K - n_best} arms for the "
                         f"{m - 1} other outcomes; lower it or raise K")
    rng = _rng(seed)
    rest = rng.integers(1, m, K - n_best)
    rest[rng.permutation(K - n_best)[:m - 1]] = 1 + rng.permutation(m - 1)
    phi = np.concatenate([np.zeros(n_best, np.int64), rest])[rng.permutation(K)]
    return BanditInstance(K, m, phi, two_level_means(m, gap, 0), np.full(K, 1.0 / K), reward)


def zipf_masses(m: int, s: float, correct_mass: float) -> np.ndarray:
    """Outcome masses of the LLM-like family: outcome 0 (correct) has ``correct_mass``; the
    other ``m - 1`` share the rest in proportion to ``1 / rank^s``."""
    s = v.finite_scalar("zipf_s", s, min_value=0.0)
    correct_mass = v.finite_scalar("correct_mass", correct_mass, min_value=0.0,
                                   strict_min=True, max_value=1.0)
    if m == 1:
        return np.ones(1)
    if correct_mass >= 1.0:
        raise ValueError(f"correct_mass must be < 1 when m > 1, got {correct_mass}")
    w = 1.0 / np.arange(1, m, dtype=np.float64) ** s
    return np.concatenate([[correct_mass], (1.0 - correct_mass) * w / w.sum()])


def llm_like(K: int, m: int, gap: float, seed, *, zipf_s: float = 1.0,
             correct_mass: float = 0.05, reward: str = "bernoulli") -> BanditInstance:
    """LLM-like family: ``p0`` puts fixed Zipf-like masses on the ``m`` outcomes whatever ``K``
    (many traces per answer, mass ``correct_mass`` on the correct answer, outcome 0, which is the
    best). Arms are dealt to outcomes in proportion to their masses (each at least one arm), and
    ``p0[k] = mass[phi[k]] / #arms of phi[k]``, so outcome masses do not depend on ``K``."""
    K = v.int_scalar("K", K, min_value=1)
    m = v.int_scalar("m", m, min_value=1, max_value=K)
    q = zipf_masses(m, zipf_s, correct_mass)
    rng = _rng(seed)
    # Largest-remainder allocation of K arms, at least one per outcome.
    extra = K - m
    raw = q * extra
    n_arms = 1 + np.floor(raw).astype(np.int64)
    left = K - n_arms.sum()
    n_arms[np.argsort(-(raw - np.floor(raw)), kind="stable")[:left]] += 1
    phi = np.repeat(np.arange(m), n_arms)[rng.permutation(K)]
    p0 = q[phi] / n_arms[phi]
    p0 = p0 / p0.sum()
    return BanditInstance(K, m, phi, two_level_means(m, gap, 0), p0, reward)


def make_instance(family: str, K: int, m: int, gap: float, seed, *, reward: str = "bernoulli",
                  needle_frac: float = 0.0, zipf_s: float = 1.0, correct_mass: float = 0.05
                  ) -> BanditInstance:
    """Dispatch to a family by name (``partition``, ``needle``, ``llm``)."""
    v.choice("family", family, FAMILIES)
    if family == "partition":
        return random_partition(K, m, gap, seed, reward=reward)
    if family == "needle":
        return needle(K, m, gap, seed, needle_frac=needle_frac, reward=reward)
    return llm_like(K, m, gap, seed, zipf_s=zipf_s, correct_mass=correct_mass, reward=reward)
