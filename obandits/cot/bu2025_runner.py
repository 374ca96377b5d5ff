"""Bu et al. (2025) reproduced through the sweep pipeline: runner ``bu2025`` (:data:`RUNNER`).

A cell is one seed of the authors' experiment under one convention: ``seed`` (their ``--seed``;
with ``chain = "seed"`` the chain their script draws for that seed, via
:func:`obandits.cot.bu2025.authors_high_edges`) x ``variant`` (:data:`VARIANTS`: ``"bu2025"``, the
exact reproduction with their quirks on and sampled scoring, or one of our cleaner definitions
switched on alone, or all of them at once, ``"clean"``). Each cell pretrains, fine-tunes the
four RL methods and scores their 11 strategies on both tasks (Spec 2 §4 as the authors ran it,
``multi_task_tmc.py`` l.1537-1663). Columns, one row per rep x strategy x task x metric:
``rep``, ``strategy`` (their row names), ``task`` (``TASK1``/``TASK2``), ``metric``
(:data:`METRICS`), ``value`` (a fraction).

The analysis is pure (tables in, text and claims out): :func:`summarise` sets the results beside
the authors' own output (``authors.csv``, parsed from their logs by :func:`parse_log`; path in
the config's ``[check] authors``), :func:`check` re-judges the paper's claims under both
conventions. :func:`run_preset` is the Python (and ``obandits cot paper --preset bu2025``) entry.

The authors' printed tables: their script (github:DakeBU/Distribution-Bias-of-Post-training,
``multi_task_tmc.py``, commit 6049bf5) prints two markdown tables at the end of a run
(l.1397-1414): pass@K per strategy and task, and the three coverage shares per strategy and task,
in percent. :func:`parse_log` turns one run's output into rows ``(seed, strategy, task, metric,
value)``; :func:`parse_chain` reads the valid paths it prints first (l.197-218), so the chain
each seed drew is on record; :func:`parse_time` reads ``/usr/bin/time -v``.
``python -m obandits.cot.bu2025_runner authors LOGDIR OUTDIR`` collects a directory of
``log_<seed>.txt`` / ``time_<seed>.txt`` into ``authors.csv``, ``authors_chain.csv`` and
``authors_runs.csv`` (the committed copy: ``docs/data/bu2025/``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from .. import _validate as v
from ..results import write_rows
from ..runners import Runner
from ..tables import markdown_table

METRICS = ("pass_at_k", "easy", "hard", "invalid")
TASKS = ("TASK1", "TASK2")
# Their column headers (l.1398, l.1406) -> (task, metric).
_COLUMN = re.compile(r"^(TASK\d+) (Pass@K Rate|Valid Easy CoTs|Valid Hard CoTs|Invalid CoTs) "
                     r"\(%\)$")
_METRIC = {"Pass@K Rate": "pass_at_k", "Valid Easy CoTs": "easy", "Valid Hard CoTs": "hard",
           "Invalid CoTs": "invalid"}
_PATH = re.compile(r"Path \d+: \[(.*)\] \(Type: (EASY|HARD), Probability: ([0-9.eE+-]+), "
                   r"Expected Accuracy: ([0-9.eE+-]+)\)")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table in ``text`` whose first column is ``Strategy``."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("| Strategy |"):
            header = _cells(lines[i])
            body = []
            i += 2  # skip the |---| line
            while i < len(lines) and lines[i].startswith("|"):
                body.append(_cells(lines[i]))
                i += 1
            out.append((header, body))
        else:
            i += 1
    return out


def _percent(cell: str, where: str) -> float:
    if not cell.endswith("%"):
        raise ValueError(f"{where}: expected a percentage, got {cell!r}")
    try:
        return float(cell[:-1]) / 100.0
    except ValueError:
        raise ValueError(f"{where}: expected a percentage, got {cell!r}") from None


def parse_log(text: str, seed: int, source: str = "log") -> list[dict]:
    """Rows ``{seed, strategy, task, metric, value}`` of the pass@K table and the coverage table
    of one run of their script (both must be present: a cut log raises ValueError naming
    ``source``)."""
    rows: list[dict] = []
    found = set()
    for header, body in _tables(text):
        cols = []
        for h in header[1:]:
            m = _COLUMN.match(h)
            if not m:
                raise ValueError(f"{source}: unknown column {h!r} in a strategy table")
            cols.append((m.group(1), _METRIC[m.group(2)]))
        kind = "pass" if cols[0][1] == "pass_at_k" else "coverage"
        if kind in found:
            raise ValueError(f"{source}: two {kind} tables; one run per log please")
        found.add(kind)
        for r in body:
            if len(r) != len(header):
                raise ValueError(f"{source}: row {r!r} has {len(r)} cells, the header "
                                 f"{len(header)}")
            for (task, metric), cell in zip(cols, r[1:]):
                rows.append({"seed": int(seed), "strategy": r[0], "task": task,
                             "metric": metric,
                             "value": _percent(cell, f"{source}, {r[0]}, {task} {metric}")})
    missing = {"pass", "coverage"} - found
    if missing:
        raise ValueError(f"{source}: no {' and no '.join(sorted(missing))} table (did the run "
                         f"finish?)")
    return rows


def parse_chain(text: str, seed: int, source: str = "log") -> list[dict]:
    """The valid paths of each task as their script printed them (l.197-218): rows
    ``{seed, task, path, type, probability, expected_accuracy}`` (path as ``"0-0-1-0"``)."""
    rows, task = [], None
    for line in text.splitlines():
        m = re.match(r"^Task (TASK\d+):", line.strip())
        if m:
            task = m.group(1)
            continue
        m = _PATH.search(line)
        if m and task is not None:
            states = [int(x) for x in re.findall(r"-?\d+", m.group(1).replace("np.int64", ""))]
            rows.append({"seed": int(seed), "task": task, "path": "-".join(map(str, states)),
                         "type": m.group(2).lower(), "probability": float(m.group(3)),
                         "expected_accuracy": float(m.group(4))})
    if not rows:
        raise ValueError(f"{source}: no 'Path N: [...]' lines (is this a log of their script?)")
    return rows


def parse_time(text: str, source: str = "time") -> dict:
    """Wall and user seconds, peak memory and exit status from ``/usr/bin/time -v``."""
    def grab(label):
        m = re.search(rf"{re.escape(label)}: *(.+)", text)
        if not m:
            raise ValueError(f"{source}: no {label!r} line (was it written by /usr/bin/time -v?)")
        return m.group(1).strip()

    wall = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return {"wall_s": round(secs, 3), "user_s": float(grab("User time (seconds)")),
            "max_rss_kb": int(grab("Maximum resident set size (kbytes)")),
            "exit_status": int(grab("Exit status"))}


def collect(log_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Parse every ``log_<seed>.txt`` (and ``time_<seed>.txt``) under ``log_dir`` into
    ``authors.csv``, ``authors_chain.csv`` and ``authors_runs.csv`` in ``out_dir``; a log
    without both tables (an unfinished run) is skipped and reported. Returns row counts."""
    log_dir, out_dir = Path(log_dir), Path(out_dir)
    logs = sorted(log_dir.glob("log_*.txt"), key=lambda p: int(p.stem.split("_")[1]))
    if not logs:
        raise ValueError(f"no log_<seed>.txt files in {str(log_dir)!r}")
    rows, chain, runs = [], [], []
    for p in logs:
        seed = int(p.stem.split("_")[1])
        text = p.read_text()
        try:
            r = parse_log(text, seed, str(p))
        except ValueError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        rows += r
        chain += parse_chain(text, seed, str(p))
        t = log_dir / f"time_{seed}.txt"
        runs.append({"seed": seed, **(parse_time(t.read_text(), str(t)) if t.is_file() else
                                      {"wall_s": float("nan")})})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_rows(out_dir / "authors.csv", rows)
    write_rows(out_dir / "authors_chain.csv", chain)
    write_rows(out_dir / "authors_runs.csv", runs)
    from ..results import atomic_write

    atomic_write(out_dir / "README.md", _data_readme(runs, log_dir))
    return {"authors.csv": len(rows), "authors_chain.csv": len(chain), "runs": len(runs)}


#: How their script was run for authors.csv (one seed at a time, niced, timed).
AUTHORS_COMMAND = ("nice -n 10 /usr/bin/time -v -o time_$s.txt .venv/bin/python "
                   "multi_task_tmc.py --seed $s --output-dir /tmp/figs_$s > log_$s.txt")


def _machine() -> str:
    import os
    import platform

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.machine()} {model}, {os.cpu_count()} cores shared with other jobs, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def _spread(x: np.ndarray) -> str:
    return f"mean {np.nanmean(x):.0f} s (min {np.nanmin(x):.0f}, max {np.nanmax(x):.0f})"


def _data_readme(runs: list[dict], log_dir: Path) -> str:
    import numpy  # the versions their script ran with
    import scipy

    wall = np.array([r["wall_s"] for r in runs], float)
    user = np.array([r.get("user_s", np.nan) for r in runs], float)
    seeds = ", ".join(str(r["seed"]) for r in runs)
    return f"""# Bu et al.'s own script: parsed output (docs/data/bu2025/)

Written by `python -m obandits.cot.bu2025_runner authors LOGDIR docs/data/bu2025` from the
logs of their script, run unchanged: `multi_task_tmc.py` of
github:DakeBU/Distribution-Bias-of-Post-training at commit 6049bf5 (md5 of the file
48ae1eeb3cf1c64a4578bfad22e83982), once per seed, one at a time:

    for s in {seeds.replace(", ", " ")}; do {AUTHORS_COMMAND}; done

- Seeds: {seeds} ({len(runs)} runs; their default is 42, `docs/bu2025.md` uses these).
- Wall time per run: {_spread(wall)}.
- CPU (user) time per run: {_spread(user)}.
  Wall time varies with the load of the shared machine; the CPU time is the fairer figure.
- Machine: {_machine()}; numpy {numpy.__version__}, scipy {scipy.__version__}.

Files: `authors.csv` (seed, strategy, task, metric, value: their two printed tables,
l.1397-1414, values as fractions; metric pass_at_k / easy / hard / invalid),
`authors_chain.csv` (the valid paths each run printed, l.197-218: path, type, probability,
expected accuracy; tests check that `authors_high_edges(seed)` builds exactly these chains),
`authors_runs.csv` (seed, wall_s, user_s, max_rss_kb, exit_status from `/usr/bin/time -v`).
`preset/` is the sweep of `experiments/cot/bu2025.toml` behind `docs/bu2025.md`.
"""



# ------------------------------------------------------------------------------------------
# The runner: cells (seed x variant), validation, one cell's run, presets
# ------------------------------------------------------------------------------------------

#: Conventions: the exact reproduction (their quirks on, sampled scoring, the seed's chain),
#: each cleaner definition switched on alone from it, and all of them at once (``clean``).
#: ``set`` = the Bu2025Config fields changed from ``Bu2025Config.authors(seed=...)``.
VARIANTS: dict[str, dict] = {
    "bu2025": {"set": {}, "help": "their script: quirks on, sampled scoring, the seed's chain"},
    "group_rl": {"set": {"rl_variant": "group"},
                 "help": "group RL (8 CoTs per iteration, 2 PPO epochs, ratio clip)"},
    "exact": {"set": {"scoring": "exact"},
              "help": "exact metrics at T = 1 (expectations, no sampling noise)"},
    "solvable": {"set": {"denominator": "solvable"},
                 "help": "pass@K over solvable instances only"},
    "per_task": {"set": {"quirk_task1_reward": False},
                 "help": "per-task rewards (TASK2's CoTs scored with TASK2's reward)"},
    "base_task": {"set": {"base_start": "task"},
                  "help": "'Base' samples the true chain from the task's start"},
    "bon_select": {"set": {"quirk_orm_bon_all": False},
                   "help": "ORM-BoN selects even when N < K"},
    "fresh_mc": {"set": {"quirk_mc_cache": False},
                 "help": "a fresh Monte-Carlo estimate per reward-model call (no run-long "
                         "cache)"},
}
VARIANTS["clean"] = {
    "set": {k: x for name, d in VARIANTS.items() if name != "bu2025" for k, x in d["set"].items()},
    "help": "all of the above at once (our conventions)"}
PRESETS = ("bu2025",)
#: A diagnostic row beside their 11: Spec 2's DPRM sampler, which keeps the base policy.
TILTED_DPRM = "DPRM (base-tilted)"
#: Every variant's row of the preset grid (``experiments/cot/bu2025.toml``).
SEEDS = tuple(range(12))
CELL_KEYS = ("seed", "variant")


def _config_cls():
    from .bu2025 import Bu2025Config

    return Bu2025Config


def cell_config(p: dict):
    """The :class:`~obandits.cot.bu2025.Bu2025Config` of a validated cell: the authors' own
    (``Bu2025Config.authors``, the chain of ``seed``), the variant's switches, then any field
    the cell sets explicitly."""
    cls = _config_cls()
    base = cls.authors(seed=p["seed"])
    extra = {k: x for k, x in p.items() if k not in CELL_KEYS}
    return base.with_(**{**VARIANTS[p["variant"]]["set"], **extra})


def validate_cell(params: dict) -> dict:
    """Fill defaults (``seed`` 42, ``variant`` "bu2025") and check every field (ValueError
    naming it); other keys are :class:`~obandits.cot.bu2025.Bu2025Config` fields."""
    from dataclasses import fields

    if not isinstance(params, dict):
        raise ValueError(f"bu2025 cell must be a table of parameters, got {params!r}")
    cls = _config_cls()
    allowed = sorted({*CELL_KEYS, *(f.name for f in fields(cls))})
    for k in params:
        if k not in allowed:
            from ..sweep import did_you_mean

            raise ValueError(f"unknown bu2025 parameter {k!r}{did_you_mean(k, allowed)}; "
                             f"allowed: {', '.join(allowed)}")
    p = {"seed": 42, "variant": PRESET, **params}
    v.int_scalar("seed", p["seed"], min_value=0, max_value=2**32 - 1)
    if p["variant"] not in VARIANTS:
        from ..sweep import did_you_mean

        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {p['variant']!r}"
                         f"{did_you_mean(p['variant'], VARIANTS)}")
    for k in ("high_edges", "finetune_methods"):
        if k in p and isinstance(p[k], list):  # TOML arrays
            p[k] = tuple(tuple(x) if isinstance(x, list) else x for x in p[k])
    cell_config(p)  # the dataclass validates every field (zero budgets, edge lists ...)
    return p


def _streams(root_seed: int, seed: int, reps: int):
    """Per rep, independent generators for pretraining, each fine-tuned method and scoring,
    keyed by (root_seed, seed) only: every variant of a seed sees the same draws (paired)."""
    from ..seeding import rep_sequences

    out = []
    for ss in rep_sequences(int(root_seed), f"bu2025/seed={int(seed)}", reps):
        pre, ft, sc = ss.spawn(3)
        out.append((np.random.default_rng(pre), ft, np.random.default_rng(sc)))
    return out


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` runs of the authors' experiment under one convention (module doc): pretrain
    (bu2025_train.pretrain), fine-tune each of their four methods on one shared TASK1 set
    (bu2025_train.finetune; PPO's frozen potential table shared with the samplers under
    ``quirk_mc_cache``, as their RewardModel cache is), score the 11 strategies on both tasks
    (bu2025_eval.score, sampled or exact). Streams depend on ``(root_seed, seed, rep)`` only."""
    from .bu2025 import build_chain
    from .bu2025_eval import potential_key, score, tidy
    from .bu2025_train import finetune, finetune_instances, ppo_table, pretrain

    p = validate_cell(params)
    reps = v.int_scalar("reps", reps, min_value=1)
    cfg = cell_config(p)
    chain = build_chain(cfg)
    cols: dict[str, list] = {k: [] for k in ("rep", "strategy", "task", "metric", "value")}
    for rep, (rng_pre, ft_seq, rng_score) in enumerate(_streams(root_seed, p["seed"], reps)):
        theta0 = pretrain(chain, cfg, rng_pre)  # own stream: every variant shares it
        ft = np.random.default_rng(ft_seq)
        inst = finetune_instances(chain, cfg, ft)  # one set for every method (l.1620)
        tables: dict = {}
        pot = None
        if "PPO" in cfg.finetune_methods and cfg.rl_variant == "authors":
            pot = ppo_table(chain, cfg, ft)
            if pot is not None and cfg.quirk_mc_cache and cfg.ppo_potential == "mc":
                tables[potential_key(chain, cfg.N)] = pot
        policies = {"pretrained": theta0}
        for m, seq in zip(cfg.finetune_methods, ft_seq.spawn(len(cfg.finetune_methods))):
            policies[m] = finetune(chain, theta0, m, cfg, np.random.default_rng(seq),
                                   reward=inst, pot_table=pot if m == "PPO" else None)
        rows = score(chain, cfg, policies, rng_score, tables=tables) + tilted_dprm(chain, cfg)
        for r in tidy(rows):
            for k in ("strategy", "task", "metric", "value"):
                cols[k].append(r[k])
            cols["rep"].append(rep)
    for k, x in cols.items():
        if k == "value" and not np.all(np.isfinite(np.asarray(x, float))):
            raise ValueError(f"bu2025 cell {p}: a score is not finite")
    return {k: np.asarray(x) for k, x in cols.items()}


# ------------------------------------------------------------------------------------------
# Analysis (pure): results table + authors' rows -> side-by-side table, deltas, claims
# ------------------------------------------------------------------------------------------

PRESET = "bu2025"
LEVEL = 0.95
# Their tables print percentages with two decimals: values closer than this are equal.
PRINT_TOL = 1e-4
AUTHORS_CSV = "docs/data/bu2025/authors.csv"
_REPO = Path(__file__).resolve().parents[2]


def _t(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, df))


def mean_ci(xs) -> tuple[float, float, float, int]:
    """Mean, 95% Student-t interval (lo, hi) over independent units, and their number."""
    xs = np.asarray(xs, float)
    xs = xs[np.isfinite(xs)]
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(xs.mean())
    if n == 1:
        return m, float("nan"), float("nan"), 1
    h = _t(n - 1) * float(xs.std(ddof=1)) / np.sqrt(n)
    return m, m - h, m + h, n


def diff_ci(a, b) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` (independent samples) with its 95% Welch interval; two
    constant samples give a zero-width interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return float(a.mean() - b.mean()) if len(a) and len(b) else float("nan"), \
            float("nan"), float("nan")
    d = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return d, d, d
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    h = _t(df) * se
    return d, d - h, d + h


def agrees(d: float, lo: float, hi: float) -> bool | None:
    """The difference's 95% interval holds 0 (up to the authors' print precision)."""
    if not np.isfinite(d):
        return None
    if not np.isfinite(lo):
        return abs(d) <= PRINT_TOL
    return lo - PRINT_TOL <= 0.0 <= hi + PRINT_TOL


def _need(table: dict, cols, what: str) -> None:
    for c in cols:
        if c not in table:
            raise ValueError(f"{what} has no column {c!r}; is it a bu2025 table?")


def cells_by_row(table: dict, variant: str | None = None) -> dict:
    """``{(strategy, task, metric): {(seed, rep): value}}`` of one variant (all rows when the
    table has no ``variant`` column, e.g. the authors')."""
    _need(table, ("seed", "strategy", "task", "metric", "value"), "table")
    n = len(table["value"])
    sel = np.ones(n, bool) if variant is None or "variant" not in table else \
        table["variant"] == variant
    reps = table["rep"] if "rep" in table else np.zeros(n, np.int64)
    out: dict = {}
    for i in np.flatnonzero(sel):
        key = (str(table["strategy"][i]), str(table["task"][i]), str(table["metric"][i]))
        out.setdefault(key, {})[(int(table["seed"][i]), int(reps[i]))] = \
            float(table["value"][i])
    return out


def _authors_path(raw: dict | None) -> Path:
    path = Path(((raw or {}).get("check") or {}).get("authors", AUTHORS_CSV))
    if not path.is_absolute() and not path.is_file():
        from ..resources import find  # package data: the file ships in the wheel

        path = find(path) or _REPO / path
    return path


def read_authors(raw: dict | None) -> dict | None:
    """The authors' rows (``[check] authors`` of the config, default :data:`AUTHORS_CSV`), or
    None when that file is absent."""
    from ..results import read_table

    path = _authors_path(raw)
    return read_table(path) if path.is_file() else None


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.1f}"


def _mci(xs) -> str:
    m, lo, hi, _ = mean_ci(xs)
    if not np.isfinite(lo):
        return _pct(m)
    return f"{_pct(m)} [{_pct(lo)}, {_pct(hi)}]"


def matched_authors(table: dict, authors: dict, variant: str = PRESET) -> dict:
    """The authors' rows (as :func:`cells_by_row`) of the seeds ``variant`` ran, when any: the
    seed picks the chain, so both sides must cover the same seeds."""
    theirs = cells_by_row(authors)
    mine = {u[0] for x in cells_by_row(table, variant).values() for u in x}
    if mine & {u[0] for x in theirs.values() for u in x}:
        theirs = {k: {u: x for u, x in d.items() if u[0] in mine} for k, d in theirs.items()}
    return theirs


def side_by_side(table: dict, authors: dict, variant: str = PRESET) -> list[dict]:
    """Row by row, the authors' numbers against ``variant``'s: means, 95% intervals over
    seeds, the difference's Welch interval, and whether it holds 0."""
    ours, theirs = cells_by_row(table, variant), matched_authors(table, authors, variant)
    rows = []
    for key in theirs:
        a = list(theirs[key].values())
        b = list(ours.get(key, {}).values())
        d, lo, hi = diff_ci(b, a) if b else (float("nan"),) * 3
        rows.append({"strategy": key[0], "task": key[1], "metric": key[2], "authors": a,
                     "ours": b, "diff": d, "lo": lo, "hi": hi, "agrees": agrees(d, lo, hi)})
    return rows


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


def _seeds(d: dict) -> str:
    s = sorted({u[0] for x in d.values() for u in x})
    if s and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]} ({len(s)} seeds)"
    return ", ".join(map(str, s)) + f" ({len(s)} seeds)"


def table1(table: dict, raw: dict | None) -> str:
    """Markdown: the authors' script beside the preset, row by row."""
    authors = read_authors(raw)
    if authors is None:
        return (f"(no authors' table at {_authors_path(raw)}: run their script and "
                f"`python -m obandits.cot.bu2025_runner authors LOGDIR docs/data/bu2025`)")
    rows = side_by_side(table, authors)
    body = [[r["strategy"], r["task"], r["metric"], _mci(r["authors"]), _mci(r["ours"]),
             f"{100 * r['diff']:+.1f} [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]"
             if np.isfinite(r["lo"]) else f"{100 * r['diff']:+.1f}",
             {True: "yes", False: "**NO**", None: "n/a"}[r["agrees"]]] for r in rows]
    n_no = sum(r["agrees"] is False for r in rows)
    n_ok = sum(r["agrees"] is True for r in rows)
    return (f"Authors: seeds {_seeds(matched_authors(table, authors))}; preset: seeds "
            f"{_seeds(cells_by_row(table, PRESET))}. Values in percent, mean [95% t-interval "
            f"over seeds]; difference = preset - authors with its 95% Welch interval; agrees = "
            f"that interval holds 0 (constant rows: equal to the authors' print precision, "
            f"{100 * PRINT_TOL:.2f} points).\n\n"
            + markdown_table(["strategy", "task", "metric", "authors' script", "preset bu2025",
                              "difference", "agrees?"], body)
            + f"\n\n**{n_ok} of {len(rows)} rows agree, {n_no} do not** (at 95% per row, "
            f"about {0.05 * len(rows):.1f} of {len(rows)} rows would disagree by chance alone).")


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
    legend = "; ".join(f"`{x}`: {VARIANTS[x]['help']}" for x in others if x in VARIANTS)
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


def check(table: dict, raw: dict | None = None) -> list[dict]:
    """The paper's claims judged under the authors' conventions (the preset) and ours (all
    cleaner definitions, variant ``clean``), and on the authors' own numbers (where their
    rows allow): holds True / False (interval below 0) / None (interval holds 0)."""
    out = []
    sources = [(name, cells_by_row(table, v), f"variant {v}") for name, v in CONVENTIONS
               if v in variants_in(table)]
    authors = read_authors(raw)
    if authors is not None:
        sources.insert(0, ("authors' script", matched_authors(table, authors), "their script"))
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
    cls = _config_cls()
    d = cls()
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


def summarise(table: dict, raw: dict | None = None) -> str:
    """Table 1 (authors vs preset), table 2 (moves of each cleaner definition) and the claims
    under both conventions, from the results table (and the authors' csv) alone."""
    parts = ["## Table 1: the authors' script against the preset\n", table1(table, raw),
             "\n## Table 2: how each cleaner definition moves each number\n",
             table2(table, raw), "\n## The claims under both conventions\n",
             verdicts(check(table, raw)),
             "\n## Why ORM-TAS and DPRM point the other way\n", causes(table, raw)]
    return "\n".join(parts)


def figures(table: dict, raw: dict | None, out_dir) -> list[Path]:
    """Authors vs preset vs clean: mean and 95% interval of every metric, per task."""
    from ..plotting import pyplot, write

    plt = pyplot()
    authors = read_authors(raw)
    sources = [("authors' script", matched_authors(table, authors))] if authors is not None else []
    sources += [(f"variant {v}", cells_by_row(table, v)) for _, v in CONVENTIONS
                if v in variants_in(table)]
    keys = list(sources[0][1]) if sources else []
    strategies = list(dict.fromkeys(k[0] for k in keys))
    fig, axes = plt.subplots(len(METRICS), len(TASKS), figsize=(13, 12), squeeze=False)
    width = 0.8 / max(1, len(sources))
    for i, metric in enumerate(METRICS):
        for j, task in enumerate(TASKS):
            ax = axes[i][j]
            for s, (label, rows) in enumerate(sources):
                stats = [mean_ci(list(rows.get((st, task, metric), {}).values()))
                         for st in strategies]
                m = np.array([x[0] for x in stats])
                err = np.array([[x[0] - x[1], x[2] - x[0]] for x in stats]).T
                ax.bar(np.arange(len(strategies)) + (s - (len(sources) - 1) / 2) * width, m,
                       width, yerr=np.nan_to_num(err), capsize=2, label=label)
            ax.set_title(f"{task} {metric}", fontsize=9)
            ax.set_xticks(np.arange(len(strategies)), strategies, rotation=45, ha="right",
                          fontsize=7)
            ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=7)
    return [write(fig, Path(out_dir) / "bu2025_side_by_side.png")]



def tilted_dprm(chain, cfg) -> list[dict]:
    """Rows (as ``bu2025_eval.score``'s) of the diagnostic strategy :data:`TILTED_DPRM`: the
    true chain tilted step by step by ``exp(tau R_DPRM) = E[exp(tau Rex) | prefix]`` (Spec 2's
    DPRM sampling, base-policy factor kept; their sampler, l.856-863, drops it), exact DPRM
    values, scored exactly in both modes; the reward task follows ``quirk_task1_reward`` and
    pass@K's denominator ``denominator``, as their rows do. It isolates the missing base factor
    as the cause of their DPRM row's high rare-CoT share."""
    from .bu2025_eval import EvalSettings, Plan, _embed, _exact, all_paths, path_classes
    from .bu2025_samplers import dprm_exact_table, table_node_policies, tree_leaf_probs
    from .chain import rex

    st = EvalSettings.from_config(cfg)
    paths = all_paths(chain)
    rows = []
    for task in range(len(chain.tasks)):
        start = chain.tasks[task][0]
        table = dprm_exact_table(chain, 0 if st.quirk_task1_reward else task, start, st.tau)
        pis = table_node_policies(chain, "tilt", table, start, st.tau, chain.P)
        plan = Plan(st.K, q=_embed(chain, start, tree_leaf_probs(pis)))
        vals = _exact(chain, plan, rex(chain, task, paths), path_classes(chain, task), st)
        rows.append(dict(strategy=TILTED_DPRM, task=f"TASK{task + 1}", k=st.K,
                         **dict(zip(METRICS, vals))))
    return rows


RUNNER = Runner(name="bu2025", validate=validate_cell, run_cell=run_cell, summarise=summarise,
                figures=figures, check=check)

# ------------------------------------------------------------------------------------------
# Presets: the sweep config, run_preset (Python and `obandits cot paper --preset bu2025`)
# ------------------------------------------------------------------------------------------

DATA_DIR = "docs/data/bu2025"
DOC = "docs/bu2025.md"


def preset_config(preset: str = "bu2025", *, seeds=SEEDS, variants=None, root_seed: int = 0,
                  **overrides) -> dict:
    """The sweep config (a TOML dict, as ``experiments/cot/bu2025.toml``) of a preset: one cell
    per seed x variant (default: every variant of :data:`VARIANTS`), ``overrides`` (fields of
    :class:`~obandits.cot.bu2025.Bu2025Config`) fixed in every cell."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = list(range(v.int_scalar("seeds", seeds, min_value=1)))
    seeds = [v.int_scalar(f"seeds[{i}]", s, min_value=0) for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty list")
    variants = list(VARIANTS) if variants is None else (
        [variants] if isinstance(variants, str) else list(variants))
    if not variants:
        raise ValueError("variants must name at least one variant, got an empty list")
    for i, x in enumerate(variants):
        if x not in VARIANTS:
            raise ValueError(f"variants[{i}] must be one of {list(VARIANTS)}, got {x!r}")
    return {"sweep": {"name": f"cot-{preset}", "runner": "bu2025",
                      "root_seed": v.int_scalar("root_seed", root_seed, min_value=0),
                      "reps": 1},
            "fixed": dict(overrides),
            "grid": [{"seed": seeds, "variant": variants}],
            "check": {"authors": f"{DATA_DIR}/authors.csv"}}


def run_preset(preset: str = "bu2025", *, seeds=SEEDS, variants=None, root_seed: int = 0,
               out=None, workers: int | None = None, progress: bool = True,
               reference: bool = False, **overrides):
    """Run a preset through the sweep engine and return its tidy table (pandas DataFrame when
    pandas is importable). ``seeds``: a count or a list of the authors' ``--seed`` values;
    ``variants``: names of :data:`VARIANTS` (default all); ``out``: the sweep directory
    (default ``runs/cot-<preset>``; with ``reference=True`` ``docs/data/bu2025/preset``, and
    ``docs/bu2025.md`` and its figure are rewritten from the data files). The CLI's
    ``obandits cot paper --preset bu2025`` calls this."""
    from ..sweep import config_from_dict, read_table, run_sweep

    raw = preset_config(preset, seeds=seeds, variants=variants, root_seed=root_seed,
                        **overrides)
    cfg = config_from_dict(raw, f"preset {preset}")
    if out is None:
        out = _REPO / DATA_DIR / "preset" if reference else Path("runs") / f"cot-{preset}"
    path = run_sweep(cfg, out, workers=workers, progress=progress)
    if reference:
        write_doc(out, _REPO / DOC)
    table = read_table(path)
    try:
        import pandas as pd
    except ImportError:
        return table
    return pd.DataFrame(table)


def cli_preset(args) -> int:
    """``obandits cot paper --preset NAME``: :func:`run_preset` with the options of ``obandits
    cot`` (``--out`` [the sweep goes to ``OUT/cot-NAME``], ``--workers``, ``--root-seed``,
    ``--reference``, ``--quiet``; ``--reps N`` = seeds 0..N-1, default when ``reps`` is None:
    the 12 seeds of the authors' committed runs), then prints table 1, table 2 and the claims."""
    from ..sweep import read_manifest

    preset = getattr(args, "preset", "bu2025")
    reps = getattr(args, "reps", None)
    out = None if args.reference else Path(getattr(args, "out", "runs/cot")) / f"cot-{preset}"
    run_preset(preset, seeds=SEEDS if reps is None else reps,
               root_seed=getattr(args, "root_seed", 0), out=out,
               workers=getattr(args, "workers", None),
               progress=not getattr(args, "quiet", False), reference=args.reference)
    out = _REPO / DATA_DIR / "preset" if out is None else out
    from ..results import read_table

    print(summarise(read_table(Path(out) / "results.csv"), read_manifest(out)["config"]))
    if args.reference:
        print(f"\nwrote {_REPO / DOC}")
    return 0


def write_doc(sweep_dir, doc=None) -> Path:
    """``docs/bu2025.md`` and its figure from a finished bu2025 sweep directory's data files
    (``results.csv``, ``manifest.json``) and the authors' csv, without rerunning anything."""
    from ..sweep import check_dir, finished

    sweep_dir = Path(sweep_dir)
    doc = _REPO / DOC if doc is None else Path(doc)
    man, runner, table = finished(sweep_dir)
    if runner.name != "bu2025":
        raise ValueError(f"{sweep_dir} is a {runner.name!r} sweep, not bu2025")
    raw = man["config"]
    figs = figures(table, raw, sweep_dir)
    _, claims_md = check_dir(sweep_dir)
    import os

    def rel(p) -> str:
        return os.path.relpath(Path(p).resolve(), doc.parent.resolve())

    top = sweep_dir.resolve()
    cmd = os.path.relpath(top, _REPO) if top.is_relative_to(_REPO) else str(top)
    text = DOC_HEAD.format(sweep=cmd, figure=rel(figs[0]), authors=_authors_note(raw),
                           fig_cmd=os.path.relpath(figs[0].resolve(), _REPO)
                           if figs[0].resolve().is_relative_to(_REPO) else str(figs[0]))
    text += summarise(table, raw) + "\n\n## Every claim row (from `obandits check`)\n\n"
    text += claims_md + "\n"
    from ..results import atomic_write

    atomic_write(doc, text)
    return doc


def _authors_note(raw) -> str:
    from ..results import read_table

    runs = _authors_path(raw).with_name("authors_runs.csv")
    if not runs.is_file():
        return "(no authors_runs.csv)"
    t = read_table(runs)
    w = np.asarray(t["wall_s"], float)
    return (f"seeds {', '.join(map(str, t['seed'].tolist()))}; wall time per run "
            f"{w.mean():.0f} s (min {w.min():.0f}, max {w.max():.0f})")


DOC_HEAD = """# Bu et al. (2025), reproduced: their table, our preset, and our cleaner definitions

Generated from the data files (do not edit by hand): `{sweep}` (the preset's sweep: tidy
`results.csv`, `manifest.json`) and `docs/data/bu2025/authors.csv` (their script's printed
tables, parsed). Regenerate without rerunning: `python -m obandits.cot.bu2025_runner doc {sweep}`;
rerun everything: `obandits cot paper --preset bu2025 --reference` (Python:
`obandits.cot.bu2025_runner.run_preset(reference=True)`). `obandits check {sweep}` prints
the same tables and claims; `obandits plot {sweep}` draws `{fig_cmd}`.

Their script: `multi_task_tmc.py` of github:DakeBU/Distribution-Bias-of-Post-training,
commit 6049bf5, run unchanged: {authors} (command and machine: `docs/data/bu2025/README.md`).
The preset (`experiments/cot/bu2025.toml`, variant `bu2025`) is `Bu2025Config.authors(seed=s)`:
the chain their script builds for seed `s` (`authors_high_edges`), their learner init,
one-path pretraining, one-CoT fine-tuning rules, reward model with N = 15 Monte-Carlo
completions cached per prefix, every quirk on, temperature 1, sampled scoring exactly as they
score (pass@30 over all 200 instances, coverage over 200 x 30 fresh paths, Base from a uniformly
random start). Our random streams are not theirs: agreement is judged within sampling noise.

![authors vs preset vs clean]({figure})

"""

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "authors":
        print(collect(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "doc":
        print(write_doc(*sys.argv[2:]))
    else:
        sys.exit("usage: python -m obandits.cot.bu2025_runner authors LOGDIR OUTDIR\n"
                 "       python -m obandits.cot.bu2025_runner doc SWEEP_DIR [DOC]")
