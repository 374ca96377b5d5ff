"""The network's distribution over completions, exactly or by sampling (issue 23, point 2).

Exact where the tree is small: every well-formed completion's probability from one batched
forward pass (teacher forcing; ``softmax(logits / T)`` at each of the ``L-1`` steps), the rest
of the mass being malformed output. Beyond ``max_exact`` completions per start, ``n_samples``
ancestral samples instead (the same metrics from counts, unbiased pass@k), and a line says so.
The metrics themselves are :mod:`obandits.cot.pathdist`'s, which the tabular side uses too.
"""

from __future__ import annotations

import numpy as np

from obandits.cot import TreeChain
from obandits.cot.chain import enumerate_paths
from obandits.cot.instances import Instances
from obandits.cot.pathdist import (
    PASS_KS,
    PathDist,
    coverage,
    expected_distinct,
    n_completions,
    pass_curve,
    total_variation,
)

from .network import path_ids, token_table

MAX_EXACT = 1 << 15  # well-formed completions per start evaluated exactly
CHUNK = 4096  # sequences per forward pass


def _logprobs(model, ids, temperature: float):
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.from_numpy(ids)).logits[:, 1:-1, :]
        return torch.log_softmax(logits.double() / temperature, dim=-1)


def exact_dist(chain: TreeChain, model, start: int, temperature: float = 1.0) -> PathDist:
    """Every well-formed completion's probability from ``start`` (module doc)."""
    import torch

    paths = enumerate_paths(chain, start)
    ids = path_ids(chain, paths)
    q = np.empty(len(paths))
    for i in range(0, len(paths), CHUNK):
        lp = _logprobs(model, ids[i:i + CHUNK], temperature)
        tgt = torch.from_numpy(ids[i:i + CHUNK, 2:])
        q[i:i + CHUNK] = lp.gather(2, tgt[:, :, None])[:, :, 0].sum(1).exp().numpy()
    return PathDist(start, q, max(0.0, 1.0 - float(q.sum())))


def sample_paths(chain: TreeChain, model, starts, temperature: float, gen) -> tuple:
    """Ancestral samples of completions from ``starts`` (one per entry) at ``temperature``,
    over the whole vocabulary: ``(states (n, L-1), ok (n,))``, ``ok`` False where a sampled
    token is not a state of its layer (malformed; its states are then meaningless)."""
    import torch

    tab = token_table(chain)
    starts = np.asarray(starts, np.int64)
    n = len(starts)
    x = torch.from_numpy(path_ids(chain, np.repeat(starts[:, None], chain.L, 1))[:, :2])
    ok = torch.ones(n, dtype=torch.bool)
    states = torch.zeros((n, chain.L - 1), dtype=torch.int64)
    with torch.inference_mode():
        for l in range(1, chain.L):  # no KV cache: L is small, and its API moves
            logits = model(input_ids=x, use_cache=False).logits
            probs = torch.softmax(logits[:, -1, :].double() / temperature, dim=-1)
            tok = torch.multinomial(probs, 1, generator=gen)[:, 0]
            state = torch.full_like(tok, -1)
            for s in range(chain.M):
                state[tok == int(tab[l, s])] = s
            ok &= state >= 0
            states[:, l - 1] = state.clamp(min=0)
            x = torch.cat([x, tok[:, None]], dim=1)
    return states.numpy(), ok.numpy()


def sampled_dist(chain: TreeChain, model, start: int, temperature: float, n: int,
                 seed: int) -> PathDist:
    """Counts of ``n`` ancestral samples from ``start`` at ``temperature`` (a sample with a
    token that is not its layer's state is malformed)."""
    import torch

    states, ok = sample_paths(chain, model, np.full(n, start), temperature,
                              torch.Generator().manual_seed(seed))
    code = np.zeros(n, np.int64)
    for j in range(chain.L - 1):
        code = code * chain.M + states[:, j]
    counts = np.bincount(code[ok], minlength=n_completions(chain)).astype(float)
    return PathDist(start, counts, float((~ok).sum()), n=n)


def dist(chain: TreeChain, model, start: int, temperature: float, *, max_exact: int = MAX_EXACT,
         n_samples: int = 4096, seed: int = 0) -> PathDist:
    """Exact when ``M^(L-1) <= max_exact``, else sampled."""
    if n_completions(chain) <= max_exact:
        return exact_dist(chain, model, start, temperature)
    return sampled_dist(chain, model, start, temperature, n_samples, seed)


def network_tv(chain: TreeChain, model, **kw) -> float:
    """Total variation of the network's path distribution to the chain (start uniform)."""
    return total_variation(chain, [dist(chain, model, s, 1.0, **kw)
                                   for s in range(chain.config.M0)])


def metrics(chain: TreeChain, evals: list[Instances], dists1: dict, distst: dict, k: int,
            ks=PASS_KS) -> dict:
    """Per task: the Spec 2 §4 metrics of one model from its distributions at temperature 1
    (``dists1[start]``: coverage, malformed, total variation) and at the evaluation temperature
    (``distst[start]``: pass@k for ``ks``, all and rare-only; distinct answers in ``k``)."""
    tv = total_variation(chain, [dists1[s] for s in sorted(dists1)])
    out = {}
    for t, inst in enumerate(evals):
        s = chain.tasks[t][0]
        row = dict(coverage(chain, t, dists1[s]), tv=tv,
                   distinct=expected_distinct(chain, distst[s], k))
        for name, sub in (("all", None), ("rare", inst.rare_only)):
            curve = pass_curve(chain, inst, distst[s], ks, sub)
            for j, kk in enumerate(ks):
                row[f"pass_{name}@{kk}"] = np.nan if curve is None else float(curve[j])
        row["pass_all"], row["pass_rare"] = row[f"pass_all@{k}"], row[f"pass_rare@{k}"]
        out[t] = row
    return out


def network_metrics(chain: TreeChain, model, evals: list[Instances], k: int,
                    temperature: float, *, max_exact: int = MAX_EXACT, n_samples: int = 4096,
                    seed: int = 0) -> dict:
    """:func:`metrics` of a network (exact or sampled distributions, see :func:`dist`)."""
    starts = range(chain.config.M0)
    kw = dict(max_exact=max_exact, n_samples=n_samples)
    d1 = {s: dist(chain, model, s, 1.0, seed=seed + 2 * s, **kw) for s in starts}
    dt = (d1 if temperature == 1.0 else
          {s: dist(chain, model, s, temperature, seed=seed + 2 * s + 1, **kw) for s in starts})
    return metrics(chain, evals, d1, dt, k)


def tabular_metrics(chain: TreeChain, theta: np.ndarray, evals: list[Instances], k: int,
                    temperature: float) -> dict:
    """:func:`metrics` of the tabular learner's policy (exact path probabilities)."""
    from obandits.cot.learner import policy
    from obandits.cot.pathdist import policy_path_probs

    starts = range(chain.config.M0)
    Q1, Qt = policy(theta), policy(theta, temperature)
    return metrics(chain, evals, {s: policy_path_probs(chain, Q1, s) for s in starts},
                   {s: policy_path_probs(chain, Qt, s) for s in starts}, k)
