"""Theory curves for outcome bandits (Spec 1 §5), up to constants.

- ``minimax_arm(K, T) = sqrt(K T log T)``: worst-case rate of arm-level UCB (no generalisation).
- ``minimax_outcome(m, T) = sqrt(m T log T)``: informal Thm 4.2, outcome-level UCB.
- ``gap_dependent(gaps, T) = sum_{gap > 0} log T / gap``: the instance-dependent rate.
- ``needle(K, T) = min(T, K)``: the needle-in-a-haystack lower bound (informal Thm 4.1).

Figures draw a curve scaled by one constant so that it passes through a measured point
(:func:`scale_to`): the shape is the theory, the constant is not.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v


def _pos(name, x):
    arr = v.float_array(name, np.atleast_1d(x), min_value=0.0)
    if (arr <= 0).any():
        raise ValueError(f"{name} must be > 0, got {arr.min()}")
    return arr


def _logT(T):
    T = _pos("T", T)
    return T, np.log(np.maximum(T, np.e))  # log T floored at 1 so the curve stays defined


def minimax_arm(K, T) -> np.ndarray:
    """``sqrt(K T log T)``."""
    T, lt = _logT(T)
    return np.sqrt(_pos("K", K) * T * lt)


def minimax_outcome(m, T) -> np.ndarray:
    """``sqrt(m T log T)``."""
    T, lt = _logT(T)
    return np.sqrt(_pos("m", m) * T * lt)


def gap_dependent(gaps, T) -> np.ndarray:
    """``sum_{i: gap_i > 0} log T / gap_i`` for each ``T`` (``gaps`` 1-D, zeros skipped)."""
    g = v.float_array("gaps", gaps, min_value=0.0)
    g = g[g > 0]
    T, lt = _logT(T)
    return lt * float(np.sum(1.0 / g))


def needle(K, T) -> np.ndarray:
    """``min(T, K)``."""
    return np.minimum(_pos("T", T), _pos("K", K))


def scale_to(curve: np.ndarray, x_ref_value: float, y_ref: float) -> np.ndarray:
    """``curve * (y_ref / x_ref_value)``: the theory shape through one measured point."""
    if x_ref_value <= 0:
        raise ValueError(f"reference value of the curve must be > 0, got {x_ref_value}")
    return np.asarray(curve) * (y_ref / x_ref_value)
