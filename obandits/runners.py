"""The sweep runner interface: one small object per simulator, registered by name.

A sweep config names its runner (``[sweep] runner = "bandit"``); :func:`get` resolves the name
through :data:`REGISTRY` only, so no other importable callable can be run from a config.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy only in annotations: `obandits --help` imports this module
    import numpy as np


@dataclass(frozen=True)
class Runner:
    """What the sweep engine needs of a simulator.

    ``validate(params) -> params``: fill defaults, check every field (ValueError naming it).
    ``run_cell(params, root_seed, cell_key, reps) -> {column: 1-D array}`` incl. ``rep``.
    ``summarise(table, raw_config) -> str`` (markdown). ``figures(table, raw_config, out_dir)
    -> [png paths]``. ``check(table, raw_config) -> [claim dicts]`` with keys claim, text,
    value, ci, holds (True/False/None), where.
    ``key(params) -> dict`` (optional): the parameters a cell's key (its seeds and file id) is
    computed from, default the params themselves (a renamed parameter keeps its old results).
    """

    name: str
    validate: Callable[[dict], dict]
    run_cell: Callable[[dict, int, str, int], dict[str, np.ndarray]]
    summarise: Callable[[dict[str, np.ndarray], dict], str]
    figures: Callable[[dict[str, np.ndarray], dict, Path], list[Path]]
    check: Callable[[dict[str, np.ndarray], dict], list[dict]] | None = None
    key: Callable[[dict], dict] | None = None


class CellFailed(RuntimeError):
    """A cell's runner raised: names the cell and its parameters (finished cells are kept)."""


REGISTRY: dict[str, str] = {
    "bandit": "obandits.bandit.runner:RUNNER",
    "rlsim": "obandits.rlsim.runner:RUNNER",
    "cot": "obandits.cot.runner:RUNNER",
    "bu2025": "obandits.cot.bu2025_runner:RUNNER",
}


def spec(name: str) -> str:
    """The ``module:attribute`` of a registered runner; anything else is refused."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"sweep.runner must be one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[name]


def load(target: str) -> Runner:
    """The :class:`Runner` at ``module:attribute`` (an entry of :data:`REGISTRY`)."""
    mod_name, attr = target.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"runner {target!r} cannot be imported ({exc}); is the simulator "
                         f"installed and up to date?") from None
    runner = getattr(mod, attr, None)
    if not isinstance(runner, Runner):
        raise ValueError(f"runner {target!r}: {mod_name} defines no Runner named {attr!r}")
    return runner


def get(name: str) -> Runner:
    """The registered runner called ``name`` (ValueError listing the allowed names)."""
    return load(spec(name))
