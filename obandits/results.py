"""Result files, in one place: atomic writes, tidy CSV text and parsing, merging cell tables,
the sweep manifest, git revision and versions, JSON helpers.

Every simulator writes through these functions, so a result file is either complete or absent
(temporary file, fsync, rename) and every table parses the same way (:func:`read_table`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

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


def tmp_name(path: Path) -> Path:
    """The temporary sibling :func:`atomic_write` renames into place (``.<name>.tmp<pid>``)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write(path: str | Path, data, *, mkdir: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one: a
    temporary file in the same directory, fsync, rename. ``data`` is text, bytes, or a
    callable that writes to the binary file handle it is given (``np.savez``, ``torch.save``).
    ``mkdir`` creates missing parent directories. The temporary file is removed if the write
    fails (disk full, an exception in ``data``), and an ``OSError`` names ``path``."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        with open(tmp, "w" if isinstance(data, str) else "wb",
                  **({"newline": ""} if isinstance(data, str) else {})) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
        raise


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


# ---------------------------------------------------------------- the output directory's lock

LOCK = ".lock"


def lock_pid(path: str | Path) -> int | None:
    """The pid written in a lock file (None: no file, or not a positive integer)."""
    try:
        pid = int(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def lock_holder(path: str | Path) -> int | None:
    """The pid in a lock file if that process is alive and is not this one, else None: no
    lock, an unreadable one, or a stale one whose writer died (a SIGKILL leaves it behind)."""
    pid = lock_pid(path)
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid


class PidLock:
    """``DIR/.lock`` holding the writer's pid, so one process at a time writes ``DIR``: a
    second writer is refused (ValueError naming the holder's pid and the lock file); the lock
    of a dead process is taken over. The file is created whole (written aside, then hard-linked
    into place, which fails if the name exists), so a reader never sees it empty. ``holder``
    names the kind of writer in the error (``"another sweep"``)."""

    def __init__(self, directory: str | Path, holder: str = "another process"):
        self.path = Path(directory) / LOCK
        self.holder = holder

    def busy(self, pid: int) -> ValueError:
        """The error for a directory held by live process ``pid``."""
        return ValueError(f"{self.path.parent} is in use by {self.holder} (pid {pid}, lock "
                          f"{self.path}): wait for it to finish or choose another --out")

    def check(self) -> None:
        """Refuse now (before anything is written) if a live process holds the lock."""
        pid = lock_holder(self.path)
        if pid:
            raise self.busy(pid)

    def _create(self) -> bool:
        tmp = tmp_name(self.path)
        tmp.write_text(str(os.getpid()))
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: create-exclusive, then write
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> PidLock:
        for _ in range(3):
            if self._create():
                return self
            self.check()
            self.path.unlink(missing_ok=True)  # stale: its writer is gone
        raise ValueError(f"{self.path.parent}: cannot take the lock {self.path}")

    def __exit__(self, *exc) -> None:
        if lock_pid(self.path) == os.getpid():  # never remove a taker-over's lock
            self.path.unlink(missing_ok=True)
