"""Input validation shared by every public function.

Each check raises ``ValueError`` naming the argument, the offending value and what is allowed,
so that no public function lets a NaN or a silently broadcast array through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def int_array(name: str, x: Any, *, min_value: int | None = None, ndim: int = 1) -> np.ndarray:
    """Return ``x`` as an int64 array, rejecting non-integer values (floats must be integral)."""
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating) or arr.size == 0):
        raise ValueError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        flat = arr.ravel()
        ok = np.isfinite(flat) & (flat == np.round(flat))
        if not ok.all():
            raise ValueError(f"{name} must hold integer ids, got {flat[~ok][0]!r}")
    arr = arr.astype(np.int64, copy=False)
    if min_value is not None and arr.size and arr.min() < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {int(arr.min())}")
    return arr


def float_array(name: str, x: Any, *, ndim: int | None = 1, min_value: float | None = None,
                max_value: float | None = None) -> np.ndarray:
    """Return ``x`` as a finite float64 array (NaN and inf are rejected)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold real numbers, got {_show(x)}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr.ravel()[~np.isfinite(arr.ravel())][0]
        raise ValueError(f"{name} must be finite, got {bad}")
    if min_value is not None and arr.size and arr.min() < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {arr.min()}")
    if max_value is not None and arr.size and arr.max() > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {arr.max()}")
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """Check that all named 1-D arrays have one length and that it is not zero."""
    lengths = {k: len(v) for k, v in arrays.items()}
    values = set(lengths.values())
    if len(values) != 1:
        raise ValueError(f"arrays must have the same length, got {lengths}")
    n = values.pop()
    if n == 0:
        raise ValueError(f"arrays must not be empty, got lengths {lengths}")
    return n


def finite_scalar(name: str, x: Any, *, min_value: float | None = None,
                  max_value: float | None = None, strict_min: bool = False) -> float:
    """``x`` as a finite float. A bool or a string is refused, numeric or not (the one rule
    for every field: a TOML ``gap = "0.1"`` is refused as ``T = "1024"`` is)."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer,
                                                              np.floating)):
        raise ValueError(f"{name} must be a real number, got {_show(x)}")
    v = float(x)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if min_value is not None and (v <= min_value if strict_min else v < min_value):
        op = ">" if strict_min else ">="
        raise ValueError(f"{name} must be {op} {min_value}, got {v}")
    if max_value is not None and v > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {v}")
    return v


def int_scalar(name: str, x: Any, *, min_value: int | None = None,
               max_value: int | None = None) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            x = int(x)
        else:
            raise ValueError(f"{name} must be an integer, got {_show(x)}")
    v = int(x)
    if min_value is not None and v < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {v}")
    if max_value is not None and v > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {v}")
    return v


def choice(name: str, x: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if x not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {_show(x)}")
    return x
