"""Files shipped inside the package: the experiment configs and reference data.

The repository keeps them where people look for them (``experiments/*/*.toml``,
``docs/data/bu2025/``); ``obandits/data/`` holds relative links to those folders, and the
wheel and sdist carry the files themselves as package data, so a ``pip install`` run from any
directory finds them through :mod:`importlib.resources`. Callers name a file by its path in
the repository: ``path("experiments/cot/paper.toml")``, ``path("docs/data/bu2025/authors.csv")``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# repository folder -> folder under obandits/data (see pyproject.toml's package-data)
ROOTS = {"experiments": "experiments", "docs/data/bu2025": "bu2025"}


def find(name: str | Path) -> Path | None:
    """The installed copy of repository file or folder ``name``, or None when obandits does
    not ship it."""
    if Path(name).is_absolute():
        return None
    rel = Path(name).as_posix().removeprefix("./")
    for root, sub in ROOTS.items():
        if rel == root or rel.startswith(root + "/"):
            found = Path(str(files("obandits") / "data" / sub / rel[len(root):].lstrip("/")))
            return found.resolve() if found.exists() else None
    return None


def path(name: str | Path) -> Path:
    """:func:`find`, or a ValueError naming ``name`` when obandits does not ship it."""
    found = find(name)
    if found is None:
        raise ValueError(f"{str(name)!r} is not among the files obandits ships (files under "
                         f"{', '.join(f'{r}/' for r in ROOTS)} are); reinstall obandits")
    return found
