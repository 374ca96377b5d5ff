"""Sweep cells on a Dask distributed cluster (``obandits sweep --executor dask [--scheduler
ADDRESS]``): a ``LocalCluster`` of worker processes when no address is given.

Each cell is one task running :func:`obandits.sweep._compute_cell`, which writes the cell's
files atomically and deterministically (same bytes wherever and however often it runs). A
worker that dies mid-cell has its task rescheduled by the scheduler on another worker, so no
cell is lost, and a cell computed twice writes the same file twice, so none is duplicated; the
results table is merged from the cell files by id, exactly as with the local pool.

Overhead against the local pool (``bench/results/sweep_dask.md``): the cells are submitted in
one batch (``Client.map``), and a ``LocalCluster`` started here runs with :data:`LEAN`
settings: its workers fork from a server that has imported ``distributed`` and the runner
(as the local pool's do) instead of each being spawned and importing them, and the periodic
book-keeping that a long numeric task does not need (statistical profiler every 10 ms, event
loop checks every 20 ms, memory monitor every 100 ms, work stealing) runs rarely or not at
all: idle, the default settings cost 0.085 CPU-s per second on two workers, these 0.013.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+(:\d+)?$|^[\w.\-]+:\d+$")

# Dask settings of a LocalCluster started for a sweep (one single-threaded task per worker
# at a time, cells of seconds to minutes; the memory limits stay in force).
LEAN = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing": False,  # the scheduler queues cells (saturation)
}


def _cell_task(threads: int, compute, *args):
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return compute(*args)


def _local_cluster(n_workers: int, preload: list[str]):
    """A ``LocalCluster`` of ``n_workers`` single-threaded processes with :data:`LEAN`
    settings, forked from a server that has imported ``distributed`` and ``preload``."""
    import multiprocessing as mp

    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    from .sweep import main_not_reimported

    with dask.config.set(LEAN), main_not_reimported():
        if "forkserver" not in mp.get_all_start_methods():
            dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
        else:  # the server imports distributed and the package (no effect once it runs)
            get_mp_context().set_forkserver_preload(["distributed", *preload])
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)


def _probe(scheduler: str, timeout: float) -> None:
    """Fail at once when a TCP scheduler refuses the connection (the client would retry for
    ``timeout`` seconds)."""
    import socket

    m = re.match(r"^(?:tcp://)?\[?([^\s\]]+?)\]?:(\d+)$", scheduler)
    if m is None:
        return
    try:
        socket.create_connection((m[1], int(m[2])), timeout=timeout).close()
    except OSError as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: "
                      f"{exc.strerror or type(exc).__name__}") from None


def require_distributed() -> None:
    """ValueError naming the ``dask`` extra when ``distributed`` cannot be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"--executor dask (executor='dask') needs the dask extra: pip "
                         f"install 'obandits[dask]' ({exc})") from None


def client_for(scheduler: str | None, n_workers: int, timeout: float = 10.0,
               preload: tuple[str, ...] = ()):
    """A ``distributed.Client`` on ``scheduler`` (OSError naming the address when it cannot
    be reached), or on a new ``LocalCluster`` of ``n_workers`` single-threaded processes
    whose workers have imported the modules ``preload``."""
    require_distributed()
    from distributed import Client

    if scheduler is None:
        cluster = _local_cluster(n_workers, ["obandits.sweep", *preload])
        return Client(cluster), cluster
    if not isinstance(scheduler, str) or not _ADDRESS.match(scheduler):
        raise ValueError(f"--scheduler must be an address like tcp://host:8786, got "
                         f"{scheduler!r}")
    _probe(scheduler, timeout)
    try:
        return Client(scheduler, timeout=f"{timeout}s"), None
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: "
                      f"{' '.join(str(exc).split()) or type(exc).__name__}") from None


def run_dask(args, cells, threads, on_done, out, scheduler, n_workers, compute, failed) -> None:
    """Submit one task per cell, all at once; ``on_done`` as each finishes; the first failing
    cell cancels the rest and raises ``failed(cell, exc, out)``."""
    from distributed import as_completed

    client, cluster = client_for(scheduler, n_workers, preload=(args[0][0].split(":")[0],))
    try:
        cols = list(zip(*args))
        futs = client.map(_cell_task, [threads] * len(args), [compute] * len(args), *cols,
                          key=[f"obandits-cell-{a[5]}" for a in args], pure=False,
                          retries=2)
        by_fut = dict(zip(futs, cells))
        for fut in as_completed(futs):
            cell = by_fut[fut]
            try:
                res = fut.result()
            except Exception as exc:
                client.cancel(futs)
                raise failed(cell, exc, out) from (None if isinstance(exc, OSError) else exc)
            on_done(*res)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
