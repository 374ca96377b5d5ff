"""The sweep runner interface: one small object per simulator, registered by name.

A sweep config names its runner (``[sweep] runner = "bandit"``). Runners are plugins: an
installed distribution declares one in the entry-point group ``obandits.runners``
(``name = "package.module:RUNNER"``); obandits' own runners register the same way in its
``pyproject.toml``. :func:`get` resolves a name through those entry points (and
:data:`REGISTRY`, for a runner registered at run time), so no other importable callable can be
run from a config.
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


GROUP = "obandits.runners"
# Runners registered at run time (a script or a test), name -> "module:attribute"; they win
# over an installed entry point of the same name. Installed plugins need no entry here.
REGISTRY: dict[str, str] = {}


def registered() -> dict[str, str]:
    """Every runner name -> ``module:attribute``: the ``obandits.runners`` entry points of the
    installed distributions, then :data:`REGISTRY`. Two distributions registering one name
    differently is refused (ValueError naming both)."""
    from importlib.metadata import entry_points

    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=GROUP):
        dist = getattr(ep.dist, "name", None) or "?"
        if ep.name in found and found[ep.name][0] != ep.value:
            raise ValueError(f"runner {ep.name!r} is registered twice in entry-point group "
                             f"{GROUP!r}: {found[ep.name][0]} ({found[ep.name][1]}) and "
                             f"{ep.value} ({dist}); uninstall one")
        found[ep.name] = (ep.value, dist)
    return {**{k: v for k, (v, _) in found.items()}, **REGISTRY}


def spec(name: str) -> str:
    """The ``module:attribute`` of a registered runner; anything else is refused."""
    known = registered()
    if not isinstance(name, str) or name not in known:
        hint = ("" if known else " (no runner is registered: is obandits installed, e.g. "
                                 "`pip install -e .`? Entry points come from the install)")
        raise ValueError(f"sweep.runner must be one of {sorted(known)}, got {name!r}{hint}; "
                         f"a plugin registers one in the entry-point group {GROUP!r}")
    return known[name]


def load(target: str) -> Runner:
    """The :class:`Runner` at ``module:attribute`` (a value of :func:`registered`)."""
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
