"""``obandits llm train|plot|compare`` (and ``python -m llm_bridge.cli``): the LLM bridge's one
command line. torch is imported only by the subcommand that needs it.

Flags are generated from config dataclasses (the pattern of TRL's ``HfArgumentParser``): each
field gives one flag ``--field-name`` with the field's default, its help (the field's
``metadata["help"]``, else the ``Attributes:`` entry of the class docstring) and its type;
booleans get ``--x / --no-x``; nested dataclass fields (``TrainConfig.bonus``, a
:class:`obandits.bonuses.BonusConfig`) are flattened into a group of their own and rebuilt as
one object, so names, defaults, help and validation live in the dataclasses only.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import traceback
import typing
from collections.abc import Callable, Sequence

COMMANDS = {"train": "llm_bridge.train:main", "plot": "llm_bridge.plot:main",
            "compare": "llm_bridge.compare:main"}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``prog: error: ...``), exit status 2, and
    which takes no abbreviated flags (``--beta`` silently meant ``--beta-kl``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _docstring_help(cls) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Attributes:`` section, joined per field."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    out: dict[str, str] = {}
    name = None
    for line in doc.split("Attributes:", 1)[1].splitlines():
        m = re.match(r"\s{4,}(\w+): (.*)", line)
        if m and (name is None or len(line) - len(line.lstrip()) <= 8):
            name, text = m.group(1), m.group(2)
            out[name] = text
        elif name and line.strip():
            out[name] += " " + line.strip()
        elif not line.strip() and out:
            continue
    return {k: re.sub(r"``|\*\*", "", v) for k, v in out.items()}


def _fields(cls):
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated integers expected, got {text!r}") \
            from None


def _optional_str(text: str) -> str | None:
    return None if text.lower() in ("", "none") else text


def _arg_type(tp) -> Callable[[str], object]:
    if tp in (int, float, str):
        return tp
    if tp == tuple[int, ...]:
        return _int_tuple
    if tp == (str | None) or tp == typing.Optional[str]:  # noqa: UP045 (both spellings)
        return _optional_str
    raise TypeError(f"no command-line type for {tp!r}")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *,
                            choices: dict[str, Sequence] | None = None,
                            types: dict[str, Callable] | None = None,
                            aliases: dict[str, Sequence[str]] | None = None,
                            title: str | None = None, _seen: set | None = None) -> None:
    """Add one flag per field of ``cls`` (recursively for dataclass-typed fields)."""
    choices, types, aliases = choices or {}, types or {}, aliases or {}
    seen = set() if _seen is None else _seen
    doc = _docstring_help(cls)
    group = parser.add_argument_group(title) if title else parser
    nested = []
    for f, tp in _fields(cls):
        if dataclasses.is_dataclass(tp):
            nested.append((f, tp))
            continue
        if f.name in seen:
            raise TypeError(f"flag --{f.name} would be defined twice ({cls.__name__})")
        seen.add(f.name)
        flag = "--" + f.name.replace("_", "-")
        names = [flag, *aliases.get(f.name, ())]
        help_ = f.metadata.get("help") or doc.get(f.name) or ""
        default = _default(f)
        if tp is bool:
            group.add_argument(*names, dest=f.name, default=default,
                               action=argparse.BooleanOptionalAction, help=help_)
            continue
        kind = types.get(f.name) or _arg_type(tp)
        allowed = choices.get(f.name) or f.metadata.get("choices")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(*names, dest=f.name, type=kind, default=default, choices=allowed,
                           metavar=None if allowed else f.name.upper(),
                           help=f"{help_} (default: {shown})")
    for f, tp in nested:
        title = f.metadata.get("help") or f.name
        add_dataclass_arguments(parser, tp, choices=choices, types=types, aliases=aliases,
                                title=f"{f.name}: {title}", _seen=seen)


def dataclass_from_args(cls, ns: argparse.Namespace | dict):
    """Rebuild ``cls`` (nested dataclasses included) from flat parsed values. A ValueError of
    the dataclass's validation is re-worded to name the flag (``--n-rollouts must be ...``)."""
    values = vars(ns) if isinstance(ns, argparse.Namespace) else ns
    kwargs = {}
    for f, tp in _fields(cls):
        kwargs[f.name] = (dataclass_from_args(tp, values) if dataclasses.is_dataclass(tp)
                          else values[f.name])
    try:
        return cls(**kwargs)
    except ValueError as exc:
        msg = str(exc)
        first = msg.split(" ", 1)[0]
        if first in kwargs:
            msg = "--" + first.replace("_", "-") + msg[len(first):]
        raise ValueError(msg) from None


def flatten(obj) -> dict:
    """The flat ``{flag dest: value}`` of a config dataclass (inverse of
    :func:`dataclass_from_args`); tuples become lists so the result is JSON-comparable."""
    out = {}
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        if dataclasses.is_dataclass(val):
            out.update(flatten(val))
        else:
            out[f.name] = list(val) if isinstance(val, tuple) else val
    return out


def _load(target: str):
    import importlib

    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ValueError(f"{module} is not installed in this checkout (the compare command "
                         f"comes with the TRL adapter)") from None
    return getattr(mod, attr)


def main(argv: list[str] | None = None) -> int:
    """``train | plot | compare`` followed by that command's own flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    usage = ("usage: obandits llm {train,plot,compare} [--debug] ...\n"
             "  train    GRPO + exploration bonus on a causal LM (python -m llm_bridge.train)\n"
             "  plot     curves of one or several runs' log.jsonl\n"
             "  compare  methods side by side (TRL adapter)\n"
             "  --debug  show tracebacks instead of one-line errors\n")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, end="")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"obandits llm: error: unknown command {cmd!r}; choose from "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        func = _load(COMMANDS[cmd])
        return int(func(rest + (["--debug"] if debug and cmd in ("train", "plot") else [])) or 0)
    except (ValueError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"obandits llm {cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
