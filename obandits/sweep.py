"""Sweeps: a declarative TOML grid (or a dict) -> cells -> a parallel executor -> one tidy table.

Config (``tomllib``)::

    [sweep]
    name = "bandit-theorems"
    runner = "bandit"        # a registered runner (entry-point group obandits.runners)
    root_seed = 20250906
    reps = 16

    [fixed]                 # parameters shared by every cell
    T = 65536

    [[grid]]                # each [[grid]] is a product over its list values; the union is
    family = "llm"          # the set of cells (identical cells are kept once)
    K = [16, 256, 4096]
    learner = ["ucb1", "outcome-ucb"]

    [[grid]]                # ``zip``: these lists vary together (K = m = 8, then 16)
    K = [8, 16]
    m = [8, 16]
    zip = ["K", "m"]

    [check]                 # kept whole for the runner's analysis (claims)

Any other top-level table or ``[sweep]`` key is refused ("did you mean").

A cell is a dict of parameters; its key is their canonical JSON, and the seeds of repetition
``i`` are ``obandits.seeding.rep_sequences(root_seed, key)[i]``, so results depend on neither
the order cells run in, the executor, nor the number of processes or threads. The runner is a
:class:`obandits.runners.Runner` (validate, run a cell, summarise, figures, check).

Output directory: ``cells/<id>.csv`` (the cell's rows) and ``cells/<id>.json`` (its metadata:
key, runner, root seed, reps, row count, SHA-256 of the CSV), each written atomically;
``results.csv`` (all cells of the config, grid order) and ``manifest.json`` (config, cells with
their seed keys, package version, git revision, timings). Rerunning into the same directory
verifies finished cells against their metadata (without needing the manifest) and recomputes,
and reports, any that fail, so an interrupted sweep resumes with no lost and no duplicated
rows; a config extended with new cells (same root seed, reps and runner) runs only those,
while one with another seed, reps or runner, or without some of the finished cells (a changed
grid), is refused. A ``.lock`` file holding the writer's pid
(:class:`obandits.fileio.PidLock`) keeps a second sweep out of the directory.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import itertools
import json
import os
import sys
import threading
import time
import tomllib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import _validate as v
from . import runners
from .options import add_arguments, from_args, option
from .results import (
    CELLS,
    MANIFEST,
    RESULTS,
    PidLock,
    atomic_write,
    csv_text,
    fmt,
    git_revision,
    merge_cells,
    read_csv,
    read_json,
    read_manifest,
    read_table,
    table_rows,
    versions,
    write_json,
    write_rows,
)
from .runners import CellFailed
from .tables import claims_markdown

# Older names, kept importable.
_atomic_write, _csv_text, _fmt = atomic_write, csv_text, fmt

_SCALARS = (str, int, float, bool)
TABLES = ("sweep", "fixed", "grid", "check")
SWEEP_KEYS = ("name", "runner", "root_seed", "reps")
MAX_CELLS = 20_000          # cells beyond which a sweep needs confirming (--yes)
# Sum over cells of reps x T x K beyond which a sweep needs confirming (the full bandit
# theorem sweep, 45 CPU-minutes, is 6.8e13; this is some 10 CPU-hours of it).
MAX_WORK = 1e15


def did_you_mean(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def refuse_unknown(where: str, keys, allowed) -> None:
    """ValueError on the first key not in ``allowed``, with the closest allowed name."""
    for k in keys:
        if k not in allowed:
            raise ValueError(f"{where}: unknown key {k!r}{did_you_mean(k, allowed)}; allowed: "
                             f"{', '.join(allowed)}")


@dataclass(frozen=True)
class Cell:
    """One grid point: its parameters, canonical key (seeds derive from it) and short id."""

    params: dict
    key: str
    id: str


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: name, registered runner name, root seed, repetitions, cells, and
    the raw config (kept whole in the manifest)."""

    name: str
    runner: str
    root_seed: int
    reps: int
    cells: tuple[Cell, ...]
    raw: dict
    source: str = ""

    @property
    def param_names(self) -> list[str]:
        return sorted({k for c in self.cells for k in c.params})

    def section(self, name: str) -> dict:
        """A top-level table of the config other than sweep/fixed/grid (e.g. ``check``)."""
        return dict(self.raw.get(name, {}))

    def cell_hash(self, cell: Cell) -> str:
        """What a cell's rows depend on: runner, root seed, reps and parameters."""
        return hashlib.sha256(json.dumps([self.runner, self.root_seed, self.reps, cell.key])
                              .encode()).hexdigest()


def cell_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def make_cell(params: dict, key_params=None) -> Cell:
    """A cell; its key is the canonical JSON of ``key_params(params)`` (default ``params``)."""
    key = cell_key(params if key_params is None else key_params(params))
    return Cell(dict(params), key, hashlib.sha256(key.encode()).hexdigest()[:16])


def _expand(fixed: dict, grid: dict, where: str) -> list[dict]:
    """The cells of one ``[[grid]]``: the product over its list values, except that the
    parameters named in its ``zip`` list vary together (equal-length lists, one cell per
    position), e.g. ``K = [8, 16]``, ``m = [8, 16]``, ``zip = ["K", "m"]``."""
    grid = dict(grid)
    tied = grid.pop("zip", [])
    if not isinstance(tied, list) or not all(isinstance(x, str) for x in tied):
        raise ValueError(f"{where}: zip must be a list of parameter names, got {tied!r}")
    merged = {**fixed, **grid}
    names, values = [], []
    for name, val in merged.items():
        vals = val if isinstance(val, list) else [val]
        if not vals:
            raise ValueError(f"{where}: parameter {name!r} has an empty list of values")
        for x in vals:
            if not isinstance(x, _SCALARS):
                raise ValueError(f"{where}: parameter {name!r} must be a scalar or a list of "
                                 f"scalars, got {x!r}")
        names.append(name)
        values.append(vals)
    missing = [x for x in tied if x not in names]
    if missing:
        raise ValueError(f"{where}: zip names {missing}, which are not parameters here")
    lengths = {x: len(values[names.index(x)]) for x in tied}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{where}: zipped parameters need lists of one length, got {lengths}")
    axes = [i for i, x in enumerate(names) if x not in tied]
    zipped = list(zip(*(values[names.index(x)] for x in tied))) if tied else [()]
    cells = []
    for combo in itertools.product(*(values[i] for i in axes)):
        for tup in zipped:
            val = dict(zip((names[i] for i in axes), combo))
            val.update(zip(tied, tup))
            cells.append({x: val[x] for x in names})
    return cells


def config_from_dict(raw: dict, source: str = "") -> SweepConfig:
    """Validate a parsed config and expand its grid into cells (the runner's ``validate`` on
    each, before any work starts)."""
    where = source or "config"
    if not isinstance(raw, dict):
        raise ValueError(f"config must be a TOML path or a dict of tables, got "
                         f"{type(raw).__name__} {raw!r:.60}")
    if "sweep" not in raw:
        raise ValueError(f"{where}: missing the [sweep] table")
    raw = _plain(raw, where)
    refuse_unknown(f"{where}: top-level table", raw, TABLES)
    sw = raw["sweep"]
    if not isinstance(sw, dict):
        raise ValueError(f"{where}: [sweep] must be a table, got {sw!r}")
    refuse_unknown(f"{where}: [sweep]", sw, SWEEP_KEYS)
    for key in SWEEP_KEYS:
        if key not in sw:
            raise ValueError(f"{where}: [sweep] needs {key!r}")
    name = sw["name"]
    if (not isinstance(name, str) or not name or "/" in name or "\\" in name
            or name.startswith(".") or not name.isprintable()):
        raise ValueError(f"sweep.name must be a non-empty string of printable characters "
                         f"without '/' or '\\', not starting with '.', got {name!r}")
    root_seed = v.int_scalar("sweep.root_seed", sw["root_seed"], min_value=0)
    reps = v.int_scalar("sweep.reps", sw["reps"], min_value=1)
    runner = runners.get(sw["runner"])
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ValueError(f"{where}: [fixed] must be a table, got {fixed!r}")
    grids = raw.get("grid", [])
    if isinstance(grids, dict):
        grids = [grids]
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise ValueError(f"{where}: grid must be [[grid]] tables, got {grids!r}")
    if not grids:
        raise ValueError(f"{where}: config needs at least one [[grid]] table")
    cells, seen = [], set()
    for gi, grid in enumerate(grids):
        for params in _expand(fixed, grid, f"[[grid]] #{gi + 1}"):
            try:
                params = runner.validate(params)
            except ValueError as exc:
                raise ValueError(f"[[grid]] #{gi + 1}, cell {cell_key(params)}: {exc}"
                                 ) from None
            cell = make_cell(params, runner.key)
            if cell.key not in seen:
                seen.add(cell.key)
                cells.append(cell)
    return SweepConfig(name, sw["runner"], root_seed, reps, tuple(cells), raw, source)


def _plain(obj, where: str, at: str = ""):
    """A copy of a config with NumPy scalars as Python ones (``reps=np.int64(2)`` is 2), so
    that the manifest can record it; anything JSON cannot hold is refused, naming its key."""
    if isinstance(obj, dict):
        bad = next((k for k in obj if not isinstance(k, str)), None)
        if bad is not None:
            raise ValueError(f"{where}: keys must be strings, got {bad!r} in {at or 'config'}")
        return {k: _plain(x, where, f"{at}.{k}" if at else k) for k, x in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(x, where, f"{at}[{i}]") for i, x in enumerate(obj)]
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if obj is None or isinstance(obj, _SCALARS):
        return obj
    raise ValueError(f"{where}: {at} must be a string, number, bool, list or table, got "
                     f"{type(obj).__name__} {obj!r:.60}")


def load_config(path: str | Path) -> SweepConfig:
    """A TOML sweep config. A path that does not exist but names a config obandits ships
    (``experiments/bandit/reduced.toml``) is read from the installed package, so the
    repository's commands work from any directory."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"config must be a TOML path or a dict of tables, got "
                         f"{type(path).__name__} {path!r:.60}")
    path = Path(path)
    if not path.exists():  # a config shipped with obandits, named by its repository path
        from .resources import find

        path = find(path) or path
    if path.is_dir():
        raise ValueError(f"config file {str(path)!r} is a directory; give a TOML file")
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"config file {path} cannot be read: {exc}") from None
    return config_from_dict(raw, str(path))


def work_estimate(cfg: SweepConfig, cells=None) -> float:
    """Sum over cells of reps x T x K (the pulls x arms of a bandit; for runners whose cells
    lack T or K, those factors count 1)."""
    total = 0.0
    for c in cfg.cells if cells is None else cells:
        w = float(cfg.reps)
        for k in ("T", "K"):
            x = c.params.get(k)
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                w *= float(x)
        total += w
    return total


def check_size(cfg: SweepConfig, *, max_cells: int | None = None,
               max_work: float | None = None, yes: bool = False) -> str:
    """The estimate line printed before a sweep; ValueError above a limit unless ``yes``."""
    max_cells = v.int_scalar("max_cells (--max-cells)", MAX_CELLS if max_cells is None
                             else max_cells, min_value=0)
    max_work = MAX_WORK if max_work is None else max_work
    if (isinstance(max_work, (bool, np.bool_)) or not isinstance(max_work, (int, float))
            or not max_work >= 0):  # NaN fails this too: it would disable the guard
        raise ValueError(f"max_work (--max-work) must be a number >= 0 (inf: no limit), got "
                         f"{max_work!r}")
    work = work_estimate(cfg)
    line = (f"{len(cfg.cells)} cells x {cfg.reps} reps, work (cells x reps x T x K) "
            f"{work:.3g}")
    if not yes and (len(cfg.cells) > max_cells or work > max_work):
        raise ValueError(f"sweep {cfg.name} is large: {line}, above the limit of {max_cells} "
                         f"cells or {max_work:.3g} work (--max-cells, --max-work); rerun with "
                         f"--yes (yes=True) to confirm")
    return line


# ---------------------------------------------------------------- cell files

def _cell_rows(cell: Cell, names: list[str], cols: dict[str, np.ndarray],
               reps: int) -> tuple[list, list]:
    if not isinstance(cols, dict) or "rep" not in cols:
        raise ValueError(f"runner must return a dict of columns including 'rep', got "
                         f"{type(cols).__name__}")
    lengths = {k: len(np.asarray(a)) for k, a in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"runner must return equal-length columns, got {lengths}")
    clash = set(cols) & (set(names) | {"cell"})
    if clash:
        raise ValueError(f"runner columns {sorted(clash)} clash with parameter names")
    rep = np.asarray(cols["rep"])
    if set(rep.tolist()) != set(range(reps)) or len(rep) % reps:
        raise ValueError(f"runner's 'rep' column must hold 0..{reps - 1} equally often")
    header = ["cell", *names, *cols]
    n = lengths["rep"]
    fixed = [cell.id, *(fmt(cell.params.get(k, "")) for k in names)]
    arrays = [np.asarray(a) for a in cols.values()]
    rows = [fixed + [fmt(a[i]) for a in arrays] for i in range(n)]
    return header, rows


def _meta(cfg_runner: str, root_seed: int, reps: int, cell: Cell, cell_hash: str, text: str,
          rows: int) -> dict:
    return {"id": cell.id, "key": cell.key, "runner": cfg_runner, "root_seed": root_seed,
            "reps": reps, "cell_hash": cell_hash, "rows": rows, "rows_per_rep": rows // reps,
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def verify_cell(cfg: SweepConfig, cell: Cell, cells_dir: Path) -> str | None:
    """None if the cell's files are complete and belong to this sweep, else why not
    ("missing" when it never finished)."""
    csv_path, meta_path = cells_dir / f"{cell.id}.csv", cells_dir / f"{cell.id}.json"
    if not meta_path.exists():
        return "missing" if not csv_path.exists() else "no metadata (unfinished write)"
    try:
        meta = read_json(meta_path, "cell metadata")
    except ValueError:
        return "metadata is not valid JSON"
    if not isinstance(meta, dict):
        return "metadata is not an object"
    for k, want in (("key", cell.key), ("runner", cfg.runner), ("root_seed", cfg.root_seed),
                    ("reps", cfg.reps), ("cell_hash", cfg.cell_hash(cell))):
        if meta.get(k) != want:
            return f"computed with {k} = {meta.get(k)!r}, this sweep has {want!r}"
    try:
        text = csv_path.read_bytes().decode()
    except (OSError, UnicodeDecodeError):
        return "table missing or not text"
    if hashlib.sha256(text.encode()).hexdigest() != meta.get("sha256"):
        return "table differs from its recorded checksum (cut or edited)"
    try:
        _, body = read_csv(csv_path)
    except ValueError as exc:
        return str(exc)
    if len(body) != meta.get("rows") or len(body) != cfg.reps * meta.get("rows_per_rep", -1):
        return f"{len(body)} rows, expected {meta.get('rows')}"
    return None


def _compute_cell(target: str, runner_name: str, root_seed: int, reps: int, cell: Cell,
                  cell_hash: str, names: list[str], cells_dir: str) -> tuple[str, int, float]:
    """Run one cell and write its table, then its metadata (the commit point), atomically;
    returns (id, rows, seconds)."""
    t0 = time.perf_counter()
    runner = runners.load(target)
    cols = runner.run_cell(dict(cell.params), root_seed, cell.key, reps)
    header, rows = _cell_rows(cell, names, cols, reps)
    text = csv_text(header, rows)
    d = Path(cells_dir)
    atomic_write(d / f"{cell.id}.csv", text)
    write_json(d / f"{cell.id}.json",
               _meta(runner_name, root_seed, reps, cell, cell_hash, text, len(rows)))
    return cell.id, len(rows), time.perf_counter() - t0


# ---------------------------------------------------------------- workers

def _die_with_parent(parent: int) -> None:
    """Make this worker exit when the sweep process dies: PR_SET_PDEATHSIG (Linux: SIGKILL
    when the parent, the forkserver, exits, which it does once the sweep is gone), and a thread
    polling the sweep's pid for other platforms."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    ppid = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            if os.getppid() != ppid:
                os._exit(1)

    if ppid == 1:
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="obandits-watchdog").start()


def _init_worker(threads: int, parent: int | None = None) -> None:
    import numba

    if parent is not None:
        _die_with_parent(parent)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _mp_context(target: str):
    """Workers fork from a server that has imported the runner's module (NumPy, Numba and the
    package: about 0.6 s per worker otherwise). The server runs no kernel, so no Numba thread
    pool exists when it forks; where there is no forkserver, workers are spawned. Workers load
    compiled kernels from Numba's on-disk cache, or compile them side by side when it is cold
    (its files are replaced atomically)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, target.split(":")[0]])
    return ctx


@contextlib.contextmanager
def main_not_reimported():
    """Worker processes started inside this block do not re-run the caller's script: they
    need only the package (cells run :func:`_compute_cell`), and a script calling :func:`run`
    at top level (no ``if __name__ == "__main__"`` guard) would otherwise run its sweep again
    in each, as ``__mp_main__``. :func:`run_sweep` holds it while cells run, so a worker that
    Dask starts again after a crash is covered too."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _cause(exc: BaseException) -> BaseException | None:
    return None if isinstance(exc, OSError) else exc


def _failed(cell: Cell, exc: BaseException, out: Path) -> Exception:
    if isinstance(exc, OSError):  # a result file that cannot be written: the error names it
        return exc
    return CellFailed(f"cell {cell.id} {cell.key} failed: {type(exc).__name__}: {exc} "
                      f"(finished cells are kept in {out}; rerun to resume)")


def _run_local(args, cells, workers, threads, on_done, out) -> None:
    if workers == 1 or len(args) <= 1:
        _init_worker(threads)
        for a, cell in zip(args, cells):
            try:
                res = _compute_cell(*a)
            except Exception as exc:
                raise _failed(cell, exc, out) from _cause(exc)
            on_done(*res)
        return
    pool = ProcessPoolExecutor(min(workers, len(args)), _mp_context(args[0][0]),
                               initializer=_init_worker, initargs=(threads, os.getpid()))
    try:
        pending = {pool.submit(_compute_cell, *a): c for a, c in zip(args, cells)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = pending.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:
                    raise _failed(cell, exc, out) from _cause(exc)
                on_done(*res)
    except BaseException:
        # Fail fast: drop queued cells and stop the running ones (their temporary files are
        # removed by the next run, under the lock).
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(args, cells, threads, on_done, out, scheduler: str | None,
              dask_workers: int) -> None:
    from .dask_executor import run_dask

    run_dask(args, cells, threads, on_done, out, scheduler, dask_workers, _compute_cell,
             _failed)


# ---------------------------------------------------------------- the sweep

def DirLock(out: Path) -> PidLock:
    """``out/.lock`` holding the sweep's pid (:class:`obandits.fileio.PidLock`)."""
    return PidLock(out, "another sweep")


def _check_same_sweep(cfg: SweepConfig, out: Path) -> dict:
    if not (out / MANIFEST).exists():
        return {}
    old = read_manifest(out)
    # Same seed, reps and runner: finished cells stay valid (a cell's file is named by the hash
    # of its parameters), so a config may also be extended with new cells and rerun.
    diff = [k for k in ("root_seed", "reps", "runner") if old.get(k) != getattr(cfg, k)]
    if diff:
        what = ", ".join(f"{k} {old.get(k)!r} there, {getattr(cfg, k)!r} here" for k in diff)
        raise ValueError(f"{out} holds a different sweep ({what}); give another --out or "
                         f"delete it")
    # A directory only grows: finished cells that this config no longer has would be left
    # out of its results.csv while their files stay, so a changed grid is refused.
    ids = {c.id for c in cfg.cells}
    gone = [c for c in old["cells"] if isinstance(c, dict) and c.get("id") not in ids
            and (out / CELLS / f"{c.get('id')}.json").exists()]
    if gone:
        raise ValueError(f"{out} holds a different sweep: {len(gone)} of its finished cells "
                         f"are not in this config (e.g. {gone[0].get('key')}); a config may "
                         f"only add cells to a directory; give another --out or delete it")
    return {c["id"]: c.get("seconds") for c in old["cells"]
            if isinstance(c, dict) and c.get("seconds") is not None}


def _manifest(cfg: SweepConfig, status: str, timings: dict, executor: str) -> dict:
    from .seeding import _key_words

    return {
        "name": cfg.name, "status": status, "source": cfg.source, "config": cfg.raw,
        "config_sha256": hashlib.sha256(json.dumps(cfg.raw, sort_keys=True, default=str)
                                        .encode()).hexdigest(),
        "runner": cfg.runner, "root_seed": cfg.root_seed, "reps": cfg.reps,
        "executor": executor,
        "seeding": "SeedSequence(entropy=root_seed, spawn_key=spawn_key).spawn(reps)[rep]",
        "cells": [{"id": c.id, "params": c.params, "key": c.key,
                   "spawn_key": list(_key_words(c.key)), "seconds": timings.get(c.id)}
                  for c in cfg.cells],
        "versions": versions(), "git_revision": git_revision(),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _out_path(out) -> Path:
    """``out`` as a Path: a str or os.PathLike naming a directory, nothing else."""
    if isinstance(out, (bool, bytes)) or not isinstance(out, (str, os.PathLike)) \
            or not str(out) or "\0" in str(out):
        raise ValueError(f"out must be a directory path (str or os.PathLike) or None, got "
                         f"{type(out).__name__} {out!r:.60}")
    return Path(out)


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"output directory {out} is a file; give a directory")
    try:
        (out / CELLS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create output directory {out}: "
                                 f"{exc.strerror or exc}") from None
    if not os.access(out, os.W_OK) or not os.access(out / CELLS, os.W_OK):
        raise OSError(13, f"output directory {out} is not writable")


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs (not what it computes): the ``obandits sweep`` flags and the keywords
    of :func:`run_sweep` / :func:`run`, with their defaults and help, in one place."""

    out: str | None = option(None, "output directory (default runs/<sweep name>)")
    workers: int | None = option(None, "processes (default: all cores; with --executor dask "
                                       "and no --scheduler, the LocalCluster's processes)")
    threads: int | None = option(None, "Numba threads per process (default 1; all cores if "
                                       "--workers 1)")
    executor: str = option("local", "local process pool or a Dask cluster",
                           choices=("local", "dask"))
    scheduler: str | None = option(None, "Dask scheduler address, e.g. tcp://host:8786 "
                                         "(implies --executor dask)")
    max_cells: int | None = option(None, f"cells above which --yes is needed (default "
                                         f"{MAX_CELLS})")
    max_work: float | None = option(None, f"cells x reps x T x K above which --yes is needed "
                                          f"(default {MAX_WORK:g})")
    yes: bool = option(False, "confirm a sweep above the size limits")
    quiet: bool = option(False, "no progress bar")

    def run_kwargs(self) -> dict:
        kw = {f.name: getattr(self, f.name) for f in fields(self)
              if f.name not in ("quiet", "out")}
        return {**kw, "progress": not self.quiet}


def run_sweep(cfg: SweepConfig, out: str | Path, *, workers: int | None = None,
              threads: int | None = None, progress: bool = True, executor: str = "local",
              scheduler: str | None = None, max_cells: int | None = None,
              max_work: float | None = None, yes: bool = False,
              log=None) -> Path:
    """Run every unfinished cell of ``cfg`` into ``out`` and write ``results.csv``.

    ``workers`` processes (default: all cores) each run whole cells with ``threads`` Numba
    threads (default: 1, or all cores when ``workers == 1``). ``executor="dask"`` runs the
    cells on a Dask cluster at ``scheduler`` (a ``LocalCluster`` of ``workers`` processes when
    None). The first failing cell stops the sweep (:class:`CellFailed`). Returns the results
    path."""
    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not isinstance(cfg, SweepConfig):
        raise ValueError(f"run_sweep needs a SweepConfig (obandits.load_config or "
                         f"config_from_dict), got {type(cfg).__name__}")
    out = _out_path(out)
    ncpu = os.cpu_count() or 1
    workers = v.int_scalar("workers", ncpu if workers is None else workers, min_value=1)
    threads = v.int_scalar("threads", (ncpu if workers == 1 else 1) if threads is None
                           else threads, min_value=1)
    v.choice("executor", executor, ("local", "dask"))
    if scheduler is not None and executor != "dask":
        executor = "dask"
    check_size(cfg, max_cells=max_cells, max_work=max_work, yes=yes)
    if executor == "dask":  # a missing extra is one line, before anything is written
        from .dask_executor import require_distributed

        require_distributed()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output directory {out} is a file; give a directory")
    if out.is_dir():
        _check_same_sweep(cfg, out)  # before anything is written
    if scheduler is not None:  # an unreachable scheduler is refused before anything is written
        from .dask_executor import client_for

        client_for(scheduler, workers)[0].close()
    _prepare_out(out)
    target = runners.spec(cfg.runner)
    with DirLock(out):
        timings = _check_same_sweep(cfg, out)
        old = read_manifest(out) if (out / MANIFEST).exists() else {}
        damaged = (results_damage(out, old) if old.get("status") == "complete"
                   and isinstance(old.get("results"), dict) else None)
        for d in (out, out / CELLS):
            for stale in d.glob(".*.tmp*"):
                stale.unlink()
        write_json(out / MANIFEST, _manifest(cfg, "running", timings, executor))
        todo = []
        for c in cfg.cells:
            why = verify_cell(cfg, c, out / CELLS)
            if why is not None:
                if why != "missing":
                    log(f"recomputing cell {c.id} {c.key}: {why}")
                todo.append(c)
        names = cfg.param_names
        bar = tqdm(total=len(cfg.cells), initial=len(cfg.cells) - len(todo), unit="cell",
                   desc=cfg.name, disable=not progress, dynamic_ncols=True)
        t0 = time.perf_counter()
        args = [(target, cfg.runner, cfg.root_seed, cfg.reps, c, cfg.cell_hash(c), names,
                 str(out / CELLS)) for c in todo]

        def on_done(cid, _rows, sec):
            timings[cid] = sec
            bar.update(1)

        try:
            # For the whole run, not only its start: a worker that a Dask nanny starts again
            # after a crash must not re-run the caller's script either.
            with main_not_reimported():
                if executor == "dask" and todo:
                    _run_dask(args, todo, threads, on_done, out, scheduler, workers)
                else:
                    _run_local(args, todo, workers, threads, on_done, out)
        except BaseException:
            bar.close()
            try:  # record the finished cells; never hide the real error behind this one
                write_json(out / MANIFEST, _manifest(cfg, "running", timings, executor))
            except OSError:
                pass
            raise
        bar.close()
        # All cells present: concatenate in grid order.
        text = merge_cells([out / CELLS / f"{c.id}.csv" for c in cfg.cells])
        if damaged:
            log(f"{out / RESULTS} was {damaged}: rebuilt from the verified cells")
        atomic_write(out / RESULTS, text)
        man = _manifest(cfg, "complete", timings, executor)
        man["results"] = results_record(text)
        man["wall_seconds_this_run"] = time.perf_counter() - t0
        write_json(out / MANIFEST, man)
    return out / RESULTS


def results_record(text: str) -> dict:
    """What the manifest records of ``results.csv``: its data rows and SHA-256."""
    return {"rows": max(len(text.splitlines()) - 1, 0),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def results_damage(out: Path, man: dict) -> str | None:
    """None when ``out/results.csv`` is the table the manifest records (rows and SHA-256),
    else what is wrong with it: missing, cut, extra rows, edited. A manifest that records
    neither (written before the record existed) is checked against the cells instead, by
    :func:`verified_results`."""
    path = out / RESULTS
    if not path.is_file():
        return "missing"
    rec = man.get("results")
    if not isinstance(rec, dict):
        return None
    try:
        got = results_record(path.read_bytes().decode())
    except UnicodeDecodeError:
        return "not text (garbage bytes)"
    if got == rec:
        return None
    want = rec.get("rows")
    if isinstance(want, int) and got["rows"] < want:
        return f"cut ({got['rows']} of the {want} rows the manifest records)"
    if isinstance(want, int) and got["rows"] > want:
        return f"longer than recorded ({got['rows']} rows, the manifest records {want})"
    return "edited (its SHA-256 differs from the manifest's)"


def verified_results(out: str | Path, man: dict, log=None) -> None:
    """Make sure ``out/results.csv`` is the table the sweep wrote: checked against the
    manifest's row count and SHA-256; a damaged one (cut, edited, extra rows, missing) is
    rebuilt from the cell files when every cell verifies and their merge has the recorded
    checksum, with one line on ``log`` saying so; otherwise ValueError naming the file, the
    damage and the first bad cell. A manifest without the record is checked against the
    cells when they exist."""
    out = Path(out)
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    damage = results_damage(out, man)
    rec = man.get("results")
    if damage is None and isinstance(rec, dict):
        return
    if damage is None and not (out / CELLS).is_dir():
        log(f"{out / RESULTS}: not verified: {out / MANIFEST} records no row count or SHA-256 "
            f"(an older sweep) and there are no cell files")
        return
    try:
        cfg = config_from_dict(man.get("config"), str(out / MANIFEST))
    except ValueError as exc:
        raise ValueError(f"{out / RESULTS} is {damage} and cannot be rebuilt: {exc}") from None
    bad = [(c, why) for c in cfg.cells if (why := verify_cell(cfg, c, out / CELLS))]
    if bad:
        if damage is None:  # no record, the cells do not verify: nothing to compare with
            log(f"{out / RESULTS}: not verified: {out / MANIFEST} records no checksum and "
                f"cell {bad[0][0].id} is {bad[0][1]}")
            return
        c, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ValueError(f"{out / RESULTS} is {damage} and cannot be rebuilt: cell {c.id} "
                         f"{c.key}: {why}{more}; rerun the sweep into {out} to recompute")
    text = merge_cells([out / CELLS / f"{c.id}.csv" for c in cfg.cells])
    if isinstance(rec, dict) and results_record(text) != rec:
        raise ValueError(f"{out / RESULTS} is {damage} and cannot be rebuilt: its "
                         f"{len(cfg.cells)} verified cells do not merge to the recorded "
                         f"SHA-256; rerun the sweep into {out}")
    if damage is None:  # no record: the cells decide
        if (out / RESULTS).read_bytes() == text.encode():
            return
        damage = "not the merge of its verified cells"
    with DirLock(out):
        atomic_write(out / RESULTS, text)
    log(f"{out / RESULTS} was {damage}: rebuilt from its {len(cfg.cells)} verified cells")


def finished(out: str | Path, log=None) -> tuple[dict, runners.Runner, dict]:
    """The manifest, runner and results table of a complete sweep directory;
    ``results.csv`` is verified first (:func:`verified_results`)."""
    out = Path(out)
    man = read_manifest(out)
    if man.get("status") != "complete":
        raise ValueError(f"sweep in {out} is not complete; rerun it to finish")
    try:
        runner = runners.get(man.get("runner"))
    except ValueError as exc:
        raise ValueError(f"{out / MANIFEST}: {exc}") from None
    if not isinstance(man.get("config"), dict):
        raise ValueError(f"{out / MANIFEST} has no config")
    verified_results(out, man, log)
    table = read_table(out / RESULTS)
    if not table_rows(table):
        raise ValueError(f"{out / RESULTS} has no rows")
    return man, runner, table


def summary(cfg: SweepConfig, out: str | Path, table: dict | None = None) -> str:
    """The runner's summary of ``results.csv`` (or of ``table``, already read)."""
    table = read_table(Path(out) / RESULTS) if table is None else table
    return runners.get(cfg.runner).summarise(table, cfg.raw)


def check_dir(out: str | Path, done: tuple | None = None) -> tuple[list[dict], str]:
    """The runner's claims on a finished sweep, from its data files alone: writes
    ``checks.csv`` and ``checks.md``; returns the claims and their markdown. ``done``: what
    :func:`finished` already returned for ``out`` (read and verified once)."""
    out = Path(out)
    man, runner, table = done or finished(out)
    if runner.check is None:
        return [], f"runner {runner.name} makes no claims"
    claims = runner.check(table, man["config"])
    return claims, write_claims(out, claims)


def write_claims(out: str | Path, claims: list[dict]) -> str:
    """``checks.csv`` and ``checks.md`` of a runner's claims in ``out``; returns the markdown."""
    out = Path(out)
    write_rows(out / "checks.csv", [_flat_claim(c) for c in claims])
    text = claims_markdown(claims)
    atomic_write(out / "checks.md", text + "\n")
    return text


def _flat_claim(c: dict) -> dict:
    lo, hi = c.get("ci") or (float("nan"), float("nan"))
    row = {"claim": c["claim"], "text": c.get("text", ""), "value": c.get("value"),
           "ci_low": lo, "ci_high": hi, "holds": c.get("holds"), "where": c.get("where", "")}
    row.update({k: x for k, x in c.items() if k not in row and k != "ci"})
    return row


def plot_dir(out: str | Path) -> list[Path]:
    """The runner's figures of a finished sweep, from its data files alone."""
    out = Path(out)
    man, runner, table = finished(out)
    return list(runner.figures(table, man["config"], out))


def run(config, out: str | Path | None = None, **kw):
    """Run (or resume) a sweep from a TOML path or a plain dict and return its tidy table: a
    pandas DataFrame when pandas is importable, else ``{column: array}``. ``out=None`` runs in
    a temporary directory. Keywords go to :func:`run_sweep` (``workers``, ``threads``,
    ``executor``, ``scheduler``, ``progress``, ``yes`` ...)."""
    import tempfile

    cfg = config_from_dict(config, "config") if isinstance(config, dict) else load_config(config)
    kw.setdefault("progress", False)
    if out is not None:
        out = _out_path(out)
    if out is None:
        with tempfile.TemporaryDirectory(prefix=f"obandits-{cfg.name}-") as tmp:
            table = read_table(run_sweep(cfg, tmp, **kw))
    else:
        table = read_table(run_sweep(cfg, out, **kw))
    try:
        import pandas as pd
    except ImportError:
        return table
    return pd.DataFrame(table)


# ---------------------------------------------------------------- command line

def _cmd_sweep(args) -> int:
    cfg = load_config(args.config)
    opts = from_args(SweepOptions, args)
    out = Path(opts.out) if opts.out else Path("runs") / cfg.name
    line = check_size(cfg, max_cells=opts.max_cells, max_work=opts.max_work, yes=opts.yes)
    print(f"sweep {cfg.name}: {line} -> {out}", flush=True)
    path = run_sweep(cfg, out, **opts.run_kwargs())
    print(f"\nresults: {path}\n")
    print(summary(cfg, out))
    return 0


def _cmd_plot(args) -> int:
    for p in plot_dir(args.results):
        print(p)
    return 0


def _cmd_check(args) -> int:
    out = Path(args.results)
    done = finished(out)
    man, runner, table = done
    print(runner.summarise(table, man["config"]))
    _, text = check_dir(out, done)
    print("\n" + text)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a declarative TOML sweep (resumable)")
    p.add_argument("config", help="TOML file ([sweep], [fixed], [[grid]], [check])")
    add_arguments(p, SweepOptions)
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser("plot", help="figures of a finished sweep, from its data files")
    p.add_argument("results", help="the sweep's output directory")
    p.set_defaults(func=_cmd_plot)
    p = sub.add_parser("check", help="summary table and claims of a finished sweep, from its "
                       "data files (writes checks.csv, checks.md)")
    p.add_argument("results", help="the sweep's output directory")
    p.set_defaults(func=_cmd_check)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: obandits sweep CONFIG")
