"""The analysis of a ``bu2025`` sweep (pure: tables in, text and claims out): table 1 (the
preset against the authors' runs, :mod:`obandits.cot.bu2025.compare`), table 2 (how each
cleaner definition moves each number), and the paper's claims (Spec 2 §4) re-judged under
their conventions and ours.
"""

from __future__ import annotations

import numpy as np

from ...tables import markdown_table
from .authors import authors_csv_path, read_authors
from .cells import ALL_VARIANTS, PRESET, TILTED_DPRM, chain_of
from .compare import (
    ALL,
    PRINT_TOL,
    _fmt,
    cells_by_row,
    compare,
    matched,
    mean_ci,
    seeds_of,
)
from .config import Bu2025Config


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.1f}"


def _mci(xs) -> str:
    m, lo, hi, _ = mean_ci(xs)
    if not np.isfinite(lo):
        return _pct(m)
    return f"{_pct(m)} [{_pct(lo)}, {_pct(hi)}]"


def _seeds(d: dict) -> str:
    s = seeds_of(d)
    return f"{_fmt(s)} ({len(s)} seeds)"


def chains(seeds, raw: dict | None) -> dict[int, str]:
    """Each seed's chain label (:func:`obandits.cot.bu2025.cells.chain_label`) under the
    sweep's ``[fixed]`` fields."""
    fixed = (raw or {}).get("fixed") or {}
    return {int(s): chain_of(s, fixed) for s in seeds}


def comparison(table: dict, raw: dict | None, variant: str = PRESET,
               authors: dict | None = None) -> dict | None:
    """:func:`obandits.cot.bu2025.compare.compare` of ``variant`` against the authors' runs
    (``authors``, default the sweep's authors' csv); None when there is no authors' csv."""
    authors = read_authors(raw) if authors is None else authors
    if authors is None:
        return None
    ours, theirs = cells_by_row(table, variant), cells_by_row(authors)
    return compare(ours, theirs, chains(set(seeds_of(ours)) | set(seeds_of(theirs)), raw))


def _cell(c: dict, interval: bool = False) -> str:
    if not np.isfinite(c["diff"]):
        return "-"
    d = f"{100 * c['diff']:+.1f}"
    if interval and np.isfinite(c["lo"]):
        d += f" [{100 * c['lo']:+.1f}, {100 * c['hi']:+.1f}]"
    return f"**{d}**" if c["outside"] else d


def table1(table: dict, raw: dict | None) -> str:
    """Markdown: the authors' script beside the preset, row by row, paired by seed and per
    chain, with the table-level verdict."""
    authors = read_authors(raw)
    if authors is None:
        return (f"(no authors' table at {authors_csv_path(raw)}: run their script and "
                f"`python -m obandits.cot.bu2025 authors LOGDIR docs/data/bu2025`, or point "
                f"`[check] authors` / `--authors-csv` at your own)")
    res = comparison(table, raw, authors=authors)
    ours, theirs = matched(table, authors)
    if res["verdict"] == "n/a" and not res["seeds"]:
        return f"**n/a: {res['reason']}.**"
    groups = [g for g, _ in res["groups"]]
    by = {(c["row"], c["group"]): c for c in res["cells"]}
    rows = list(dict.fromkeys(c["row"] for c in res["cells"]))
    chain_cols = [g for g in groups if g != ALL]
    body = []
    for key in rows:
        a = list(theirs.get(key, {}).values())
        b = list(ours.get(key, {}).values())
        line = [*key, _mci(a), _mci(b)]
        if ALL in groups:
            line.append(_cell(by[(key, ALL)], interval=True))
        line += [_cell(by[(key, g)]) for g in chain_cols]
        body.append(line)
    legend = "; ".join(f"chain `{g}`: seeds {_fmt(s)}" for g, s in res["groups"] if g != ALL)
    head = ["strategy", "task", "metric", "authors' script", "preset bu2025"]
    head += (["difference, all chains"] if ALL in groups else []) + \
        [f"chain {g}" for g in chain_cols]
    verdict = {"agrees": "agrees", "disagrees": "**disagrees**", "n/a": "n/a"}[res["verdict"]]
    return (f"Seeds run on both sides: {_fmt(res['seeds'])} ({len(res['seeds'])}); {legend} "
            f"(a chain is named by the high successors of each state, layer by layer). Values "
            f"in percent: authors and preset as mean [95% t-interval over seeds, chains "
            f"mixed]; differences preset - authors paired by seed (same chain on both sides), "
            f"mean over the group's seeds with its 95% t-interval; **bold** = the interval "
            f"misses 0 by more than the authors' print precision ({100 * PRINT_TOL:.2f} "
            f"points).\n\n"
            + markdown_table(head, body)
            + f"\n\n**Verdict: the preset {verdict} with the authors' script** "
              f"({res['reason']}). The criterion, its power against wrong versions and how it "
              f"is computed: `docs/bu2025.md` and `obandits.cot.bu2025.compare`.")


def paired(table: dict, variant: str, base: str = PRESET) -> dict:
    """``{row: (mean, lo, hi, n)}``: ``variant`` minus ``base`` paired by (seed, rep)."""
    a, b = cells_by_row(table, variant), cells_by_row(table, base)
    out = {}
    for key, xa in a.items():
        xb = b.get(key, {})
        units = sorted(set(xa) & set(xb))
        out[key] = mean_ci([xa[u] - xb[u] for u in units])
    return out


def variants_in(table: dict) -> list[str]:
    return list(dict.fromkeys(table["variant"].tolist())) if "variant" in table else [PRESET]


def table2(table: dict, raw: dict | None = None) -> str:
    """Markdown: how each other variant moves each number (paired by seed, percentage points;
    * = the 95% interval excludes 0)."""
    others = [v for v in variants_in(table) if v != PRESET]
    base = cells_by_row(table, PRESET)
    if not base:
        return "(no preset rows)"
    moves = {v: paired(table, v) for v in others}
    body = []
    for key, xs in base.items():
        row = [*key, _mci(list(xs.values()))]
        for var in others:
            m, lo, hi, n = moves[var].get(key, (float("nan"),) * 3 + (0,))
            star = "*" if np.isfinite(lo) and (lo > PRINT_TOL or hi < -PRINT_TOL) else ""
            row.append("-" if not np.isfinite(m) else f"{100 * m:+.1f}{star}")
        body.append(row)
    legend = "; ".join(f"`{x}`: {ALL_VARIANTS[x]['help']}" for x in others
                       if x in ALL_VARIANTS)
    return ("The preset's value (percent, mean [95% interval] over seeds), then for each other "
            "variant the mean paired change it makes (variant - preset on the same seeds and "
            "random streams, percentage points; * = its 95% interval excludes 0).\n\n"
            + markdown_table(["strategy", "task", "metric", "preset bu2025", *others], body)
            + f"\n\nColumns: {legend}.")


# Claims of Spec 2 §4 as Bu et al. state them: (id, text, minuend, subtrahend, task, metric);
# each holds when mean over seeds of (minuend - subtrahend) has a 95% interval above 0.
RLVR = ("REINFORCE", "RAFT", "PPO")
SELECTION = ("ORM-TAS", "ORM-BoN", "PRM-BoN", "DPRM-BoN", "DPRM", TILTED_DPRM)
REMEDIES = ("Reinforce-rej", "GRPO-KL")
BASE = "Base Model"


def claim_specs() -> list[tuple]:
    out = []
    for m in RLVR:
        out.append(("1", f"RLVR forgets rare CoTs ({m})", BASE, m, "TASK1", "hard"))
    for m in RLVR:
        out.append(("2", f"TASK1 training damages TASK2 ({m})", BASE, m, "TASK2", "pass_at_k"))
    for m in SELECTION:
        out.append(("3", f"{m} lowers the rare CoTs' share", BASE, m, "TASK1", "hard"))
        out.append(("3", f"{m} favours the easy CoT among valid ones", m, BASE, "TASK1",
                    "easy_of_valid"))
    for m in REMEDIES:
        out.append(("4", f"{m} keeps rare CoTs (vs REINFORCE)", m, "REINFORCE", "TASK1", "hard"))
        out.append(("4", f"{m} keeps TASK2 (vs REINFORCE)", m, "REINFORCE", "TASK2",
                    "pass_at_k"))
    return out


def _metric_series(rows: dict, strategy: str, task: str, metric: str) -> dict:
    if metric == "easy_of_valid":  # easy / (easy + hard): free of the share of invalid paths
        e = rows.get((strategy, task, "easy"), {})
        h = rows.get((strategy, task, "hard"), {})
        return {u: e[u] / (e[u] + h[u]) for u in set(e) & set(h) if e[u] + h[u] > 0}
    return rows.get((strategy, task, metric), {})


def judge(rows: dict, spec: tuple, where: str) -> dict | None:
    cid, text, a, b, task, metric = spec
    sa, sb = _metric_series(rows, a, task, metric), _metric_series(rows, b, task, metric)
    units = sorted(set(sa) & set(sb))
    if not units:
        return None
    m, lo, hi, n = mean_ci([sa[u] - sb[u] for u in units])
    holds = (True if np.isfinite(lo) and lo > 0 else
             False if np.isfinite(hi) and hi < 0 else None)
    return {"claim": cid, "text": f"{text}: {a} - {b}, {task} {metric}", "value": m,
            "ci": [lo, hi], "holds": holds, "where": where, "n": n}


CONVENTIONS = (("their conventions (preset)", PRESET), ("our conventions (clean)", "clean"))


def _their_rows(table: dict, authors: dict) -> dict:
    """The authors' rows of the seeds the preset ran, or all of theirs when none is common
    (their own claims need no pairing)."""
    _, theirs = matched(table, authors)
    return theirs or cells_by_row(authors)


def check(table: dict, raw: dict | None = None) -> list[dict]:
    """Claim 0, the preset against the authors' runs (:func:`comparison`: holds True =
    agrees, False = disagrees, None = n/a), then the paper's claims judged under the authors'
    conventions (the preset) and ours (all cleaner definitions, variant ``clean``), and on
    the authors' own numbers: holds True / False (interval below 0) / None (holds 0)."""
    out = []
    sources = [(name, cells_by_row(table, v), f"variant {v}") for name, v in CONVENTIONS
               if v in variants_in(table)]
    authors = read_authors(raw)
    if authors is not None:
        res = comparison(table, raw, authors=authors)
        out.append({"claim": "0", "text": "the preset reproduces the authors' table (paired by "
                    "seed, per chain)", "value": float(res["outside"]),
                    "ci": [float("nan"), res["null95"]],
                    "holds": {"agrees": True, "disagrees": False, "n/a": None}[res["verdict"]],
                    "where": res["reason"], "convention": "authors' script", "n":
                    len(res["seeds"])})
        sources.insert(0, ("authors' script", _their_rows(table, authors), "their script"))
    for spec in claim_specs():
        for name, rows, where in sources:
            c = judge(rows, spec, f"{where}, {_seeds(rows)}")
            if c is not None:
                c["convention"] = name
                out.append(c)
    return out


def verdicts(claims: list[dict]) -> str:
    """Markdown: each claim's verdict per convention, and whether it changes."""
    names = list(dict.fromkeys(c["convention"] for c in claims))
    by: dict = {}
    for c in claims:
        if c["claim"] == "0":
            continue
        by.setdefault(c["text"], {})[c["convention"]] = c
    word = {True: "holds", False: "**reversed**", None: "not resolved"}
    conv = [n for n, _ in CONVENTIONS]
    body = []
    for text, d in by.items():
        cells = [f"{word[d[n]['holds']]} ({100 * d[n]['value']:+.1f} "
                 f"[{100 * d[n]['ci'][0]:+.1f}, {100 * d[n]['ci'][1]:+.1f}])"
                 if n in d else "-" for n in names]
        changed = ("**yes**" if d[conv[0]]["holds"] != d[conv[1]]["holds"] else "no") \
            if all(n in d for n in conv) else "-"
        body.append([next(iter(d.values()))["claim"], text, *cells, changed])
    return (markdown_table(["#", "claim (difference, percentage points)", *names,
                            "verdict changes?"], body)
            + "\n\nVerdicts: holds = the 95% interval of the paired difference (over seeds) is "
              "above 0; reversed = below 0; not resolved = it holds 0. 'Verdict changes?' "
              "compares their conventions (the preset) with ours (`clean`).")


def _chain_shape(raw: dict | None) -> tuple[int, int, int]:
    fixed = (raw or {}).get("fixed") or {}
    d = Bu2025Config()
    return (int(fixed.get("L", d.L)), int(fixed.get("M0", d.M0)), int(fixed.get("M", d.M)))


def _word(table: dict, variant: str, strategy: str) -> str:
    """Verdict of '<strategy> lowers the rare CoTs' share' under ``variant``."""
    spec = ("3", "", BASE, strategy, "TASK1", "hard")
    c = judge(cells_by_row(table, variant), spec, variant)
    return "missing" if c is None else {True: "holds", False: "reversed",
                                        None: "not resolved"}[c["holds"]]


def causes(table: dict, raw: dict | None = None) -> str:
    """Markdown: the named causes of the two selection rows that point the other way (ORM-TAS,
    DPRM), with the numbers that show them, from the table alone."""
    L, M0, M = _chain_shape(raw)
    n_paths, n_valid = M0 * M ** (L - 1), M ** (L - 2)
    pre = cells_by_row(table, PRESET)

    def m(rows, s, t, met):
        return mean_ci(list(_metric_series(rows, s, t, met).values()))[0]

    out = [f"* **ORM-TAS** (l.756-783) proposes {n_paths - 1} *distinct* paths from the true "
           f"chain (a `while` loop that skips repeats) out of the {n_paths} paths of the tree, "
           f"then resamples them with weights `exp(0.5 Rex)` <= e^0.5: it is close to uniform "
           f"over all paths. Uniform would give a task easy {100 / n_paths:.1f}%, hard "
           f"{100 * (n_valid - 1) / n_paths:.1f}%, invalid "
           f"{100 * (n_paths - n_valid) / n_paths:.1f}%; the preset measures TASK1 easy "
           f"{_pct(m(pre, 'ORM-TAS', 'TASK1', 'easy'))}%, hard "
           f"{_pct(m(pre, 'ORM-TAS', 'TASK1', 'hard'))}%, invalid "
           f"{_pct(m(pre, 'ORM-TAS', 'TASK1', 'invalid'))}%. The de-duplication is the cause, "
           f"and no convention switch touches it: 'ORM-TAS lowers the rare CoTs' share' is "
           + ", ".join(f"{_word(table, var, 'ORM-TAS')} under {name}"
                       for name, var in CONVENTIONS) + "."]
    if (TILTED_DPRM, "TASK1", "easy") in pre:
        parts = []
        for name, var in CONVENTIONS:
            rows = cells_by_row(table, var)
            if rows:
                ev = [_pct(m(rows, x, "TASK1", "easy_of_valid"))
                      for x in (BASE, "DPRM", TILTED_DPRM)]
                parts.append(f"{name} {ev[0]}% / {ev[1]}% / {ev[2]}%")
        out.append("* **DPRM** (l.837-870) samples each step from `softmax(0.5 R_DPRM)` over "
                   "the children, with no base-policy factor: the true chain's 10:1 edge odds "
                   "are dropped and the rare branches get almost the same mass as the easy "
                   "one. Spec 2's DPRM sampler keeps the base policy (`p(s'|s) E[exp(0.5 "
                   "Rex)]`); the diagnostic row `DPRM (base-tilted)` computes it exactly on "
                   "the same chain. Easy share among valid TASK1 CoTs (Base / their DPRM / "
                   "base-tilted DPRM): " + "; ".join(parts) + ". Whether a row 'lowers the rare "
                   "CoTs' share' also depends on the Base convention: from a random start "
                   "half of Base's paths are invalid for the task, which halves its hard share.")
    return "\n".join(out)


def power_table(table: dict, raw: dict | None) -> str:
    """Markdown: every variant of the table put through the preset's comparison with the
    authors' runs (the cleaner definitions and the mutants are wrong versions of their
    script: the comparison's power)."""
    authors = read_authors(raw)
    if authors is None:
        return "(no authors' table)"
    body = []
    for var in variants_in(table):
        r = comparison(table, raw, var, authors=authors)
        if r["verdict"] == "n/a":
            body.append([var, "-", "-", "-", "-", "-", "n/a"])
            continue
        outside = sum(bool(c["outside"]) for c in r["cells"] if c["group"] == ALL) \
            if any(g == ALL for g, _ in r["groups"]) else "-"
        w = r["worst"]
        body.append([var, f"{r['outside']} of {r['tested']}", outside, f"{r['p_count']:.4f}",
                     f"{' '.join(w['row'])}, {w['group']}: {100 * w['diff']:+.2f}",
                     f"{r['p_max']:.4f}",
                     r["verdict"] if var == PRESET else
                     {"agrees": "**agrees**", "disagrees": "disagrees"}[r["verdict"]]])
    helps = "; ".join(f"`{x}`: {ALL_VARIANTS[x]['help']}" for x in variants_in(table)
                      if x in ALL_VARIANTS and x != PRESET)
    return ("Each variant of the sweep compared with the authors' runs exactly as the preset "
            "is (same seeds, paired, per chain): cells outside their 95% intervals (rows x "
            "groups), rows outside over all chains, the count's p-value under sign flips of "
            "whole seeds, the largest deviation (points) with its family-wise p-value, and "
            "the verdict (agrees when both p > 0.025). Every variant but `bu2025` "
            "differs from their script, so each should disagree; **agrees** in bold marks a "
            "wrong version the comparison cannot tell from theirs.\n\n"
            + markdown_table(["variant", "cells outside", "rows outside (all chains)",
                              "p (count)", "largest deviation", "p (largest)", "verdict"],
                             body)
            + f"\n\nVariants: {helps}.")


def summarise(table: dict, raw: dict | None = None) -> str:
    """Table 1 (authors vs preset), 1b (every variant through the same comparison), table 2
    (moves of each cleaner definition) and the claims under both conventions, from the
    results table (and the authors' csv) alone."""
    parts = ["## Table 1: the authors' script against the preset\n", table1(table, raw)]
    if len(variants_in(table)) > 1:
        parts += ["\n## Table 1b: the same comparison for every variant (its power)\n",
                  power_table(table, raw)]
    parts += ["\n## Table 2: how each cleaner definition moves each number\n",
              table2(table, raw), "\n## The claims under both conventions\n",
              verdicts(check(table, raw)),
              "\n## Why ORM-TAS and DPRM point the other way\n", causes(table, raw)]
    return "\n".join(parts)
