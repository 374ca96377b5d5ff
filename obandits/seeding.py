"""Seeding: one ``numpy.random.SeedSequence`` per experiment, one child per (cell, repetition).

A child is addressed by the cell's key and the repetition index, never by the order in which
work is scheduled, so the same root seed gives the same numbers on any number of threads or
processes. Nothing in the package touches a global RNG.
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import _validate as v


def _key_words(cell_key: str) -> tuple[int, ...]:
    if not isinstance(cell_key, str):
        raise ValueError(f"cell_key must be a str, got {cell_key!r}")
    digest = hashlib.sha256(cell_key.encode()).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def cell_sequence(root_seed: int, cell_key: str) -> np.random.SeedSequence:
    """The SeedSequence of one cell: a stable function of ``(root_seed, cell_key)``."""
    root_seed = v.int_scalar("root_seed", root_seed, min_value=0)
    return np.random.SeedSequence(entropy=root_seed, spawn_key=_key_words(cell_key))


def rep_sequences(root_seed: int, cell_key: str, n_reps: int) -> list[np.random.SeedSequence]:
    """Independent child sequences, one per repetition ``0..n_reps-1`` of a cell."""
    n_reps = v.int_scalar("n_reps", n_reps, min_value=1)
    return cell_sequence(root_seed, cell_key).spawn(n_reps)


def rep_generators(root_seed: int, cell_key: str, n_reps: int) -> list[np.random.Generator]:
    """One ``numpy.random.Generator`` (PCG64) per repetition."""
    return [np.random.default_rng(s) for s in rep_sequences(root_seed, cell_key, n_reps)]


def rep_states(root_seed: int, cell_key: str, n_reps: int) -> np.ndarray:
    """Initial states ``(n_reps, 4)`` uint64 for the compiled generator of :mod:`obandits.nbrng`,
    one independent stream per repetition."""
    from .nbrng import state_from_sequence

    return np.stack([state_from_sequence(s) for s in rep_sequences(root_seed, cell_key, n_reps)])


def spawn_generators(seed: int | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """``n`` independent generators spawned from one seed (for code without cell keys)."""
    n = v.int_scalar("n", n, min_value=1)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(
        v.int_scalar("seed", seed, min_value=0))
    return [np.random.default_rng(s) for s in ss.spawn(n)]
