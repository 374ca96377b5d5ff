"""Claims C1-C4 (Spec 1 §4) from an rlsim results table alone (pure: tables in, claims out).

The table is what :func:`obandits.results.read_table` returns for an rlsim sweep (one row per
cell x repetition x checkpoint, see :mod:`obandits.rlsim.runner`). Rows are grouped by every
cell parameter except ``method``; within a group each method's repetitions are rebuilt into
the per-run series :func:`obandits.rlsim.experiment.claims` reads, so the checks are exactly
those of ``rlsim compare``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..tables import markdown_table
from .experiment import LABEL, claim_verdicts, claims_table
from .experiment import claims as _claims
from .experiment import summarise as _tables
from .params import DEFAULTS, PAIRS, SERIES, _config, _ks


def _param_cols(table: dict) -> list[str]:
    return [k for k in DEFAULTS if k in table]


def _as_default_type(name: str, value, defaults: dict):
    """A parameter read back from CSV, as the type of its default (bools come back as text)."""
    value = value.item() if hasattr(value, "item") else value
    d = defaults.get(name)
    if isinstance(d, bool):
        if str(value) not in ("True", "False"):
            raise ValueError(f"rlsim table column {name!r}: expected True/False, got {value!r}")
        return str(value) == "True"
    if isinstance(d, int):
        return int(value)
    if isinstance(d, float):
        return float(value)
    return str(value) if isinstance(d, str) else value


def groups(table: dict) -> list[tuple[dict, dict[str, list]]]:
    """``[(params, {method: [run per rep]})]`` per configuration, runs as namespaces."""
    for need in ("method", "rep", "checkpoint", "step"):
        if need not in table:
            raise ValueError(f"rlsim table has no column {need!r}; is it an rlsim sweep?")
    pcols = _param_cols(table)
    n = len(table["rep"])
    keys = [tuple(str(table[c][i]) for c in pcols) for i in range(n)]
    out = []
    for key in dict.fromkeys(keys):
        rows = np.array([k == key for k in keys])
        params = {**DEFAULTS, **{c: table[c][rows][0] for c in pcols}}
        params = {k: _as_default_type(k, params[k], DEFAULTS) for k in params}
        ks = _ks(params["ks"])
        runs: dict[str, list] = {}
        for m in dict.fromkeys(table["method"][rows]):
            sel_m = rows & (table["method"] == m)
            for rep in sorted(set(table["rep"][sel_m].tolist())):
                sel = sel_m & (table["rep"] == rep)
                order = np.argsort(table["checkpoint"][sel])
                col = {c: np.asarray(table[c][sel])[order] for c in table}
                ns = {s: col[s].astype(float) for s in SERIES}
                ns |= {s: np.stack([col[f"{s}0"], col[f"{s}1"]], 1).astype(float)
                       for s in PAIRS}
                ns["test_pass"] = np.stack([col[f"test_pass_k{k}"] for k in ks], 1)
                ns |= {"n_hard": int(col["n_hard"][0]), "ks": ks, "steps": col["step"]}
                runs.setdefault(str(m), []).append(SimpleNamespace(**ns))
        reps = min(len(r) for r in runs.values())
        params["method"] = "none"
        out.append((params, runs, _config(params), reps))
    return out


def claims(table: dict, raw: dict | None = None) -> list[dict]:
    """Every directional check of C1-C4 per configuration, as claim dicts (claim, text, value,
    ci (mean ± 2 standard errors over repetitions), holds, where)."""
    from dataclasses import replace

    out = []
    for params, runs, cfg, reps in groups(table):
        cfg = replace(cfg, methods=tuple(m for m in runs if m in LABEL and m != "base")
                      or ("none",), reps=reps)
        where = ", ".join(f"{k}={params[k]}" for k in ("share", "difficulty_mean", "steps",
                                                         "c", "b0", "kl_beta"))
        for c in _claims(runs, cfg):
            se = c.diff_std / np.sqrt(max(c.n, 1))
            verdict = c.verdict
            out.append({"claim": c.claim, "text": c.text, "value": c.diff_mean,
                        "ci": [c.diff_mean - 2 * se, c.diff_mean + 2 * se],
                        "holds": True if verdict == "holds" else False
                        if verdict in ("fails", "no effect") else None,
                        "verdict": verdict, "where": where})
    return out


def report(table: dict) -> str:
    """Markdown: per configuration, the checks table and one verdict per claim."""
    from .experiment import Check

    parts = []
    for params, runs, cfg, reps in groups(table):
        from dataclasses import replace

        cfg = replace(cfg, methods=tuple(m for m in runs if m != "base") or ("none",),
                      reps=reps)
        checks: list[Check] = _claims(runs, cfg)
        head = ", ".join(f"{k}={params[k]}" for k in ("share", "difficulty_mean", "steps", "c",
                                                        "b0", "kl_beta"))
        verdicts = claim_verdicts(checks)
        tabs = _tables(runs, cfg)
        parts.append("\n".join([
            f"### {head} ({reps} repetitions)\n",
            "Training discovery (end of training)\n", tabs["discovery"],
            "\nTest pass@k, early checkpoint\n", tabs["pass_early"],
            "\nTest pass@k, late checkpoint (end)\n", tabs["pass_late"],
            "\nTable 1 analogue: policy entropy (nats) on correct / incorrect samples\n",
            tabs["entropy"],
            "\nTable 2 analogue: distinct answers per group of n\n", tabs["distinct"],
            "\nClaims\n", claims_table(checks), "",
            markdown_table(["claim", "verdict"], sorted(verdicts.items()))]))
    return "\n\n".join(parts)
