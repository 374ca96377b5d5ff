"""The ``obandits`` command.

Subcommands live next to the code they drive: each module in ``COMMANDS`` defines
``register(subparsers)``. Only the module of the command being run is imported (``obandits
--help`` stays fast and imports neither NumPy nor torch); ``obandits llm ...`` hands its
arguments to ``llm_bridge.cli:main``. ``obandits main`` runs the headline job (the README's
first command): every step in ``MAIN_STEPS``, into the git-ignored ``runs/main``, then a
summary table; ``obandits main --reference`` also refreshes the committed figures.

Errors a user can cause (bad input, paths that cannot be written, a failing cell) print one
line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .options import OneLineParser, add_arguments, option

# command -> (module that registers it, help for the listing)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("obandits.cli", "shaped advantages of every bonus on one example group"),
    "main": ("obandits.cli", "the headline job (README), into runs/main"),
    "sweep": ("obandits.sweep", "run a declarative TOML sweep (resumable)"),
    "plot": ("obandits.sweep", "figures of a finished sweep, from its data files"),
    "check": ("obandits.sweep", "summary and claims of a finished sweep, from its data files"),
    "bandit-check": ("obandits.bandit.cli", "minimax-proxy table and Thm 4.1/4.2 claims of a "
                     "finished bandit sweep"),
    "bandit-run": ("obandits.bandit.cli", "bandit sweep + checks + figure (resumable)"),
    "rlsim": ("obandits.rlsim.cli", "GRPO + outcome bonuses on a simulated policy"),
    "cot": ("obandits.cot.cli", "Spec 2: rare-CoT forgetting on a tree Markov chain"),
    "cot-experiments": ("obandits.cot.cli", "Spec 2: all four tree-chain experiments"),
    "llm": ("llm_bridge.cli", "LLM bridge: train | plot | compare (imports torch)"),
}
COMMAND_MODULES: list[str] = list(dict.fromkeys(m for m, _ in COMMANDS.values()
                                                if m not in ("obandits.cli", "llm_bridge.cli")))
RUNS = Path("runs")
# (title, function name in this module): the headline job; each takes (runs_dir, reference)
# and returns the output it wrote.
MAIN_STEPS: list[tuple[str, str]] = [
    ("bonus demo", "_step_demo"),
    ("bandit theorem check (reduced sweep)", "_step_bandit"),
    ("rlsim: GRPO + outcome bonuses vs base sampling", "_step_rlsim"),
    ("cot: rare-CoT forgetting, paper table (a)", "_step_cot"),
    ("cot: Bu et al.'s own table, their script's conventions (bu2025 preset)", "_step_bu2025"),
    ("cot-lm: a transformer trained through TRL beside the tabular learner", "_step_cot_lm"),
]
ROOT = Path(__file__).resolve().parents[1]


class UserError(Exception):
    """Raised for bad input that is not a ValueError (e.g. a missing optional component)."""


def _cmd_demo(args) -> int:
    from .demo import run

    run(c=args.c, b0=args.b0)
    return 0


# ---------------------------------------------------------------- the headline job

def _step_demo(runs: Path, reference: bool) -> str:
    from .demo import run
    from .results import atomic_write

    runs.mkdir(parents=True, exist_ok=True)
    atomic_write(runs / "demo.md", run() + "\n")
    return str(runs / "demo.md")


def _step_bandit(runs: Path, reference: bool) -> str:
    from .bandit.experiment import run_reduced

    run_reduced(reference=reference, runs=runs)
    return str(runs / "bandit-reduced")


# The headline sweeps of the simulators on the sweep engine (``--reference`` instead runs the
# simulators' own commands, which also refresh the committed reports and figures); configs
# shipped as package data (obandits.resources).
HEADLINE_SWEEPS = {"rlsim": "experiments/rlsim/compare.toml",
                   "cot": "experiments/cot/paper.toml",
                   "bu2025": "experiments/cot/bu2025.toml",
                   "cot-lm": "experiments/cot_lm/main.toml"}


def _run_sweep_step(conf: str, runs: Path) -> str:
    from .resources import path
    from .sweep import check_dir, load_config, plot_dir, run_sweep, summary

    cfg = load_config(path(conf))
    out = runs / cfg.name
    run_sweep(cfg, out)
    print(summary(cfg, out))
    for p in plot_dir(out):
        print(p)
    _, text = check_dir(out)  # the step's verdicts, in out/checks.md and checks.csv
    print("\n" + text)
    return str(out)


def _dispatch(argv: list[str]) -> None:
    rc = main(argv)
    if rc:
        raise UserError(f"obandits {' '.join(argv)} failed (exit {rc})")


def _step_rlsim(runs: Path, reference: bool) -> str:
    if reference:
        _dispatch(["rlsim", "compare", "--reference"])
        return "experiments/rlsim/results/compare.md"
    return _run_sweep_step(HEADLINE_SWEEPS["rlsim"], runs)


def _step_cot(runs: Path, reference: bool) -> str:
    if reference:
        _dispatch(["cot", "paper", "--reference"])
        return "experiments/cot/results"
    return _run_sweep_step(HEADLINE_SWEEPS["cot"], runs)


def _step_bu2025(runs: Path, reference: bool) -> str:
    if reference:
        _dispatch(["cot", "paper", "--preset", "bu2025", "--reference"])
        return "docs/bu2025.md"
    return _run_sweep_step(HEADLINE_SWEEPS["bu2025"], runs)


def _step_cot_lm(runs: Path, reference: bool) -> str:
    """The reduced forgetting run on a real network (issue 23): its verdicts (network and
    tabular, side by side) and its two figures; ``--reference`` copies the figures to
    ``figures/``."""
    import shutil

    out = Path(_run_sweep_step(HEADLINE_SWEEPS["cot-lm"], runs))  # prints its verdicts
    if reference:
        for name in ("cot_lm_pass.png", "cot_lm_rare_share.png"):
            shutil.copyfile(out / "figures" / name, ROOT / "figures" / name)
    return str(out)


def _cot_lm_missing() -> str | None:
    from llm_bridge.cot_lm.runner import missing_packages  # no torch imported

    missing = missing_packages()
    return (f"needs the trl extra (missing: {', '.join(missing)}): pip install "
            f"'obandits[trl]'") if missing else None


# Steps that need an optional extra: the full job skips them (one line) when it is missing;
# naming one in --steps runs it, and its one-line error names the extra.
OPTIONAL_STEPS = {"_step_cot_lm": _cot_lm_missing}


def _step_name(func: str) -> str:
    return func.removeprefix("_step_").replace("_", "-")


def _steps(text: str | None) -> list[tuple[str, str]]:
    """The MAIN_STEPS named in ``--steps a,b`` (all when None), in the job's order."""
    if text is None:
        return list(MAIN_STEPS)
    names = [_step_name(f) for _, f in MAIN_STEPS]
    wanted = [x.strip() for x in text.split(",")]
    bad = [x for x in wanted if x not in names]
    if bad or not all(wanted):
        raise ValueError(f"--steps must be comma-separated names from {', '.join(names)}, got "
                         f"{text!r}")
    return [s for s, n in zip(MAIN_STEPS, names) if n in wanted]


def _verdicts(step: str, where: str) -> list[list]:
    """Rows (step, claim, what, value, where, holds) of the ``checks.csv`` a step wrote in
    its folder (none when it wrote none)."""
    from .results import read_csv

    path = Path(where) / "checks.csv"
    if not path.is_file():
        return []
    header, body = read_csv(path)

    def get(r, k):
        return r[header.index(k)] if k in header else ""

    def value(text):
        try:
            return f"{float(text):.3g}"
        except ValueError:
            return text

    verdict = {"True": "yes", "False": "NO"}
    return [[step, get(r, "claim"), get(r, "text"), value(get(r, "value")), get(r, "where"),
             verdict.get(get(r, "holds"), "n/a")
             + (" (diagnostic)" if get(r, "role") == "diagnostic" else "")] for r in body]


def _cmd_main(args) -> int:
    from .tables import markdown_table

    runs = Path(args.runs)
    steps = _steps(args.steps)  # before anything runs
    rows, verdicts = [], []
    for title, func in steps:
        print(f"\n=== obandits main: {title} ===\n", flush=True)
        why = OPTIONAL_STEPS[func]() if args.steps is None and func in OPTIONAL_STEPS else None
        if why:
            print(f"skipped: this step {why}")
            rows.append([title, "--", f"skipped: {why}"])
            continue
        t0 = time.perf_counter()
        where = globals()[func](runs, args.reference)
        rows.append([title, f"{time.perf_counter() - t0:.1f}", where])
        verdicts += _verdicts(_step_name(func), where)
    print("\n=== obandits main: summary ===\n")
    print(markdown_table(["step", "seconds", "output"], rows))
    if verdicts:
        print("\nEvery verdict (each step's checks.md has its intervals and sources):\n")
        print(markdown_table(["step", "claim", "measured", "value", "where", "holds"],
                             verdicts))
    if args.reference:
        print("\nreference figures and results refreshed under figures/ and experiments/")
    return 0


# ---------------------------------------------------------------- parser and dispatch

@dataclass(frozen=True)
class MainOptions:
    """``obandits main``: where the headline job writes."""

    runs: str = option(str(RUNS / "main"), "output folder (git-ignored)")
    reference: bool = option(False, "also regenerate the committed reference figures and "
                                    "results (figures/, experiments/*/results)")
    steps: str | None = option(None, "comma-separated steps to run (default all): "
                                     "demo, bandit, rlsim, cot, bu2025, ...")


def _register_here(sub, command: str | None) -> None:
    p = sub.add_parser("demo", help=COMMANDS["demo"][1])
    if command == "demo":  # BonusConfig imports NumPy: only when the command runs
        from .bonuses import BonusConfig

        add_arguments(p, BonusConfig, only=("c", "b0"))
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("main", help=COMMANDS["main"][1] + ": " +
                       ", ".join(t for t, _ in MAIN_STEPS))
    add_arguments(p, MainOptions)
    p.set_defaults(func=_cmd_main)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (the others are listed by name)."""
    parser = OneLineParser(prog="obandits", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    loaded: set[str] = set()
    wanted = COMMANDS.get(command, (None,))[0]
    for name, (module, help_text) in COMMANDS.items():
        if module in loaded:
            continue
        if module == "obandits.cli":
            _register_here(sub, command)
            loaded.add(module)
        elif module != "llm_bridge.cli" and module == wanted:
            importlib.import_module(module).register(sub)
            loaded.add(module)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or exc}: {exc.filename}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _llm(argv: list[str]) -> int:
    try:
        mod = importlib.import_module("llm_bridge.cli")
    except ImportError as exc:
        raise UserError(f"the LLM bridge cannot be imported ({exc}); install the llm extra: "
                        f"pip install 'obandits[llm]'") from None
    return int(mod.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:argv.index("llm")] if "llm" in argv else "--debug" in argv
    command = next((a for a in argv if not a.startswith("-")), None)
    from .runners import CellFailed

    try:
        if command == "llm":
            return _llm(argv[argv.index("llm") + 1:])
        try:
            args = build_parser(command).parse_args(argv)
        except SystemExit as exc:  # a usage error (one line, printed) or --help
            return exc.code if isinstance(exc.code, int) else 2
        return int(args.func(args) or 0)
    except (ValueError, OSError, UserError, CellFailed) as exc:
        if debug:
            raise
        # bad input or an unwritable path: one clear line, no traceback
        print(f"obandits: error: {_one_line(exc)}", file=sys.stderr)
        return 1 if isinstance(exc, CellFailed) else 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("obandits: interrupted (finished cells are kept; rerun to resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
