"""``obandits bandit-check RESULTS_DIR`` (claims of issue 3 from a finished sweep) and
``obandits bandit-run CONFIG`` (sweep + checks + figure in one go)."""

from __future__ import annotations

from pathlib import Path


def _cmd_check(args) -> int:
    from .experiment import write_checks

    text = write_checks(Path(args.results))
    print(text)
    print(f"\nwritten: {Path(args.results) / 'minimax.csv'}, {Path(args.results) / 'checks.csv'}")
    return 0


def _cmd_run(args) -> int:
    from .experiment import run_config

    run_config(args.config, args.out, workers=args.workers, figure=args.figure, yes=args.yes)
    return 0


def register(sub) -> None:
    p = sub.add_parser("bandit-check", help="minimax-proxy table and the Thm 4.1/4.2 claims "
                       "of a finished bandit sweep")
    p.add_argument("results", help="the sweep's output directory")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("bandit-run", help="bandit sweep + checks + figure (resumable)")
    p.add_argument("config", help="TOML config, e.g. experiments/bandit/theorems.toml")
    p.add_argument("--out", help="output directory (default runs/<sweep name>)")
    p.add_argument("--workers", type=int, default=None, help="processes (default all cores)")
    p.add_argument("--figure", help="also copy the figure here (e.g. figures/bandit_theorems.png)")
    p.add_argument("--yes", action="store_true", help="confirm a sweep above the size limits")
    p.set_defaults(func=_cmd_run)
