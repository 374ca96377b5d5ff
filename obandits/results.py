"""Result files, in one place: tidy CSV text and parsing, merging cell tables, the sweep
manifest, git revision and versions, JSON helpers (atomic writes and the directory lock are
:mod:`obandits.fileio`).

Every simulator writes through these functions, so a result file is either complete or absent
(temporary file, fsync, rename) and every table parses the same way (:func:`read_table`).
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from pathlib import Path

import numpy as np

# The file helpers live below the math (counts, the LLM bridge use them); re-exported here.
from .fileio import LOCK, PidLock, atomic_write, lock_holder, lock_pid, tmp_name  # noqa: F401

MANIFEST = "manifest.json"
RESULTS = "results.csv"
CELLS = "cells"


def fmt(x) -> str:
    """One CSV field: ``repr`` of floats (round-trips exactly), ``True``/``False`` for bools."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def csv_text(header: list, rows: list) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_rows(path: str | Path, rows: list[dict]) -> None:
    """A list of dicts as a CSV (header from the first row; an empty list writes nothing)."""
    if not rows:
        atomic_write(path, "")
        return
    header = list(rows[0])
    atomic_write(path, csv_text(header, [[fmt(r.get(h, "")) for h in header] for r in rows]))


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file; an empty file, a missing header, rows of another length
    than the header or a last line without its newline (a cut write) raise ValueError naming
    the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"table {str(path)!r} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"table {path} is not a text CSV file (garbage bytes)") from None
    if not text.strip():
        raise ValueError(f"table {path} is empty")
    if not text.endswith("\n"):
        raise ValueError(f"table {path} is cut: its last line has no newline")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    if not header or any(not h for h in header) or len(set(header)) != len(header):
        raise ValueError(f"table {path} has a bad header {header!r}")
    bad = next((i for i, r in enumerate(body) if len(r) != len(header)), None)
    if bad is not None:
        raise ValueError(f"table {path}: line {bad + 2} has {len(body[bad])} fields, the header "
                         f"{len(header)}")
    return header, body


def merge_cells(paths: list[Path]) -> str:
    """One CSV from cell files, in order, under the union of their headers (first-seen order);
    a cell written by an earlier, smaller config may lack later parameter names, so its rows get
    an empty field there, never a header they do not match."""
    tables = [read_csv(p) for p in paths]
    header: list[str] = []
    for h, _ in tables:
        header += [c for c in h if c not in header]
    rows = []
    for h, body in tables:
        where = [h.index(c) if c in h else -1 for c in header]
        rows += [[row[i] if i >= 0 else "" for i in where] for row in body]
    return csv_text(header, rows)


def parse_column(vals: list[str]) -> np.ndarray:
    for typ in (np.int64, np.float64):
        try:
            return np.array(vals, dtype=typ)
        except ValueError:
            continue
    return np.array(vals, dtype=object)


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """A tidy CSV as ``{column: array}`` (int64, float64 or object columns)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"results table {str(path)!r} does not exist")
    header, rows = read_csv(path)
    return {h: parse_column([row[i] for row in rows]) for i, h in enumerate(header)}


def table_rows(table: dict) -> int:
    """Number of rows of a ``{column: array}`` table (0 for no columns)."""
    return len(next(iter(table.values()))) if table else 0


def read_json(path: str | Path, what: str = "file") -> object:
    """Parsed JSON; a missing or invalid file is a ValueError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{what} {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None


def write_json(path: str | Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1))


def read_manifest(out: str | Path) -> dict:
    """A sweep's ``manifest.json``, checked to be an object with a ``cells`` list."""
    out = Path(out)
    p = out / MANIFEST
    if not p.is_file():
        raise ValueError(f"{out} has no {MANIFEST}; give the output directory of a sweep")
    man = read_json(p, "manifest")
    if not isinstance(man, dict) or not isinstance(man.get("cells"), list):
        raise ValueError(f"{p} is not a sweep manifest (an object with a 'cells' list); delete "
                         f"it to start over")
    return man


def git_revision() -> str:
    """HEAD of the package's checkout, ``+dirty`` with uncommitted changes, else ``unknown``."""
    here = Path(__file__).parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10,
                               check=False).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict:
    import numba

    from . import __version__

    return {"obandits": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}
