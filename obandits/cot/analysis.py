"""Table (a) and the claims of Spec 2 §4 from a cot results table alone (pure: tables in,
claims out). The table is what :func:`obandits.results.read_table` returns for a cot sweep (one
row per cell x seed x task, see :mod:`obandits.cot.runner`)."""

from __future__ import annotations

import numpy as np

from .experiments import METRICS, paper_table

RLVR = ("REINFORCE", "RAFT", "PPO", "GRPO")
SELECTION = ("ORM best-of-N", "soft best-of-N", "PRM best-of-N", "DPRM sampling")
REMEDIES = (("REINFORCE+reject", "REINFORCE"), ("GRPO+reject", "GRPO"),
            ("REINFORCE+KL", "REINFORCE"), ("GRPO+KL", "GRPO"), ("KL closed form", "GRPO"))
WHERE_KEYS = ("eps", "iters", "kl_beta", "reject", "L", "stream")


def _need(table: dict) -> None:
    for c in ("method", "rep", "task", *METRICS):
        if c not in table:
            raise ValueError(f"cot table has no column {c!r}; is it a cot sweep?")


def configs(table: dict) -> list[tuple[dict, np.ndarray]]:
    """``[(params without method, row mask)]``, one per configuration, in table order."""
    from .runner import DEFAULTS

    _need(table)
    pcols = [k for k in DEFAULTS if k in table]
    n = len(table["rep"])
    keys = [tuple(str(table[c][i]) for c in pcols) for i in range(n)]
    out = []
    for key in dict.fromkeys(keys):
        out.append((dict(zip(pcols, key)), np.array([k == key for k in keys])))
    return out


def aggregate(table: dict, rows: np.ndarray) -> dict:
    """``{method: {task: {metric: (mean, std, n)}}}`` over seeds, as ``cot paper``'s (NaN --
    no instance of that kind drawn in a seed -- is left out of that mean)."""
    out: dict = {}
    for m in dict.fromkeys(table["method"][rows].tolist()):
        sel_m = rows & (table["method"] == m)
        out[m] = {}
        for t in sorted(set(table["task"][sel_m].tolist())):
            sel = sel_m & (table["task"] == t)
            order = np.argsort(table["rep"][sel])
            out[m][int(t)] = {}
            for met in METRICS:
                xs = np.asarray(table[met][sel], float)[order]
                xs = xs[np.isfinite(xs)]
                out[m][int(t)][met] = (float(np.mean(xs)) if len(xs) else None,
                                       float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0,
                                       len(xs))
    return out


def summarise(table: dict, raw: dict | None = None) -> str:
    """Table (a) per configuration (mean ± std over seeds)."""
    parts = []
    for params, rows in configs(table):
        agg = aggregate(table, rows)
        tasks = sorted(set(table["task"][rows].tolist()))
        k = params.get("k", 30)
        head = ", ".join(f"{c}={params[c]}" for c in WHERE_KEYS if c in params)
        parts.append(f"### {head}\n\n" + paper_table(agg, tasks, k))
    return "\n\n".join(parts)


def _series(table, rows, method, task, metric) -> dict[int, float]:
    sel = rows & (table["method"] == method) & (table["task"] == task)
    return {int(r): float(x) for r, x in zip(table["rep"][sel], table[metric][sel])}


def _paired(claim, text, table, rows, a, b, task, metric, where) -> dict | None:
    """``mean over seeds of (a - b) > 0`` (paired by seed); holds when above 2 standard
    errors, None when only its direction agrees, False otherwise."""
    sa, sb = _series(table, rows, a, task, metric), _series(table, rows, b, task, metric)
    common = sorted(set(sa) & set(sb))
    d = np.array([sa[r] - sb[r] for r in common])
    d = d[np.isfinite(d)]
    if not len(d):
        return None
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    holds = (True if len(d) > 1 and mean > 2 * se and mean > 0 else
             None if mean > 0 else False)
    return {"claim": claim, "text": f"{text}: {a} - {b}, TASK{task + 1} {metric}",
            "value": mean, "ci": [mean - 2 * se, mean + 2 * se], "holds": holds,
            "where": where}


def claims(table: dict, raw: dict | None = None) -> list[dict]:
    """Claims 1-4 of Spec 2 §4 as paired checks over seeds (methods absent are skipped)."""
    out = []
    for params, rows in configs(table):
        where = ", ".join(f"{c}={params[c]}" for c in WHERE_KEYS if c in params)
        have = set(table["method"][rows].tolist())
        checks = []
        for m in RLVR:
            if {m, "base"} <= have:
                checks += [("1", "RLVR forgets rare CoTs", "base", m, 0, "hard"),
                           ("1", "RLVR loses rare-only pass@K", "base", m, 0, "pass_rare"),
                           ("2", "training on TASK1 damages TASK2", "base", m, 1, "pass_all")]
        for m in SELECTION:
            if {m, "base"} <= have:
                checks += [("3", "selection favours the easy path", m, "base", 0, "easy"),
                           ("3", "selection drops rare CoTs", "base", m, 0, "hard")]
        for rem, plain in REMEDIES:
            if {rem, plain} <= have:
                checks += [("4", "remedy keeps rare CoTs", rem, plain, 0, "hard"),
                           ("4", "remedy keeps rare-only pass@K", rem, plain, 0, "pass_rare"),
                           ("4", "remedy keeps TASK2", rem, plain, 1, "pass_all")]
        for c in checks:
            r = _paired(c[0], c[1], table, rows, c[2], c[3], c[4], c[5], where)
            if r is not None:
                out.append(r)
    return out
