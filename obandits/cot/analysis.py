"""Tables and claims of Spec 2 §4 from a cot results table alone (pure: tables in, claims out).

The table is what :func:`obandits.results.read_table` returns for a cot sweep (one row per cell
x seed x task, and x RL snapshot for cells with ``curves``; see :mod:`obandits.cot.runner`).

* A *configuration* is a cell's parameters without its method and bonus settings; a row's
  *label* is its method, with the bonus settings that differ from the defaults
  (``GRPO+UCB-Con c=1 (CoT outcome)``).
* Table (a): the final row of each seed (``iter`` = its largest value), mean ± std over seeds,
  per configuration. Forgetting curves: the snapshots' rows. Sensitivity: the rare-CoT mass a
  method keeps (trained / base of the same seed, the base matched on the parameters it depends
  on) against each parameter that varies across configurations, the others at their most
  common value.
* Claims 1-4 of Spec 2 §4 as paired checks over seeds, claim 5 (ours, experiment (d)): an
  outcome bonus keeps more rare-CoT mass than plain GRPO, and trend claims for the
  sensitivity parameters (``eps``, ``kl_beta``, ``reject``: larger keeps more; ``iters``:
  more steps forget more).
"""

from __future__ import annotations

import numpy as np

from ..tables import markdown_table
from .experiments import METHODS, METRICS

RLVR = ("REINFORCE", "RAFT", "PPO", "GRPO")
SELECTION = ("ORM best-of-N", "soft best-of-N", "PRM best-of-N", "DPRM sampling")
REMEDIES = (("REINFORCE+reject", "REINFORCE"), ("GRPO+reject", "GRPO"),
            ("REINFORCE+KL", "REINFORCE"), ("GRPO+KL", "GRPO"), ("KL closed form", "GRPO"))
BONUS_KEYS = ("c", "b0", "count_mode", "bonus_outcome")
# what the base model's row depends on (chain, pretraining, instances, evaluation)
MODEL_KEYS = ("L", "M0", "M", "C_size", "eps", "T1", "T2", "eta", "train_task", "n_train",
              "n_eval", "k", "eval_temperature", "stream")
WHERE_KEYS = ("eps", "iters", "kl_beta", "reject", "L", "stream")
# direction in which each parameter should keep more rare-CoT mass (the trend claims)
TRENDS = {"eps": +1, "kl_beta": +1, "reject": +1, "iters": -1}


def _need(table: dict) -> None:
    for c in ("method", "rep", "task", *METRICS):
        if c not in table:
            raise ValueError(f"cot table has no column {c!r}; is it a cot sweep?")


def _n(table: dict) -> int:
    return len(table["rep"])


def param_columns(table: dict) -> list[str]:
    from .runner import DEFAULTS

    return [k for k in DEFAULTS if k in table]


def config_columns(table: dict) -> list[str]:
    return [k for k in param_columns(table) if k not in BONUS_KEYS]


def _keys(table: dict, cols, rows=None) -> list[tuple]:
    idx = range(_n(table)) if rows is None else np.flatnonzero(rows)
    return [tuple(str(table[c][i]) for c in cols) for i in idx]


def labels(table: dict) -> np.ndarray:
    """Each row's label: its method, plus the bonus settings that differ from the defaults
    (bonus methods only)."""
    from .runner import DEFAULTS

    out = []
    for i in range(_n(table)):
        m = str(table["method"][i])
        spec = METHODS.get(m)
        if spec is not None and spec.bonus != "none":
            for k in ("c", "b0", "count_mode"):
                if k in table and str(table[k][i]) != str(DEFAULTS[k]):
                    out_k = table[k][i]
                    m += f" {k}={out_k:g}" if isinstance(out_k, float) else f" {k}={out_k}"
            if "bonus_outcome" in table and str(table["bonus_outcome"][i]) == "path":
                m += " (CoT outcome)"
        out.append(m)
    return np.array(out, dtype=object)


def final_rows(table: dict) -> np.ndarray:
    """Mask of the rows at the largest ``iter`` of their cell, seed and task (all rows of a
    table without ``iter``)."""
    if "iter" not in table:
        return np.ones(_n(table), bool)
    cols = [*param_columns(table), "method", "rep", "task"]
    keys = _keys(table, cols)
    last: dict = {}
    for k, it in zip(keys, table["iter"]):
        last[k] = max(last.get(k, it), it)
    return np.array([it == last[k] for k, it in zip(keys, table["iter"])])


def configs(table: dict) -> list[tuple[dict, np.ndarray]]:
    """``[(params without method and bonus settings, row mask)]``, one per configuration, in
    table order."""
    _need(table)
    cols = config_columns(table)
    keys = _keys(table, cols)
    out = []
    for key in dict.fromkeys(keys):
        out.append((dict(zip(cols, key)), np.array([k == key for k in keys])))
    return out


def _stats(xs) -> tuple:
    xs = np.asarray(xs, float)
    xs = xs[np.isfinite(xs)]
    return (float(np.mean(xs)) if len(xs) else None,
            float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, len(xs))


def aggregate(table: dict, rows: np.ndarray) -> dict:
    """``{label: {task: {metric: (mean, std, n)}}}`` over seeds of the final rows (NaN -- no
    instance of that kind drawn in a seed -- is left out of that mean)."""
    lab = labels(table)
    rows = rows & final_rows(table)
    out: dict = {}
    for m in dict.fromkeys(lab[rows].tolist()):
        sel_m = rows & (lab == m)
        out[m] = {}
        for t in sorted(set(table["task"][sel_m].tolist())):
            sel = sel_m & (table["task"] == t)
            order = np.argsort(table["rep"][sel], kind="stable")
            out[m][int(t)] = {met: _stats(np.asarray(table[met][sel], float)[order])
                              for met in METRICS}
    return out


def pm(cell) -> str:
    mean, std = cell[0], cell[1]
    return "-" if mean is None else f"{mean:.3f} ± {std:.3f}"


def paper_table(agg: dict, tasks=(0, 1), k: int = 30) -> str:
    """Table (a): easy / hard / invalid coverage and pass@K (all, rare-only) per task."""
    headers = ["method"]
    for t in tasks:
        headers += [f"T{t + 1} easy", f"T{t + 1} hard", f"T{t + 1} invalid",
                    f"T{t + 1} pass@{k}", f"T{t + 1} pass@{k} rare-only"]
    rows = []
    for name, per in agg.items():
        row = [name]
        for t in tasks:
            row += [pm(per[t][m]) if t in per else "-" for m in METRICS]
        rows.append(row)
    return markdown_table(headers, rows)


def curves(table: dict, rows: np.ndarray) -> dict:
    """``{label: {task: {metric: (iters, mean, std)}}}`` over seeds, for the labels with
    snapshot rows (``curves`` cells); a checkpoint where no seed has a value has mean NaN."""
    if "iter" not in table:
        return {}
    lab = labels(table)
    out: dict = {}
    for m in dict.fromkeys(lab[rows].tolist()):
        sel_m = rows & (lab == m)
        if len(set(table["iter"][sel_m].tolist())) < 2:
            continue
        out[m] = {}
        for t in sorted(set(table["task"][sel_m].tolist())):
            sel = sel_m & (table["task"] == t)
            iters = np.array(sorted(set(table["iter"][sel].tolist())))
            out[m][int(t)] = {}
            for met in METRICS:
                st = [_stats(table[met][sel & (table["iter"] == it)]) for it in iters]
                out[m][int(t)][met] = (iters, np.array([np.nan if s[0] is None else s[0]
                                                        for s in st]),
                                       np.array([s[1] for s in st]))
    return out


def forgetting_table(cur: dict) -> str:
    """Rare-CoT mass (mean ± std) at 0, 1/4, 1/2 and all of training, per method and task."""
    if not cur:
        return ""
    first = next(iter(cur.values()))
    tasks = sorted(first)
    iters = first[tasks[0]]["hard"][0]
    n = len(iters)
    js = sorted(set((0, n // 4, n // 2, n - 1)))
    headers = ["method"] + [f"T{t + 1} hard @{iters[j]}" for t in tasks for j in js]
    rows = []
    for name, per in cur.items():
        row = [name]
        for t in tasks:
            x, mean, std = per[t]["hard"]
            row += [f"{mean[j]:.3f} ± {std[j]:.3f}" if j < len(x) else "-" for j in js]
        rows.append(row)
    return markdown_table(headers, rows)


# ------------------------------------------------------------------------------------------
# Sensitivity: retained rare-CoT mass against the parameters that vary
# ------------------------------------------------------------------------------------------


def _base_hard(table: dict, fin: np.ndarray) -> dict:
    """``{(model params, rep, task): hard}`` of the base model's final rows."""
    cols = [c for c in MODEL_KEYS if c in table]
    sel = fin & (table["method"] == "base")
    out = {}
    for i in np.flatnonzero(sel):
        key = (tuple(str(table[c][i]) for c in cols), int(table["rep"][i]),
               int(table["task"][i]))
        out.setdefault(key, float(table["hard"][i]))
    return out


def retention(table: dict) -> list[dict]:
    """Per configuration, label (not base) and task: the ratio ``hard / base hard`` of each
    seed (paired with the base model of the same seed and model parameters; ``nan`` where no
    base row matches), and pass@K."""
    fin = final_rows(table)
    base = _base_hard(table, fin)
    cols = [c for c in MODEL_KEYS if c in table]
    lab = labels(table)
    out = []
    for params, rows in configs(table):
        for m in dict.fromkeys(lab[rows & fin].tolist()):
            if m == "base":
                continue
            for t in sorted(set(table["task"][rows & fin & (lab == m)].tolist())):
                sel = np.flatnonzero(rows & fin & (lab == m) & (table["task"] == t))
                ratio = {}
                for i in sel:
                    b = base.get((tuple(str(table[c][i]) for c in cols), int(table["rep"][i]),
                                  int(t)))
                    ratio[int(table["rep"][i])] = (float(table["hard"][i]) / b
                                                   if b else float("nan"))
                out.append({"params": params, "label": m, "task": int(t), "ratio": ratio,
                            "pass_all": _stats(table["pass_all"][sel]),
                            "pass_rare": _stats(table["pass_rare"][sel])})
    return out


def knobs(table: dict) -> dict[str, list[dict]]:
    """``{parameter: retention rows}`` for each configuration parameter that takes several
    values (``stream`` excepted), the other varying parameters at their most common value."""
    cfgs = [p for p, _ in configs(table)]
    varying = [c for c in config_columns(table)
               if c != "stream" and len({p[c] for p in cfgs}) > 1]
    if not varying:
        return {}
    mode = {}
    for c in varying:
        vals = [p[c] for p in cfgs]
        mode[c] = max(dict.fromkeys(vals), key=vals.count)
    ret = retention(table)
    out = {}
    for c in varying:
        rows = [r for r in ret if all(r["params"][o] == mode[o] for o in varying if o != c)]
        # a method seen at one value of this knob only says nothing about it
        keep = {r["label"] for r in rows
                if len({q["params"][c] for q in rows if q["label"] == r["label"]}) > 1}
        rows = [r for r in rows if r["label"] in keep]
        if rows:
            out[c] = sorted(rows, key=lambda r: (r["label"], r["task"], _num(r["params"][c])))
    return out


def _num(x):
    try:
        return float(x)
    except ValueError:
        return x


def sensitivity_table(kn: dict, k: int = 30) -> str:
    rows = []
    for c, rs in kn.items():
        for r in rs:
            rows.append([c, r["params"][c], r["label"], r["task"] + 1,
                         pm(_stats(list(r["ratio"].values()))), pm(r["pass_all"]),
                         pm(r["pass_rare"])])
    if not rows:
        return ""
    return markdown_table(["knob", "value", "method", "task", "rare mass kept (trained/base)",
                           f"pass@{k}", f"pass@{k} rare-only"], rows)


def _where(params: dict) -> str:
    return ", ".join(f"{c}={params[c]}" for c in WHERE_KEYS if c in params)


def summarise(table: dict, raw: dict | None = None) -> str:
    """Table (a) per configuration, the forgetting table where there are curves, and the
    sensitivity table where a parameter varies (mean ± std over seeds)."""
    parts = []
    fin = final_rows(table)
    k = 30
    for params, rows in configs(table):
        agg = aggregate(table, rows)
        tasks = sorted(set(table["task"][rows & fin].tolist()))
        k = params.get("k", k)
        parts.append(f"### {_where(params)}\n\n" + paper_table(agg, tasks, k))
        ft = forgetting_table(curves(table, rows))
        if ft:
            parts.append(f"#### forgetting: rare-CoT mass during RL ({_where(params)})\n\n" + ft)
    st = sensitivity_table(knobs(table), k)
    if st:
        parts.append("### sensitivity: rare-CoT mass kept against each parameter\n\n" + st)
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------
# Claims
# ------------------------------------------------------------------------------------------


def _verdict(claim, text, d, where, **extra) -> dict | None:
    """``mean over seeds of d > 0``: holds when above 2 standard errors, None when only its
    direction agrees, False otherwise."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    if not len(d):
        return None
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    holds = (True if len(d) > 1 and mean > 2 * se and mean > 0 else
             None if mean > 0 else False)
    return {"claim": claim, "text": text, "value": mean, "ci": [mean - 2 * se, mean + 2 * se],
            "holds": holds, "where": where, **extra}


verdict = _verdict  # the public name (llm_bridge.cot_lm judges its claims by the same rule)


def _series(table, rows, label, task, metric, lab) -> dict[int, float]:
    sel = rows & (lab == label) & (table["task"] == task)
    return {int(r): float(x) for r, x in zip(table["rep"][sel], table[metric][sel])}


def _paired(claim, text, table, rows, a, b, task, metric, where, lab) -> dict | None:
    sa, sb = (_series(table, rows, a, task, metric, lab),
              _series(table, rows, b, task, metric, lab))
    d = [sa[r] - sb[r] for r in sorted(set(sa) & set(sb))]
    return _verdict(claim, f"{text}: {a} - {b}, TASK{task + 1} {metric}", d, where)


def claims(table: dict, raw: dict | None = None) -> list[dict]:
    """Claims 1-4 of Spec 2 §4 and claim 5 (bonuses) as paired checks over seeds per
    configuration (labels absent are skipped), then the sensitivity trends."""
    out = []
    fin = final_rows(table)
    lab = labels(table)
    for params, rows in configs(table):
        rows = rows & fin
        where = _where(params)
        have = set(lab[rows].tolist())
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
        if "GRPO" in have:
            for m in sorted(have):
                spec = METHODS.get(m.split(" ")[0])
                if spec is not None and spec.bonus != "none":
                    checks += [("5", "outcome bonus keeps rare CoTs", m, "GRPO", 0, "hard"),
                               ("5", "outcome bonus keeps rare-only pass@K", m, "GRPO", 0,
                                "pass_rare")]
        for c in checks:
            r = _paired(*c[:2], table, rows, *c[2:], where, lab)
            if r is not None:
                out.append(r)
    out += trend_claims(table)
    return out


def trend_claims(table: dict) -> list[dict]:
    """For each parameter with a known direction (:data:`TRENDS`) that varies: the rare mass
    kept at its largest value minus at its smallest, per method and task, paired by seed."""
    out = []
    for c, rows in knobs(table).items():
        if c not in TRENDS:
            continue
        for m in dict.fromkeys(r["label"] for r in rows):
            for t in sorted({r["task"] for r in rows if r["label"] == m}):
                rs = sorted((r for r in rows if r["label"] == m and r["task"] == t),
                            key=lambda r: _num(r["params"][c]))
                lo, hi = rs[0], rs[-1]
                reps = sorted(set(lo["ratio"]) & set(hi["ratio"]))
                d = [TRENDS[c] * (hi["ratio"][i] - lo["ratio"][i]) for i in reps]
                word = "larger" if TRENDS[c] > 0 else "smaller"
                r = _verdict("6", f"{word} {c} keeps more rare-CoT mass: {m}, TASK{t + 1}, "
                             f"{c}={hi['params'][c]} vs {lo['params'][c]}"
                             f"{' (sign flipped)' if TRENDS[c] < 0 else ''}", d, _where(
                                 {k: x for k, x in lo["params"].items() if k != c}))
                if r is not None:
                    out.append(r)
    return out
