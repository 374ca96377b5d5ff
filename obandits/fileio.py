"""File helpers every layer uses: atomic writes and a directory's pid lock.

Nothing here imports NumPy or the rest of the package, so the formulas' layer
(:mod:`obandits.counts`) and the LLM bridge can write files safely without depending on the
experiment machinery (:mod:`obandits.results`, :mod:`obandits.sweep`).
"""

from __future__ import annotations

import os
from pathlib import Path


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



# ---------------------------------------------------------------- a directory's writer lock

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
