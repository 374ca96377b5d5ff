"""The count-history protocol of the outcome bonuses, compiled (Spec 1 §3: ``N(x, a)``).

A bonus reads, for every sample ``j`` of a batch, the history count ``N(x_j, a_j)`` of its
prompt and outcome. ``count_mode = "before"`` (the default) reads the counts of earlier batches
and adds this batch afterwards; ``"after"`` adds this batch first (every sample then sees at
least 1). The dense table ``counts[row, outcome]`` is that of
:class:`obandits.counts.CountTable`; sample ``j``'s row is ``row_of_group[group[j]]``.

Use per batch::

    counts_for_batch(counts, row_of_group, group, outcome, count_after, count)  # fills count
    ...  # shaped advantages from count
    finish_batch(counts, row_of_group, group, outcome, count_after)
"""

from __future__ import annotations

import numba as nb


@nb.njit(cache=True, nogil=True, inline="always")
def add_batch(counts, row_of_group, group, outcome):
    """``N(x_j, a_j) += 1`` for every sample of the batch."""
    for j in range(len(outcome)):
        counts[row_of_group[group[j]], outcome[j]] += 1


@nb.njit(cache=True, nogil=True, inline="always")
def counts_for_batch(counts, row_of_group, group, outcome, count_after, out):
    """``out[j] = N(x_j, a_j)`` as the bonus sees it (the batch added first when
    ``count_after``)."""
    if count_after:
        add_batch(counts, row_of_group, group, outcome)
    for j in range(len(outcome)):
        out[j] = counts[row_of_group[group[j]], outcome[j]]


@nb.njit(cache=True, nogil=True, inline="always")
def finish_batch(counts, row_of_group, group, outcome, count_after):
    """After the update: add the batch when it was not added before reading."""
    if not count_after:
        add_batch(counts, row_of_group, group, outcome)
