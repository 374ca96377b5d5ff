"""The ``obandits`` command.

Subcommands live next to the code they drive: each module in ``COMMAND_MODULES`` defines
``register(subparsers)``, adding its parsers with a ``func`` default. ``obandits main`` runs the
headline job (the README's first command): every step in ``MAIN_STEPS``, in order.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES: list[str] = ["obandits.sweep", "obandits.bandit.cli", "obandits.rlsim.cli",
                              "obandits.cot.cli"]
# (title, module, function): the headline job, each a callable taking no arguments.
MAIN_STEPS: list[tuple[str, str, str]] = [
    ("bonus demo", "obandits.demo", "run"),
    ("bandit theorem check (reduced sweep)", "obandits.bandit.experiment", "run_reduced"),
    ("rlsim: GRPO + outcome bonuses vs base sampling", "obandits.rlsim.cli", "headline"),
    ("cot: rare-CoT forgetting, paper table (a)", "obandits.cot.cli", "headline"),
]


def _cmd_demo(args) -> int:
    from .demo import run

    run(c=args.c, b0=args.b0)
    return 0


def _cmd_main(args) -> int:
    for title, module, func in MAIN_STEPS:
        print(f"\n=== obandits main: {title} ===\n", flush=True)
        getattr(importlib.import_module(module), func)()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obandits", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="shaped advantages of every bonus on one example group")
    p.add_argument("--c", type=float, default=0.2, help="bonus scale c (default 0.2)")
    p.add_argument("--b0", type=float, default=0.5, help="UCB-Con baseline b0 (default 0.5)")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("main", help="the headline job (README): " +
                       ", ".join(t for t, _, _ in MAIN_STEPS))
    p.set_defaults(func=_cmd_main)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"obandits: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
