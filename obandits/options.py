"""Config dataclasses as the single source of names, defaults and help: command-line flags are
generated from their fields (``--max-cells`` from ``max_cells``, stored under ``max_cells``,
the name a TOML key has), so a default or a help text is written once.

A field's help is its ``metadata["help"]`` (see :func:`option`), else its entry in the
``Attributes:`` section of the class docstring; ``metadata["choices"]`` limits its values.
Only the standard library is imported here (``obandits --help`` stays fast).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass

_MISSING = dataclasses.MISSING
_UNSET = object()  # Flag.default not given: the field's


def option(default, help: str, **extra):
    """A dataclass field with its help text (and e.g. ``choices=``) for the generated flag."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def docstring_help(cls) -> dict[str, str]:
    """``{field: text}`` from the ``Attributes:`` section of ``cls``'s docstring (Google style:
    ``name: text`` indented under it, continuation lines indented further)."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    entries: dict[str, list[str]] = {}
    indent, name = None, None
    for line in doc.split("Attributes:", 1)[1].splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        m = re.match(r"\s*(\w+)(?: \([^)]*\))?: (.*)", line)
        if m and (indent is None or depth <= indent):
            indent, name = depth, m[1]
            entries[name] = [m[2]]
        elif name is not None and depth > (indent or 0):
            entries[name].append(line.strip())
        else:  # dedented below the section: it has ended
            break
    return {k: re.sub(r"\*\*([^*]+)\*\*", r"\1", " ".join(v).replace("``", ""))
            for k, v in entries.items()}


def field_help(cls, name: str) -> str:
    """The help of field ``name`` of dataclass ``cls`` (metadata, else docstring, else '')."""
    f = {x.name: x for x in dataclasses.fields(cls)}[name]
    return f.metadata.get("help") or docstring_help(cls).get(name, "")


def _default(f: dataclasses.Field):
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return None


def _base(tp):
    """``int`` for ``int | None`` (the flag's type)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _scalar(tp, name: str):
    def parse(text: str):
        try:
            return tp(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {tp.__name__}, got {text!r}") from None
    parse.__name__ = tp.__name__  # argparse names the type in its messages
    return parse


def comma_list(item, name: str, *, as_tuple: bool = False, single: bool = False):
    """A flag type: ``"a,b"`` -> ``[a, b]`` of ``item`` values (a tuple if ``as_tuple``; a
    lone value stays a scalar if ``single``, as a TOML key holds a value or a list)."""
    one = _scalar(item, name)

    def parse(text: str):
        vals = [one(x.strip()) for x in text.split(",") if x.strip()]
        if not vals:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        if single and len(vals) == 1 and "," not in text:
            return vals[0]
        return tuple(vals) if as_tuple else vals
    parse.__name__ = f"comma-separated {item.__name__} list"
    return parse


@dataclass(frozen=True)
class Flag:
    """One generated flag: field ``field`` of dataclass ``cls``, stored as ``dest`` (default:
    the field's name) with ``default`` (default: the field's)."""

    cls: type
    field: str
    dest: str | None = None
    default: object = _UNSET
    aliases: tuple[str, ...] = ()


def add_flags(parser, flags: Iterable[Flag], *, lists: bool = False, title: str | None = None
              ) -> list[str]:
    """Add ``flags`` to ``parser`` (or to an argument group ``title``); returns their dests.

    Types come from the field annotations: ``bool`` gives a switch (``--x`` / ``--no-x`` when
    the default is True), ``tuple[T, ...]`` a comma-separated list, ``T | None`` a ``T``. With
    ``lists`` a scalar field also takes ``a,b,c`` (a list of values: a grid axis, as a list
    in a TOML ``[fixed]`` table)."""
    group = parser.add_argument_group(title) if title else parser
    dests = []
    for fl in flags:
        hints = typing.get_type_hints(fl.cls)
        f = {x.name: x for x in dataclasses.fields(fl.cls)}[fl.field]
        dest = fl.dest or f.name
        names = ["--" + dest.replace("_", "-"), *fl.aliases]
        default = _default(f) if fl.default is _UNSET else fl.default
        text = field_help(fl.cls, f.name)
        tp = _base(hints[f.name])
        dests.append(dest)
        if tp is bool:
            group.add_argument(*names, dest=dest, default=default, help=text,
                               action=argparse.BooleanOptionalAction if default else
                               "store_true")
            continue
        if typing.get_origin(tp) is tuple:
            kind = comma_list(typing.get_args(tp)[0], dest, as_tuple=True)
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        elif lists and tp in (int, float, str):
            kind, shown = comma_list(tp, dest, single=True), default
        else:
            kind, shown = _scalar(tp, dest), default
        if default is not None and "default" not in text:
            text += f" (default {shown:g})" if isinstance(shown, float) else \
                f" (default {shown})"
        choices = None if lists else f.metadata.get("choices")
        group.add_argument(*names, type=kind, default=default, help=text, dest=dest,
                           choices=choices, metavar=None if choices else dest.upper())
    return dests


def add_arguments(parser: argparse.ArgumentParser, cls, skip=(), *, only=None,
                  aliases: dict[str, tuple[str, ...]] | None = None,
                  title: str | None = None) -> list[str]:
    """One ``--flag`` per field of dataclass ``cls`` (except ``skip``; only ``only`` when
    given), ``aliases`` giving older spellings; returns the dests."""
    aliases = aliases or {}
    return add_flags(parser, [Flag(cls, f.name, aliases=tuple(aliases.get(f.name, ())))
                              for f in dataclasses.fields(cls)
                              if f.name not in skip and (only is None or f.name in only)],
                     title=title)


def from_args(cls, args: argparse.Namespace, **override):
    """An instance of ``cls`` from parsed flags (fields absent from ``args`` keep defaults)."""
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**kw, **override})
