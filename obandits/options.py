"""Config dataclasses as the single source of names, defaults and help: command-line flags are
generated from their fields (``--max-cells`` from ``max_cells``), so a default or a help text
is written once. A field's metadata holds ``help`` and optionally ``choices``."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def option(default, help: str, **extra):
    """A dataclass field with its help text (and e.g. ``choices=``) for the generated flag."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def _base(tp):
    """``int`` for ``int | None`` (the flag's type)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def add_arguments(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    """One ``--flag`` per field of dataclass ``cls`` (booleans are switches)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        name = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "")
        tp = _base(hints[f.name])
        if tp is bool:
            parser.add_argument(name, action="store_true", default=f.default, help=text)
            continue
        if f.default is not None and "default" not in text:
            text += f" (default {f.default:g})" if isinstance(f.default, float) else \
                f" (default {f.default})"
        parser.add_argument(name, type=tp, default=f.default, help=text,
                            choices=f.metadata.get("choices"), dest=f.name)


def from_args(cls, args: argparse.Namespace, **override):
    """An instance of ``cls`` from parsed flags (fields absent from ``args`` keep defaults)."""
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**kw, **override})
