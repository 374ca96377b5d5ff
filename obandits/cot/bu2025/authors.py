"""Bu et al.'s own script and its output: where the script is, where the committed runs are,
and the parsers of its printed tables (issue 14, issue 25).

Their script: ``multi_task_tmc.py`` of github:DakeBU/Distribution-Bias-of-Post-training, commit
6049bf5. It is not part of this package: :func:`authors_script` finds a copy through the
``--authors-script`` flag of the commands that run it, or the environment variable
:data:`SCRIPT_ENV`; tests and benchmarks that need it skip with a message naming that variable.

Their printed tables: the script prints two markdown tables at the end of a run (l.1397-1414):
pass@K per strategy and task, and the three coverage shares per strategy and task, in percent.
:func:`parse_log` turns one run's output into rows ``(seed, strategy, task, metric, value)``;
:func:`parse_chain` reads the valid paths it prints first (l.197-218), so the chain each seed
drew is on record; :func:`parse_time` reads ``/usr/bin/time -v``.
``python -m obandits.cot.bu2025 authors LOGDIR OUTDIR`` collects a directory of
``log_<seed>.txt`` / ``time_<seed>.txt`` into ``authors.csv``, ``authors_chain.csv`` and
``authors_runs.csv`` (the committed copy: ``docs/data/bu2025/``), keeping the rows already in
``OUTDIR`` for seeds it has no log of.

The committed ``authors.csv`` is read by :func:`read_authors` alone (its default place:
:func:`default_authors_csv`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np

from ...results import write_rows
from .cells import METRICS, TASKS  # noqa: F401  (the parsed rows' names)

#: The environment variable naming a copy of their ``multi_task_tmc.py``.
SCRIPT_ENV = "OBANDITS_BU2025_SCRIPT"
SCRIPT_SOURCE = ("multi_task_tmc.py of github:DakeBU/Distribution-Bias-of-Post-training, "
                 "commit 6049bf5")
_REPO = Path(__file__).resolve().parents[3]


def authors_script(path: str | Path | None = None) -> Path | None:
    """Their script: ``path`` (a command's ``--authors-script``) when given, else the file
    named by ``$OBANDITS_BU2025_SCRIPT``, else None. A path given but not a file raises
    ValueError naming where it came from."""
    where = "--authors-script"
    if path is None:
        path, where = os.environ.get(SCRIPT_ENV) or None, f"${SCRIPT_ENV}"
    if path is None:
        return None
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"{where}: {str(p)!r} is not a file (it must be {SCRIPT_SOURCE})")
    return p


def load_script(path: str | Path):
    """Their script imported as a module (its ``__main__`` block does not run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bu2025_authors_script", str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def script_missing() -> str:
    """The one line a test or benchmark skips with when their script is not found."""
    return (f"Bu et al.'s script not found: set {SCRIPT_ENV}=/path/to/multi_task_tmc.py "
            f"({SCRIPT_SOURCE})")


def default_authors_csv() -> Path:
    """Where the committed runs of their script are (``docs/data/bu2025/authors.csv``; the
    wheel ships it as package data, :mod:`obandits.resources`)."""
    return _in_repo_or_package(Path("docs/data/bu2025/authors.csv"))


def _in_repo_or_package(rel: Path) -> Path:
    from ...resources import find

    here = _REPO / rel
    return here if here.is_file() else (find(rel) or here)


def authors_csv_path(raw: dict | None) -> Path:
    """The authors' csv of a bu2025 sweep config: its ``[check] authors`` (relative paths
    from the working directory, else from the repository), or :func:`default_authors_csv`."""
    given = ((raw or {}).get("check") or {}).get("authors")
    if given is None:
        return default_authors_csv()
    path = Path(given)
    if not path.is_absolute() and not path.is_file():
        path = _in_repo_or_package(path)
    return path


def read_authors(raw: dict | None) -> dict | None:
    """The authors' rows (columns seed, strategy, task, metric, value) of a bu2025 sweep
    config (:func:`authors_csv_path`), or None when that file is absent."""
    from ...results import read_table

    path = authors_csv_path(raw)
    if not path.is_file():
        return None
    table = read_table(path)
    for c in ("seed", "strategy", "task", "metric", "value"):
        if c not in table:
            raise ValueError(f"authors' csv {str(path)!r} has no column {c!r} (expected the "
                             f"columns seed, strategy, task, metric, value of "
                             f"`python -m obandits.cot.bu2025 authors`)")
    return table


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
    ``authors.csv``, ``authors_chain.csv`` and ``authors_runs.csv`` in ``out_dir``, keeping
    the rows those files already hold for seeds with no log here; a log without both tables
    (an unfinished run) is skipped and reported. Returns row counts."""
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
    new = {r["seed"] for r in runs}
    rows, chain, runs = (_kept(out_dir / name, new) + got for name, got in
                         (("authors.csv", rows), ("authors_chain.csv", chain),
                          ("authors_runs.csv", runs)))
    for got in (rows, chain, runs):
        got.sort(key=lambda r: int(r["seed"]))
    write_rows(out_dir / "authors.csv", rows)
    write_rows(out_dir / "authors_chain.csv", chain)
    write_rows(out_dir / "authors_runs.csv", runs)
    from ...results import atomic_write

    atomic_write(out_dir / "README.md", _data_readme(runs, log_dir))
    return {"authors.csv": len(rows), "authors_chain.csv": len(chain), "runs": len(runs)}


def _kept(path: Path, replaced: set) -> list[dict]:
    """The rows of an earlier ``collect`` output whose seed is not in ``replaced``."""
    from ...results import read_table

    if not path.is_file():
        return []
    t = read_table(path)
    cols = list(t)
    return [{c: (t[c][i].item() if hasattr(t[c][i], "item") else t[c][i]) for c in cols}
            for i in range(len(t["seed"])) if int(t["seed"][i]) not in replaced]


#: How their script was run for authors.csv (one seed at a time, niced, timed).
AUTHORS_COMMAND = (f"nice -n 10 /usr/bin/time -v -o time_$s.txt .venv/bin/python "
                   f"\"${SCRIPT_ENV}\" --seed $s --output-dir /tmp/figs_$s > log_$s.txt")


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

    runs = sorted(runs, key=lambda r: int(r["seed"]))
    wall = np.array([r["wall_s"] for r in runs], float)
    user = np.array([r.get("user_s", np.nan) for r in runs], float)
    seeds = ", ".join(str(r["seed"]) for r in runs)
    from .cells import chain_of

    by: dict = {}
    for r in runs:
        by.setdefault(chain_of(int(r["seed"])), []).append(str(r["seed"]))
    chains = "; ".join(f"`{c}`: seeds {', '.join(x)}" for c, x in sorted(by.items()))
    return f"""# Bu et al.'s own script: parsed output (docs/data/bu2025/)

Written by `python -m obandits.cot.bu2025 authors LOGDIR docs/data/bu2025` from the
logs of their script, run unchanged: `multi_task_tmc.py` of
github:DakeBU/Distribution-Bias-of-Post-training at commit 6049bf5 (md5 of the file
48ae1eeb3cf1c64a4578bfad22e83982), once per seed, one at a time:

    for s in {seeds.replace(", ", " ")}; do {AUTHORS_COMMAND}; done

- Seeds: {seeds} ({len(runs)} runs; their default is 42, `docs/bu2025.md` uses these).
- Wall time per run: {_spread(wall)}.
- CPU (user) time per run: {_spread(user)}.
  Wall time varies with the load of the shared machine; the CPU time is the fairer figure.
- Machine of this collection: {_machine()};
  numpy {numpy.__version__}, scipy {scipy.__version__}
  (rows of earlier collections, kept for seeds with no log here, may come from another machine).
- The chain each seed builds (`obandits.cot.bu2025.cells.chain_label`: the high successors of
  each state, layer by layer): {chains}.

Files: `authors.csv` (seed, strategy, task, metric, value: their two printed tables,
l.1397-1414, values as fractions; metric pass_at_k / easy / hard / invalid),
`authors_chain.csv` (the valid paths each run printed, l.197-218: path, type, probability,
expected accuracy; tests check that `authors_high_edges(seed)` builds exactly these chains),
`authors_runs.csv` (seed, wall_s, user_s, max_rss_kb, exit_status from `/usr/bin/time -v`).
`preset/` is the sweep of `experiments/cot/bu2025.toml` behind `docs/bu2025.md`.
"""
