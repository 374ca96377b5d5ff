"""``obandits llm train|plot|compare`` (and ``python -m llm_bridge.cli``): the LLM bridge's one
command line. torch is imported only by the subcommand that needs it.

Flags are generated from config dataclasses (the pattern of TRL's ``HfArgumentParser``): each
field gives one flag ``--field-name`` with the field's default, its help (the field's
``metadata["help"]``, else the ``Attributes:`` entry of the class docstring) and its type;
booleans get ``--x / --no-x``; nested dataclass fields (``TrainConfig.bonus``, a
:class:`obandits.bonuses.BonusConfig`) are flattened into a group of their own and rebuilt as
one object, so names, defaults, help and validation live in the dataclasses only. The
generator is :mod:`obandits.options`, the same one every ``obandits`` command uses.
"""

from __future__ import annotations

import argparse
import sys
import traceback

# The one flag generator (obandits.options, standard library only); re-exported for
# llm_bridge.train and the tests.
from obandits.options import (  # noqa: F401
    OneLineParser,
    add_arguments,
    flatten,
    from_args,
)
from obandits.options import docstring_help as _docstring_help  # noqa: F401

COMMANDS = {"train": "llm_bridge.train:main", "plot": "llm_bridge.plot:main",
            "compare": "llm_bridge.compare:main"}


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, **kw) -> list[str]:
    """One flag per field of ``cls``, nested dataclasses flattened (:func:`add_arguments`)."""
    return add_arguments(parser, cls, **kw)


def dataclass_from_args(cls, ns: argparse.Namespace | dict):
    """``cls`` rebuilt from flat parsed values; a validation error names the flag."""
    return from_args(cls, ns, flag_errors=True)


# the extra a missing top-level module comes with (anything else: llm)
EXTRAS = {"trl": "trl", "datasets": "trl"}


def _load(target: str):
    import importlib

    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # a dependency of an optional extra
            missing = (exc.name or "?").split(".")[0]
            extra = EXTRAS.get(missing, "llm")
            raise ValueError(f"{module} needs {missing!r}, which comes with the {extra} "
                             f"extra: pip install 'obandits[{extra}]'") from None
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
