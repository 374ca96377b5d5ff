"""Config dataclasses as the single source of names, defaults and help: command-line flags are
generated from their fields (``--max-cells`` from ``max_cells``, stored under ``max_cells``,
the name a TOML key has), so a default or a help text is written once.

A field's help is its ``metadata["help"]`` (see :func:`option`), else its entry in the
``Attributes:`` section of the class docstring; ``metadata["choices"]`` limits its values.
Fields typed as a dataclass (``TrainConfig.bonus``, a ``BonusConfig``) are flattened: each
nested field is a flag under its own name (no prefix; a name defined twice is refused), in an
argument group of its own, and :func:`from_args` rebuilds the nested object. One module for
every command line (``obandits ...`` and ``obandits llm ...``). Only the standard library is
imported here (``obandits --help`` stays fast).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_MISSING = dataclasses.MISSING
_UNSET = object()  # Flag.default not given: the field's
_PLURAL = {"int": "integers", "float": "numbers", "str": "strings"}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``prog: error: ...``, exit status 2) and which
    takes no abbreviated flags (``--beta`` silently meant ``--beta-kl``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
            raise argparse.ArgumentTypeError(
                f"expected {tp.__name__}, got {text!r}") from None
    parse.__name__ = tp.__name__  # argparse names the type in its messages
    return parse


def optional_str(text: str) -> str | None:
    """A flag type for ``str | None`` fields: ``none`` or an empty value give None."""
    return None if text.lower() in ("", "none") else text


def comma_list(item, name: str, *, as_tuple: bool = False, single: bool = False):
    """A flag type: ``"a,b"`` -> ``[a, b]`` of ``item`` values (a tuple if ``as_tuple``; a
    lone value stays a scalar if ``single``, as a TOML key holds a value or a list)."""
    one = _scalar(item, name)

    def parse(text: str):
        if single and "," not in text:
            return one(text.strip())
        items = [x.strip() for x in text.split(",")]
        try:  # an empty item ("0,,1", "1,") is refused, never dropped
            vals = [item(x) for x in items] if all(items) else []
        except ValueError:
            vals = []
        if not vals:
            raise argparse.ArgumentTypeError(
                f"comma-separated {_PLURAL.get(item.__name__, item.__name__)} expected, "
                f"got {text!r}")
        return tuple(vals) if as_tuple else vals
    parse.__name__ = f"comma-separated {item.__name__} list"
    return parse


@dataclass(frozen=True)
class Flag:
    """One generated flag: field ``field`` of dataclass ``cls``, stored as ``dest`` (default:
    the field's name) with ``default`` (default: the field's); ``choices`` and ``kind`` (the
    parse function) replace the field's metadata and annotation when given."""

    cls: type
    field: str
    dest: str | None = None
    default: object = _UNSET
    aliases: tuple[str, ...] = ()
    choices: tuple | None = None
    kind: typing.Callable | None = None


def _flag_type(tp, dest: str, lists: bool):
    """(parse function, how the default is shown) for annotation ``tp``."""
    if typing.get_origin(tp) is tuple:
        return comma_list(typing.get_args(tp)[0], dest, as_tuple=True)
    if lists and tp in (int, float, str):
        return comma_list(tp, dest, single=True)
    return _scalar(tp, dest)


def add_flags(parser, flags: Iterable[Flag], *, lists: bool = False, title: str | None = None
              ) -> list[str]:
    """Add ``flags`` to ``parser`` (or to an argument group ``title``); returns their dests.

    Types come from the field annotations: ``bool`` gives a switch ``--x`` / ``--no-x`` (only
    ``--x`` for a field named ``no_...``), ``tuple[T, ...]`` a comma-separated list, ``T |
    None`` a ``T`` (``str | None`` takes ``none``). With ``lists`` a scalar field also takes
    ``a,b,c`` (a list of values: a grid axis, as a list in a TOML ``[fixed]`` table)."""
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
                               action="store_true" if dest.startswith("no_") else
                               argparse.BooleanOptionalAction)
            continue
        if fl.kind is not None:
            kind = fl.kind
        elif tp is str and hints[f.name] is not str:
            kind = optional_str
        else:
            kind = _flag_type(tp, dest, lists)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if default is not None and "default:" not in text and "(default" not in text:
            text += f" (default: {shown})"
        choices = None if lists else (fl.choices or f.metadata.get("choices"))
        required = fl.default is _UNSET and f.default is _MISSING and \
            f.default_factory is _MISSING  # a field without a default: a required flag
        group.add_argument(*names, type=kind, default=default, help=text, dest=dest,
                           choices=choices, metavar=None if choices else dest.upper(),
                           required=required)
    return dests


def add_arguments(parser: argparse.ArgumentParser, cls, skip=(), *, only=None,
                  aliases: dict[str, Sequence[str]] | None = None,
                  choices: dict[str, Sequence] | None = None,
                  types: dict[str, typing.Callable] | None = None,
                  title: str | None = None, _seen: set | None = None) -> list[str]:
    """One ``--flag`` per field of dataclass ``cls`` (except ``skip``; only ``only`` when
    given), ``aliases`` giving older spellings, ``choices`` / ``types`` overriding a field's
    allowed values / parse function; returns the dests. A dataclass-typed field is flattened
    into its own group titled ``name: help`` (its fields keep their names; one name defined
    twice is a TypeError)."""
    aliases, choices, types = aliases or {}, choices or {}, types or {}
    seen = set() if _seen is None else _seen
    hints = typing.get_type_hints(cls)
    flat, nested = [], []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip or (only is not None and f.name not in only):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            nested.append(f)
            continue
        if f.name in seen:
            raise TypeError(f"flag --{f.name} would be defined twice ({cls.__name__})")
        seen.add(f.name)
        flat.append(Flag(cls, f.name, aliases=tuple(aliases.get(f.name, ())),
                         choices=tuple(choices[f.name]) if f.name in choices else None,
                         kind=types.get(f.name)))
    dests = add_flags(parser, flat, title=title)
    for f in nested:
        dests += add_arguments(parser, hints[f.name], skip, only=only, aliases=aliases,
                               choices=choices, types=types, _seen=seen,
                               title=f"{f.name}: {f.metadata.get('help') or f.name}")
    return dests


def from_args(cls, args: argparse.Namespace | dict, *, flag_errors: bool = False, **override):
    """An instance of ``cls`` from parsed flags (a Namespace or a dict): fields absent from
    ``args`` keep their defaults, dataclass-typed fields are rebuilt from the same flat values.
    With ``flag_errors`` a ValueError of the dataclass's validation that starts with a field
    name is re-worded to name the flag (``--n-rollouts must be ...``)."""
    values = vars(args) if isinstance(args, argparse.Namespace) else args
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if dataclasses.is_dataclass(hints[f.name]) and f.name not in values:
            kw[f.name] = from_args(hints[f.name], values, flag_errors=flag_errors)
        elif f.name in values:
            kw[f.name] = values[f.name]
    kw.update(override)
    try:
        return cls(**kw)
    except ValueError as exc:
        msg = str(exc)
        first = msg.split(" ", 1)[0]
        if not flag_errors or first not in kw:
            raise
        raise ValueError("--" + first.replace("_", "-") + msg[len(first):]) from None


def flatten(obj) -> dict:
    """The flat ``{flag dest: value}`` of a config dataclass instance (inverse of
    :func:`from_args`); tuples become lists so the result is JSON-comparable."""
    out = {}
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        if dataclasses.is_dataclass(val):
            out.update(flatten(val))
        else:
            out[f.name] = list(val) if isinstance(val, tuple) else val
    return out
