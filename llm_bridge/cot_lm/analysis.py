"""Tables and claims of a ``cot-lm`` sweep, from its results table alone (issue 23, point 4).

Each claim of Spec 2 §4 (and the bonus claim) is judged twice, on the network's rows and on the
tabular learner's, as a paired difference over seeds with the ``cot`` runner's rule
(:func:`obandits.cot.analysis.verdict`: holds when the mean is above two standard errors), and
a claim whose two verdicts differ is flagged.
"""

from __future__ import annotations

import numpy as np

from obandits.cot.analysis import verdict
from obandits.tables import markdown_table

from .params import DEFAULTS, NOT_IN_KEY

MODELS = ("network", "tabular")
RLVR = ("GRPO", "PPO")
REMEDIES = ("GRPO+KL", "GRPO+reject")
BONUSES = ("GRPO+UCB", "GRPO+UCB-Mean", "GRPO+UCB-Con", "GRPO+Batch")
# A method's own knobs: a configuration is the same whatever they are (GRPO is compared with
# GRPO+KL at every kl_beta); a method run at several values is labelled with the value.
KNOBS = {"kl_beta": ("GRPO+KL",), "reject": ("GRPO+reject",), "c": BONUSES,
         "b0": ("GRPO+UCB-Con",), "bonus_outcome": BONUSES}


def _need(table: dict) -> None:
    missing = {"method", "model", "task", "rep", "frac"} - set(table)
    if missing:
        raise ValueError(f"not a cot-lm results table: columns {sorted(missing)} missing")


def _varies(table: dict, c: str) -> bool:
    return len(set(map(str, table[c]))) > 1


def config_columns(table: dict) -> list[str]:
    """The parameters that vary between configurations (all but outputs, the method and the
    methods' own knobs)."""
    return [c for c in DEFAULTS if c in table and c not in KNOBS and c not in NOT_IN_KEY
            and _varies(table, c)]


def labels(table: dict) -> np.ndarray:
    """Each row's method, with the values of its own knobs that vary in the table."""
    meth = np.asarray(table["method"]).astype(str)
    out = meth.astype(object)
    for knob, owners in KNOBS.items():
        if knob in table and _varies(table, knob):
            vals = np.asarray(table[knob]).astype(str)
            own = np.isin(meth, owners)
            out[own] = [f"{m} {knob}={x}" for m, x in zip(out[own], vals[own])]
    return out.astype(str)


def configs(table: dict) -> list[tuple[dict, np.ndarray]]:
    """``(params, row mask)`` per configuration, in table order."""
    cols = config_columns(table)
    keys = list(zip(*(map(str, table[c]) for c in cols))) if cols else [()] * len(table["rep"])
    return [(dict(zip(cols, key)), np.array([k == key for k in keys]))
            for key in dict.fromkeys(keys)]


def final_rows(table: dict) -> np.ndarray:
    """The rows after training (``frac == 1``), and the base model's."""
    return (np.asarray(table["frac"], float) == 1.0) | (np.asarray(table["method"]) == "base")


def train_task(table: dict, rows: np.ndarray) -> int:
    return int(np.asarray(table["train_task"])[rows][0]) if "train_task" in table else 0


def _series(table, rows, lab, label, model, task, metric) -> dict[int, float]:
    """``{rep: metric}`` of the rows labelled ``label`` (``lab``: :func:`labels` of the table,
    computed once by the caller) of one model and task."""
    sel = (rows & (lab == label) & (np.asarray(table["model"]) == model)
           & (np.asarray(table["task"]).astype(int) == task))
    return {int(r): float(x) for r, x in zip(table["rep"][sel], table[metric][sel])}


def _stat(xs) -> tuple[float, float, int]:
    xs = np.asarray([x for x in xs if np.isfinite(x)], float)
    if not len(xs):
        return float("nan"), float("nan"), 0
    return float(xs.mean()), float(xs.std(ddof=1)) if len(xs) > 1 else 0.0, len(xs)


def _pm(stat) -> str:
    m, s, n = stat
    return "--" if n == 0 else f"{m:.3f} ± {s:.3f}"


def _where(params: dict) -> str:
    return ", ".join(f"{k}={x}" for k, x in params.items()) or "all cells"


def summarise(table: dict, raw: dict | None = None) -> str:
    """Per configuration: every method x model's final metrics, mean ± sd over seeds."""
    _need(table)
    fin = final_rows(table)
    k = int(np.asarray(table["k"])[0]) if "k" in table else 30
    out = []
    lab = labels(table)
    for params, rows in configs(table):
        rows = rows & fin
        t0 = train_task(table, rows)
        other = 1 - t0
        body = []
        for m in dict.fromkeys(lab[rows].tolist()):
            for model in MODELS:
                def s(metric, task, m=m, model=model, rows=rows):
                    return _stat(_series(table, rows, lab, m, model, task, metric).values())
                body.append([m, model, _pm(s("hard", t0)), _pm(s("pass_rare", t0)),
                             _pm(s("pass_all", t0)), _pm(s("pass_all", other)),
                             _pm(s("malformed", t0)), _pm(s("distinct", t0)),
                             _pm(s("tv", t0)), _pm(s("rejected_share", t0))])
        a, b = f"TASK{t0 + 1}", f"TASK{other + 1}"
        out.append(f"### {_where(params)} (trained on {a})\n\n" + markdown_table(
            ["method", "model", f"{a} rare share", f"{a} rare-only pass@{k}",
             f"{a} pass@{k}", f"{b} pass@{k}", "malformed", f"distinct in {k}",
             "TV to chain", "rejected"], body))
    return "\n\n".join(out)


def _claim(cid, text, table, rows, a, b, task, metric, where, lab=None) -> list[dict]:
    """The paired claim ``a - b > 0`` on each model, the network's flagged when exactly one of
    the two holds."""
    lab = labels(table) if lab is None else lab
    got = {}
    for model in MODELS:
        sa = _series(table, rows, lab, a, model, task, metric)
        sb = _series(table, rows, lab, b, model, task, metric)
        d = [sa[r] - sb[r] for r in sorted(set(sa) & set(sb))]
        got[model] = verdict(f"{cid} {model}", f"{text}: {a} - {b}, TASK{task + 1} {metric}",
                             d, where, model=model)
    if got["network"] is None or got["tabular"] is None:
        return [c for c in got.values() if c is not None]
    # "holds" against "does not" (False or only the direction, None): a None beside a False is
    # two failures to show the effect, not a disagreement
    agree = (got["network"]["holds"] is True) == (got["tabular"]["holds"] is True)
    for c in got.values():
        c["agree"] = agree
    if not agree:
        got["network"]["text"] += " -- DISAGREES with the tabular verdict"
    return [got["network"], got["tabular"]]


def claims(table: dict, raw: dict | None = None) -> list[dict]:
    """Per configuration: RLVR forgets rare CoTs and damages the other task (claims 1-2),
    remedies keep them (4), outcome bonuses raise large-k pass@K (5), for each model."""
    _need(table)
    fin = final_rows(table)
    out: list[dict] = []
    lab_all = labels(table)
    for params, rows in configs(table):
        rows = rows & fin
        where = _where(params)
        lab = lab_all[rows]
        have = set(lab.tolist())
        method_of = dict(zip(lab.tolist(), np.asarray(table["method"])[rows].tolist()))
        t0 = train_task(table, rows)
        checks = []
        for m in RLVR:
            if {m, "base"} <= have:
                checks += [("1", "RLVR forgets rare CoTs", "base", m, t0, "hard"),
                           ("1", "RLVR loses rare-only pass@K", "base", m, t0, "pass_rare"),
                           ("2", "training damages the other task", "base", m, 1 - t0,
                            "pass_all")]
        for m in sorted(x for x in have if method_of[x] in REMEDIES):
            if "GRPO" in have:
                checks += [("4", "remedy keeps rare CoTs", m, "GRPO", t0, "hard"),
                           ("4", "remedy keeps rare-only pass@K", m, "GRPO", t0, "pass_rare"),
                           ("4", "remedy keeps the other task", m, "GRPO", 1 - t0, "pass_all")]
        for m in sorted(x for x in have if method_of[x] in BONUSES):
            if "GRPO" in have:
                checks += [("5", "outcome bonus raises pass@K", m, "GRPO", t0, "pass_all"),
                           ("5", "outcome bonus keeps rare-only pass@K", m, "GRPO", t0,
                            "pass_rare")]
        for c in checks:
            out += _claim(*c[:2], table, rows, *c[2:], where, lab_all)
    return out


def disagreements(claims_: list[dict]) -> list[dict]:
    """The network claims whose verdict differs from the tabular one."""
    return [c for c in claims_ if c.get("model") == "network" and c.get("agree") is False]
