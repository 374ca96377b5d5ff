"""Sweep cells on a Dask distributed cluster (``obandits sweep --executor dask [--scheduler
ADDRESS]``): a ``LocalCluster`` of worker processes when no address is given.

Each cell is one task running :func:`obandits.sweep._compute_cell`, which writes the cell's
files atomically and deterministically (same bytes wherever and however often it runs). A
worker that dies mid-cell has its task rescheduled by the scheduler on another worker, so no
cell is lost, and a cell computed twice writes the same file twice, so none is duplicated; the
results table is merged from the cell files by id, exactly as with the local pool.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+(:\d+)?$|^[\w.\-]+:\d+$")


def _cell_task(threads: int, compute, *args):
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return compute(*args)


def client_for(scheduler: str | None, n_workers: int, timeout: float = 10.0):
    """A ``distributed.Client`` on ``scheduler`` (OSError naming the address when it cannot
    be reached), or on a new ``LocalCluster`` of ``n_workers`` single-threaded processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ValueError(f"--executor dask needs dask.distributed ({exc}); pip install "
                         f"'dask[distributed]'") from None
    if scheduler is None:
        from .sweep import main_not_reimported

        with main_not_reimported():
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        return Client(cluster), cluster
    if not isinstance(scheduler, str) or not _ADDRESS.match(scheduler):
        raise ValueError(f"--scheduler must be an address like tcp://host:8786, got "
                         f"{scheduler!r}")
    try:
        return Client(scheduler, timeout=f"{timeout}s"), None
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: "
                      f"{' '.join(str(exc).split()) or type(exc).__name__}") from None


def run_dask(args, cells, threads, on_done, out, scheduler, n_workers, compute, failed) -> None:
    """Submit one task per cell; ``on_done`` as each finishes; the first failing cell cancels
    the rest and raises ``failed(cell, exc, out)``."""
    from distributed import as_completed

    client, cluster = client_for(scheduler, n_workers)
    try:
        futs = {client.submit(_cell_task, threads, compute, *a, key=f"obandits-cell-{a[5]}",
                              pure=False, retries=2): cell for a, cell in zip(args, cells)}
        for fut in as_completed(list(futs)):
            cell = futs[fut]
            try:
                res = fut.result()
            except Exception as exc:
                client.cancel(list(futs))
                raise failed(cell, exc, out) from (None if isinstance(exc, OSError) else exc)
            on_done(*res)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
