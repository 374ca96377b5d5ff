"""``obandits bandit-check RESULTS_DIR`` (claims of issue 3 from a finished sweep) and
``obandits bandit-run CONFIG`` (sweep + checks + figure in one go). Flags are generated from
:class:`obandits.sweep.SweepOptions` and :class:`RunOptions` (:mod:`obandits.options`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import add_arguments, from_args, option


@dataclass(frozen=True)
class RunOptions:
    """What ``obandits bandit-run`` writes besides the sweep directory."""

    figure: str | None = option(None, "also copy the figure here (e.g. "
                                      "figures/bandit_theorems.png)")


def _cmd_check(args) -> int:
    from .experiment import write_checks

    text = write_checks(Path(args.results))
    print(text)
    print(f"\nwritten: {Path(args.results) / 'minimax.csv'}, {Path(args.results) / 'checks.csv'}")
    return 0


def _cmd_run(args) -> int:
    from ..sweep import SweepOptions
    from .experiment import run_config

    opts = from_args(SweepOptions, args)
    run_config(args.config, opts.out, figure=args.figure, **opts.run_kwargs())
    return 0


def register(sub) -> None:
    from ..sweep import SweepOptions

    p = sub.add_parser("bandit-check", help="minimax-proxy table and the Thm 4.1/4.2 claims "
                       "of a finished bandit sweep")
    p.add_argument("results", help="the sweep's output directory")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("bandit-run", help="bandit sweep + checks + figure (resumable)")
    p.add_argument("config", help="TOML config, e.g. experiments/bandit/theorems.toml")
    add_arguments(p, SweepOptions)
    add_arguments(p, RunOptions)
    p.set_defaults(func=_cmd_run)
