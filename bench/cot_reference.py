"""A plain reference implementation of the paper's experiment (a) (Spec 2), written the way
small research simulations usually are: pure NumPy, per-sample Python loops, paths enumerated
where a sum is needed. It is the baseline of ``bench/bench_cot.py`` and is *not* used by the
package. Written from the spec; same budgets and methods as
``obandits.cot.experiments.PAPER_METHODS`` (its random streams differ, so numbers agree only in
distribution).
"""

from __future__ import annotations

import itertools

import numpy as np


def build(L=4, M0=2, M=2, C_size=1, eps=0.1, easy=((0, 0, 0, 0), (1, 0, 0, 1)), seed=0):
    rng = np.random.default_rng(seed)
    Mx = max(M0, M)
    high = np.zeros((L - 1, Mx, M), dtype=bool)
    for p in easy:
        for l in range(L - 1):
            high[l, p[l], p[l + 1]] = True
    for l in range(L - 1):
        for s in range(M0 if l == 0 else M):
            free = np.flatnonzero(~high[l, s])
            need = C_size - (M - len(free))
            order = rng.permutation(free)
            if need > 0:
                high[l, s, order[:need]] = True
    P = np.zeros((L - 1, Mx, M))
    for l in range(L - 1):
        for s in range(M0 if l == 0 else M):
            w = np.where(high[l, s], 1.0, eps)
            P[l, s] = w / w.sum()
    return P, high


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def sample_path(theta, start, rng, temp=1.0):
    path = [start]
    for l in range(theta.shape[0]):
        p = softmax(theta[l, path[-1]] / temp)
        path.append(int(rng.choice(len(p), p=p)))
    return path


def path_prob(T, path):
    pr = 1.0
    for l in range(len(path) - 1):
        pr *= T[l, path[l], path[l + 1]]
    return pr


def probs_of(theta, temp=1.0):
    Q = np.zeros_like(theta)
    for l in range(theta.shape[0]):
        for s in range(theta.shape[1]):
            Q[l, s] = softmax(theta[l, s] / temp)
    return Q


def pretrain(P, M0, rng, T1=2000, T2=500, eta=0.05, batch=32):
    theta = np.zeros(P.shape)
    for t in range(T1 + T2):
        lr = eta if t < T1 else eta / 2
        grad = np.zeros_like(theta)
        for _ in range(batch):
            s = int(rng.integers(M0))
            for l in range(P.shape[0]):
                s2 = int(rng.choice(P.shape[2], p=P[l, s]))
                p = softmax(theta[l, s])
                g = -p
                g[s2] += 1.0
                grad[l, s] += g
                s = s2
        theta += lr / batch * grad
    return theta


def valid_paths(L, M, start, target):
    return [(start,) + mid + (target,) for mid in itertools.product(range(M), repeat=L - 2)]


def make_instances(P, task, n, rng, L, M):
    s, g = task
    vps = valid_paths(L, M, s, g)
    Z = sum(path_prob(P, o) for o in vps)
    out = []
    for _ in range(n):
        correct = set()
        for o in vps:
            if rng.random() < path_prob(P, o) / Z:
                correct.add(o)
        out.append(correct)
    return out


def grad_logp(theta, path):
    g = np.zeros_like(theta)
    for l in range(len(path) - 1):
        p = softmax(theta[l, path[l]])
        g[l, path[l]] -= p
        g[l, path[l], path[l + 1]] += 1.0
    return g


def kl_grad(theta, base, path):
    g = np.zeros_like(theta)
    for l in range(len(path) - 1):
        p, b = softmax(theta[l, path[l]]), softmax(base[l, path[l]])
        kl = np.sum(p * np.log(p / b))
        g[l, path[l]] += p * (np.log(p / b) - kl)
    return g


def post_train(theta0, insts, task, rng, method, iters=1000, G=8, lr=0.05, clip=0.2, epochs=2,
               reject=0, kl_beta=0.0):
    theta = theta0.copy()
    start = task[0]
    for _ in range(iters):
        q = insts[int(rng.integers(len(insts)))]
        if reject and any(tuple(sample_path(theta, start, rng)) in q for _ in range(reject)):
            continue
        paths = [tuple(sample_path(theta, start, rng)) for _ in range(G)]
        R = np.array([1.0 if o in q else 0.0 for o in paths])
        if method == "reinforce":
            A = R
        elif method == "raft":
            A = G * R / R.sum() if R.sum() > 0 else 0 * R
        elif method == "ppo":
            A = R - R.mean()
        else:
            A = (R - R.mean()) / (R.std() + 1e-6)
        if not A.any() and kl_beta == 0.0:
            continue
        old = [[softmax(theta[l, o[l]])[o[l + 1]] for l in range(len(o) - 1)] for o in paths]
        for _ in range(epochs if method in ("ppo", "grpo") else 1):
            grad = np.zeros_like(theta)
            for j, o in enumerate(paths):
                for l in range(len(o) - 1):
                    p = softmax(theta[l, o[l]])
                    c = A[j]
                    if method in ("ppo", "grpo") and c != 0:
                        r = p[o[l + 1]] / old[j][l]
                        c = 0.0 if (c > 0 and r > 1 + clip) or (c < 0 and r < 1 - clip) else c * r
                    g = -c * p
                    g[o[l + 1]] += c
                    grad[l, o[l]] += g
                if kl_beta:
                    grad -= kl_beta * kl_grad(theta, theta0, o)
            theta += lr / G * grad
    return theta


def coverage(Q, high, task, L, M):
    s, g = task
    e = h = i = 0.0
    for mid in itertools.product(range(M), repeat=L - 1):
        o = (s,) + mid
        pr = path_prob(Q, o)
        if o[-1] != g:
            i += pr
        elif all(high[l, o[l], o[l + 1]] for l in range(L - 1)):
            e += pr
        else:
            h += pr
    return e, h, i


def pass_at_k_exact(Q, insts, K, only_rare=False, easy=None):
    vals = []
    for q in insts:
        if not q or (only_rare and easy in q):
            continue
        p = sum(path_prob(Q, o) for o in q)
        vals.append(1 - (1 - p) ** K)
    return float(np.mean(vals)) if vals else None


def rex(P, o, task, Z):
    return path_prob(P, o) / Z if o[0] == task[0] and o[-1] == task[1] else 0.0


def select(theta, P, task, rng, method, N=8, tau=5.0, lam=5.0, temp=1.0, L=4, M=2):
    s, g = task
    Q = probs_of(theta, temp)
    Z = sum(path_prob(P, o) for o in valid_paths(L, M, s, g))
    if method in ("orm-bon", "soft-bon"):
        cands = [tuple(sample_path(theta, s, rng, temp)) for _ in range(N)]
        sc = np.array([rex(P, o, task, Z) for o in cands])
        if method == "orm-bon":
            return cands[int(np.argmax(sc))]
        w = np.exp(tau * (sc - sc.max()))
        return cands[int(rng.choice(N, p=w / w.sum()))]

    def completions(prefix):
        return [prefix + mid for mid in itertools.product(range(M), repeat=L - len(prefix))]

    path = (s,)
    for l in range(L - 1):
        if method == "prm-bon":
            best, bv = None, -1.0
            for _ in range(N):
                a = int(rng.choice(M, p=Q[l, path[-1]]))
                pre = path + (a,)
                v = sum(path_prob(Q, o) / path_prob(Q, pre) * rex(P, o, task, Z)
                        for o in completions(pre))
                if v > bv:
                    best, bv = a, v
            path = path + (best,)
        else:  # DPRM: h-transform with h = E[exp(lam Rex) | prefix], by enumeration
            w = np.zeros(M)
            for a in range(M):
                pre = path + (a,)
                h = sum(path_prob(Q, o) / path_prob(Q, pre) * np.exp(lam * rex(P, o, task, Z))
                        for o in completions(pre))
                w[a] = Q[l, path[-1], a] * h
            path = path + (int(rng.choice(M, p=w / w.sum())),)
    return path


def kl_closed(theta0, P, task, tau, beta, L, M, M0):
    Q = probs_of(theta0)
    s, g = task
    Z = sum(path_prob(P, o) for o in valid_paths(L, M, s, g))
    allp = [(s,) + mid for mid in itertools.product(range(M), repeat=L - 1)]
    out = Q.copy()
    for l in range(L - 1):
        for st in range(M0 if l == 0 else M):
            at = [o for o in allp if o[l] == st]
            qa = sum(path_prob(Q, o) for o in at)
            if qa == 0:
                continue
            v = sum(path_prob(Q, o) * rex(P, o, task, Z) for o in at) / qa
            w = np.zeros(M)
            for a in range(M):
                m = [o for o in at if o[l + 1] == a]
                qv = sum(path_prob(Q, o) * rex(P, o, task, Z) for o in m) / sum(
                    path_prob(Q, o) for o in m)
                w[a] = Q[l, st, a] * np.exp(tau * (qv - v) / beta)
            out[l, st] = w / w.sum()
    return np.log(out)


def run(seed=0, iters=1000, G=8, n_train=200, n_eval=2000, pool=20000, K=30, temp=0.5,
        T1=2000, T2=500, reject=5, kl_beta=1.0, tau=0.5, L=4, M0=2, M=2):
    """Experiment (a), one seed: every paper method's coverage and pass@K on both tasks."""
    rng = np.random.default_rng(seed)
    P, high = build(L, M0, M)
    tasks = [(0, 0), (1, 1)]
    easy = [(0, 0, 0, 0), (1, 0, 0, 1)]
    theta0 = pretrain(P, M0, rng, T1, T2)
    train = make_instances(P, tasks[0], n_train, rng, L, M)
    evals = [make_instances(P, t, n_eval, rng, L, M) for t in tasks]
    thetas = {"base": theta0}
    for name, meth, rej, kl in (("REINFORCE", "reinforce", 0, 0.0), ("RAFT", "raft", 0, 0.0),
                                ("PPO", "ppo", 0, 0.0), ("GRPO", "grpo", 0, 0.0),
                                ("REINFORCE+reject", "reinforce", reject, 0.0),
                                ("GRPO+reject", "grpo", reject, 0.0),
                                ("REINFORCE+KL", "reinforce", 0, kl_beta),
                                ("GRPO+KL", "grpo", 0, kl_beta)):
        thetas[name] = post_train(theta0, train, tasks[0], rng, meth, iters, G, reject=rej,
                                  kl_beta=kl)
    thetas["KL closed form"] = kl_closed(theta0, P, tasks[0], tau, kl_beta, L, M, M0)
    out = {}
    for name, th in thetas.items():
        Q1, Qt = probs_of(th), probs_of(th, temp)
        out[name] = {t: coverage(Q1, high, tasks[t], L, M)
                     + (pass_at_k_exact(Qt, evals[t], K),
                        pass_at_k_exact(Qt, evals[t], K, True, easy[t])) for t in range(2)}
    for meth, name in (("orm-bon", "ORM best-of-N"), ("soft-bon", "soft best-of-N"),
                       ("prm-bon", "PRM best-of-N"), ("dprm", "DPRM sampling")):
        out[name] = {}
        for t in range(2):
            cov = [select(theta0, P, tasks[t], rng, meth, L=L, M=M) for _ in range(pool)]
            e = np.mean([o[-1] == tasks[t][1] and all(high[l, o[l], o[l + 1]]
                                                      for l in range(L - 1)) for o in cov])
            i = np.mean([o[-1] != tasks[t][1] for o in cov])
            pk = [select(theta0, P, tasks[t], rng, meth, temp=temp, L=L, M=M)
                  for _ in range(pool)]
            res = []
            for q in evals[t]:
                if not q:
                    continue
                c = sum(o in q for o in pk)
                # unbiased pass@K: 1 - C(n-c, K) / C(n, K)
                res.append(1.0 if pool - c < K else
                           1.0 - np.prod(1.0 - K / np.arange(pool - c + 1, pool + 1)))
            out[name][t] = (e, 1 - e - i, i, float(np.mean(res)))
    return out
