"""Sweeps: a declarative TOML grid -> cells -> a parallel executor -> one tidy CSV table.

Config (``tomllib``)::

    [sweep]
    name = "bandit-theorems"
    runner = "obandits.bandit.runner:run_cell"   # module:function computing one cell
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

Other top-level tables (e.g. ``[check]``) are kept for the runner module's analysis.

A cell is a dict of parameters; its key is their canonical JSON, and the seeds of repetition
``i`` are ``obandits.seeding.rep_sequences(root_seed, key)[i]``, so results depend on neither
the order cells run in nor the number of processes or threads. The runner is
``run_cell(params, root_seed, cell_key, reps) -> dict[column, 1-D array]`` (a ``rep`` column
and value columns, one row per repetition x checkpoint); its module may define
``validate_cell(params)`` (raise ValueError before any work), ``summary(table) -> str`` and
``plot(results_dir)``.

Output directory: ``cells/<id>.csv`` written atomically per finished cell (temporary file, then
rename), ``results.csv`` (all cells of the config, grid order) and ``manifest.json`` (config,
cells with their seed keys, package version, git revision, timings). Rerunning into the same
directory skips finished cells, so an interrupted sweep resumes with no lost and no duplicated
rows; a config extended with new cells (same root seed, reps and runner) runs only those.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import tomllib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _validate as v
from .tables import markdown_table

MANIFEST = "manifest.json"
RESULTS = "results.csv"
CELLS = "cells"
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Cell:
    """One grid point: its parameters, canonical key (seeds derive from it) and short id."""

    params: dict
    key: str
    id: str


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: name, runner ``module:function``, root seed, repetitions, cells, and
    the raw TOML (kept whole in the manifest)."""

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


def cell_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def make_cell(params: dict) -> Cell:
    key = cell_key(params)
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


def _load_runner(spec: str):
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"sweep.runner must be 'module:function', got {spec!r}")
    mod_name, func_name = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"sweep.runner module {mod_name!r} cannot be imported: {exc}") from None
    func = getattr(mod, func_name, None)
    if not callable(func):
        raise ValueError(f"sweep.runner: {mod_name} has no function {func_name!r}")
    return mod, func


def config_from_dict(raw: dict, source: str = "") -> SweepConfig:
    """Validate a parsed config and expand its grid into cells (runner's ``validate_cell`` on
    each, before any work starts)."""
    if not isinstance(raw, dict) or "sweep" not in raw:
        raise ValueError(f"{source or 'config'}: missing the [sweep] table")
    sw = raw["sweep"]
    unknown = set(sw) - {"name", "runner", "root_seed", "reps"}
    if unknown:
        raise ValueError(f"[sweep] has unknown keys {sorted(unknown)}; allowed: name, runner, "
                         f"root_seed, reps")
    for key in ("name", "runner", "root_seed", "reps"):
        if key not in sw:
            raise ValueError(f"[sweep] needs {key!r}")
    name = sw["name"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"sweep.name must be a non-empty string, got {name!r}")
    root_seed = v.int_scalar("sweep.root_seed", sw["root_seed"], min_value=0)
    reps = v.int_scalar("sweep.reps", sw["reps"], min_value=1)
    mod, _ = _load_runner(sw["runner"])
    fixed = raw.get("fixed", {})
    grids = raw.get("grid", [])
    if isinstance(grids, dict):
        grids = [grids]
    if not grids:
        raise ValueError("config needs at least one [[grid]] table")
    cells, seen = [], set()
    for gi, grid in enumerate(grids):
        for params in _expand(fixed, grid, f"[[grid]] #{gi + 1}"):
            validate = getattr(mod, "validate_cell", None)
            if validate is not None:
                try:
                    params = validate(params)
                except ValueError as exc:
                    raise ValueError(f"[[grid]] #{gi + 1}, cell {cell_key(params)}: {exc}"
                                     ) from None
            cell = make_cell(params)
            if cell.key not in seen:
                seen.add(cell.key)
                cells.append(cell)
    return SweepConfig(name, sw["runner"], root_seed, reps, tuple(cells), raw, source)


def load_config(path: str | Path) -> SweepConfig:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(raw, str(path))


# ---------------------------------------------------------------- tidy tables (CSV)

def _fmt(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cell_rows(cell: Cell, names: list[str], cols: dict[str, np.ndarray]) -> tuple[list, list]:
    lengths = {k: len(np.asarray(a)) for k, a in cols.items()}
    if len(set(lengths.values())) != 1 or "rep" not in cols:
        raise ValueError(f"runner must return equal-length columns including 'rep', got "
                         f"{lengths}")
    clash = set(cols) & (set(names) | {"cell"})
    if clash:
        raise ValueError(f"runner columns {sorted(clash)} clash with parameter names")
    header = ["cell", *names, *cols]
    n = lengths["rep"]
    fixed = [cell.id, *(_fmt(cell.params.get(k, "")) for k in names)]
    arrays = [np.asarray(a) for a in cols.values()]
    rows = [fixed + [_fmt(a[i]) for a in arrays] for i in range(n)]
    return header, rows


def _csv_text(header: list, rows: list) -> str:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _merge_cells(paths: list[Path]) -> str:
    """One CSV from cell files, in order, under the union of their headers (first-seen order)."""
    tables = []
    for path in paths:
        with open(path, newline="") as f:
            r = csv.reader(f)
            tables.append((next(r), list(r)))
    header: list[str] = []
    for h, _ in tables:
        header += [c for c in h if c not in header]
    rows = []
    for h, body in tables:
        where = [h.index(c) if c in h else -1 for c in header]
        rows += [[row[i] if i >= 0 else "" for i in where] for row in body]
    return _csv_text(header, rows)


def _parse_column(vals: list[str]) -> np.ndarray:
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
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = list(r)
    return {h: _parse_column([row[i] for row in rows]) for i, h in enumerate(header)}


# ---------------------------------------------------------------- execution

def _git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=False)
        rev = out.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).parent, capture_output=True, text=True,
                               timeout=10, check=False).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict:
    import numba

    from . import __version__

    return {"obandits": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}


def _init_worker(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _mp_context(runner: str):
    """Workers fork from a server that has imported the runner's module (NumPy, Numba and the
    package: about 0.6 s per worker otherwise). The server runs no kernel, so no Numba thread
    pool exists when it forks; where there is no forkserver, workers are spawned. Workers load
    compiled kernels from Numba's on-disk cache, or compile them side by side when it is cold
    (its files are replaced atomically)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, runner.split(":")[0]])
    return ctx


def _compute_cell(runner: str, root_seed: int, reps: int, cell: Cell, names: list[str],
                  path: str) -> tuple[str, int, float]:
    """Run one cell and write its table atomically; returns (id, rows, seconds)."""
    t0 = time.perf_counter()
    _, func = _load_runner(runner)
    cols = func(dict(cell.params), root_seed, cell.key, reps)
    header, rows = _cell_rows(cell, names, cols)
    _atomic_write(Path(path), _csv_text(header, rows))
    return cell.id, len(rows), time.perf_counter() - t0


def _manifest(cfg: SweepConfig, status: str, timings: dict) -> dict:
    from .seeding import _key_words

    return {
        "name": cfg.name, "status": status, "source": cfg.source, "config": cfg.raw,
        "runner": cfg.runner, "root_seed": cfg.root_seed, "reps": cfg.reps,
        "seeding": "SeedSequence(entropy=root_seed, spawn_key=spawn_key).spawn(reps)[rep]",
        "cells": [{"id": c.id, "params": c.params, "key": c.key,
                   "spawn_key": list(_key_words(c.key)), "seconds": timings.get(c.id)}
                  for c in cfg.cells],
        "versions": _versions(), "git_revision": _git_revision(),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _check_same_sweep(cfg: SweepConfig, out: Path) -> dict:
    mpath = out / MANIFEST
    if not mpath.exists():
        return {}
    try:
        old = json.loads(mpath.read_text())
    except json.JSONDecodeError:
        raise ValueError(f"{mpath} is not valid JSON; delete the directory to start over"
                         ) from None
    # Same seed, reps and runner: finished cells stay valid (a cell's file is named by the hash
    # of its parameters), so a config may also be extended with new cells and rerun.
    same = (old.get("root_seed") == cfg.root_seed and old.get("reps") == cfg.reps
            and old.get("runner") == cfg.runner)
    if not same:
        raise ValueError(f"{out} holds a different sweep (root seed, reps or runner differ); "
                         f"give another --out or delete it")
    return {c["id"]: c.get("seconds") for c in old["cells"] if c.get("seconds") is not None}


def run_sweep(cfg: SweepConfig, out: str | Path, *, workers: int | None = None,
              threads: int | None = None, progress: bool = True) -> Path:
    """Run every unfinished cell of ``cfg`` into ``out`` and write ``results.csv``.

    ``workers`` processes (default: all cores) each run whole cells with ``threads`` Numba
    threads (default: 1, or all cores when ``workers == 1``). Returns the results path."""
    from tqdm import tqdm

    ncpu = os.cpu_count() or 1
    workers = v.int_scalar("workers", ncpu if workers is None else workers, min_value=1)
    threads = v.int_scalar("threads", (ncpu if workers == 1 else 1) if threads is None
                           else threads, min_value=1)
    out = Path(out)
    (out / CELLS).mkdir(parents=True, exist_ok=True)
    timings = _check_same_sweep(cfg, out)
    for stale in (out / CELLS).glob(".*.tmp*"):
        stale.unlink()
    _atomic_write(out / MANIFEST, json.dumps(_manifest(cfg, "running", timings), indent=1))
    names = cfg.param_names
    todo = [c for c in cfg.cells if not (out / CELLS / f"{c.id}.csv").exists()]
    bar = tqdm(total=len(cfg.cells), initial=len(cfg.cells) - len(todo), unit="cell",
               desc=cfg.name, disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    args = [(cfg.runner, cfg.root_seed, cfg.reps, c, names, str(out / CELLS / f"{c.id}.csv"))
            for c in todo]
    try:
        if workers == 1 or len(todo) <= 1:
            _init_worker(threads)
            for a in args:
                cid, _, sec = _compute_cell(*a)
                timings[cid] = sec
                bar.update(1)
        else:
            with ProcessPoolExecutor(min(workers, len(todo)), _mp_context(cfg.runner),
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                pending = {pool.submit(_compute_cell, *a) for a in args}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        cid, _, sec = fut.result()
                        timings[cid] = sec
                        bar.update(1)
    finally:
        bar.close()
        _atomic_write(out / MANIFEST, json.dumps(_manifest(cfg, "running", timings), indent=1))
    # All cells present: concatenate in grid order. Cells written by an earlier, smaller
    # config may lack later parameter names, so rows go under the union of the headers
    # (a missing parameter is an empty field), never under a header they do not match.
    _atomic_write(out / RESULTS, _merge_cells([out / CELLS / f"{c.id}.csv" for c in cfg.cells]))
    man = _manifest(cfg, "complete", timings)
    man["wall_seconds_this_run"] = time.perf_counter() - t0
    _atomic_write(out / MANIFEST, json.dumps(man, indent=1))
    return out / RESULTS


def summary(cfg: SweepConfig, out: str | Path) -> str:
    """The runner module's summary of ``results.csv`` if it has one, else cell counts."""
    mod, _ = _load_runner(cfg.runner)
    table = read_table(Path(out) / RESULTS)
    if hasattr(mod, "summary"):
        return mod.summary(table)
    n = len(next(iter(table.values())))
    return markdown_table(["cells", "rows"], [[len(cfg.cells), n]])


# ---------------------------------------------------------------- command line

def _cmd_sweep(args) -> int:
    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path("results") / cfg.name
    print(f"sweep {cfg.name}: {len(cfg.cells)} cells x {cfg.reps} reps -> {out}", flush=True)
    path = run_sweep(cfg, out, workers=args.workers, threads=args.threads,
                     progress=not args.quiet)
    print(f"\nresults: {path}\n")
    print(summary(cfg, out))
    return 0


def _cmd_plot(args) -> int:
    out = Path(args.results)
    mpath = out / MANIFEST
    if not mpath.is_file():
        raise ValueError(f"{out} has no {MANIFEST}; give the output directory of a sweep")
    man = json.loads(mpath.read_text())
    mod, _ = _load_runner(man["runner"])
    if not hasattr(mod, "plot"):
        raise ValueError(f"runner module of {man['runner']!r} has no plot()")
    for p in mod.plot(out):
        print(p)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a declarative TOML sweep (resumable)")
    p.add_argument("config", help="TOML file ([sweep], [fixed], [[grid]])")
    p.add_argument("--out", help="output directory (default results/<sweep name>)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--threads", type=int, default=None,
                   help="Numba threads per process (default 1; all cores if --workers 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser("plot", help="figures of a finished sweep (by its runner)")
    p.add_argument("results", help="the sweep's output directory")
    p.set_defaults(func=_cmd_plot)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: obandits sweep CONFIG")
