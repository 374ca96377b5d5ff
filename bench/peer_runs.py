"""The peers' UCB1 loops of :mod:`bench.bench_peers`, in a module that imports neither obandits
nor Numba, so a peer's whole-process time is its own."""

from __future__ import annotations

import numpy as np

K = 9
MEANS = np.round(np.linspace(0.1, 0.9, K), 10)


def _shim_scipy() -> None:
    """SMPyBandits 0.9.7 imports ``scipy.special.btdtri``, removed in SciPy 1.14; it is the
    inverse of the regularised incomplete beta function, ``betaincinv``."""
    import scipy.special

    if not hasattr(scipy.special, "btdtri"):
        scipy.special.btdtri = scipy.special.betaincinv


def smpy_run(T: int, seed: int, deterministic: bool = False) -> list[int]:
    _shim_scipy()
    from SMPyBandits.Policies import UCB

    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # its random tie-breaks and first pulls
    pol = UCB(K)
    pol.startGame()
    picks = []
    for _ in range(T):
        k = int(pol.choice())
        pol.getReward(k, MEANS[k] if deterministic else float(rng.random() < MEANS[k]))
        picks.append(k)
    return picks


def mabwiser_run(T: int, seed: int, deterministic: bool = False) -> list[int]:
    from mabwiser.mab import MAB, LearningPolicy

    rng = np.random.default_rng(seed)
    reward = (lambda k: MEANS[k]) if deterministic else (lambda k: float(rng.random() < MEANS[k]))
    mab = MAB(list(range(K)), LearningPolicy.UCB1(alpha=1.0), seed=seed)
    picks = list(range(K))  # one pull of each arm first, as the other two
    mab.fit(picks, [reward(k) for k in picks])
    for _ in range(T - K):
        k = int(mab.predict())
        mab.partial_fit([k], [reward(k)])
        picks.append(k)
    return picks


