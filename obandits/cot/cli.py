"""``obandits cot ...`` and ``obandits cot-experiments``: the Spec 2 §4 experiments, each a sweep
of the cot runner (``experiments/cot/{paper,forgetting,sensitivity,bonuses}.toml``) into
``--out/NAME`` (resumable: tidy CSV per cell, ``results.csv``, manifest), then its summary
(``summary.md``), claims (``checks.md``) and figures, all from the data files.

Every flag is generated from a config dataclass (:mod:`obandits.options`): the cell parameters
from :class:`~obandits.cot.chain.ChainConfig`, :class:`~obandits.cot.learner.PretrainConfig`,
:class:`~obandits.cot.posttrain.RLConfig`, :class:`~obandits.bonuses.BonusConfig`,
:class:`~obandits.cot.select.SelectConfig` and
:class:`~obandits.cot.experiments.ExperimentConfig` (a flag given sets that parameter in the
sweep's ``[fixed]`` table; the experiment's own grid axes keep their values), the run options
from :class:`~obandits.sweep.SweepOptions` and :class:`CotOptions`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..options import add_arguments, from_args, option
from ..resources import path as package_path

EXPERIMENTS = ("paper", "forgetting", "sensitivity", "bonuses")
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = package_path("experiments/cot")  # package data (obandits.resources)
REFERENCE_RESULTS = CONFIGS / "results"
REFERENCE_FIGURES = ROOT / "figures"
# the headline figure of each experiment: name in its sweep directory -> published name
HEADLINE = {"paper": {"cot_coverage.png": "cot_coverage.png"},
            "forgetting": {"cot_forgetting.png": "cot_forgetting.png"},
            "sensitivity": {"cot_sensitivity.png": "cot_sensitivity.png"},
            "bonuses": {"cot_forgetting.png": "cot_bonuses.png"}}
# files of a sweep directory that make up the committed reference results (enough for
# `obandits plot` / `obandits check`)
REFERENCE_FILES = ("results.csv", "manifest.json", "summary.md", "checks.md", "checks.csv")
DESCRIPTION = ("Runs experiments/cot/NAME.toml as a sweep into --out/NAME. A cell-parameter "
               "flag sets that parameter in the sweep's [fixed] table (the experiment's own "
               "grid axes keep their values); without it, the TOML's value or the paper's "
               "default (shown) holds.")
SMALL_GRID = {"eps": [0.1, 0.4], "kl_beta": [1.0], "reject": [5], "L": [3, 4]}


@dataclass(frozen=True)
class CotOptions:
    """What ``obandits cot`` writes besides the sweeps (whose own options, ``--out`` among
    them, are :class:`obandits.sweep.SweepOptions`)."""

    figures: str | None = option(None, "folder for the headline figures (default: --out)")
    reference: bool = option(False, "refresh the committed reference results "
                                    "(experiments/cot/results/NAME) and figures (figures/)")
    no_figures: bool = option(False, "no figures")
    small_grid: bool = option(False, "sensitivity on a small grid (eps 0.1, 0.4; L 3, 4)")
    preset: str | None = option(None, "paper only: Bu et al.'s own setting and table instead "
                                      "(obandits.cot.bu2025.preset.cli_preset: cell flags set "
                                      "their counterparts or are refused; --reps = runs per "
                                      "seed)", choices=("bu2025",))
    seeds: str | None = option(None, "--preset only: their --seed values, e.g. 0-11,13,21 "
                                     "(default: the seeds of the committed runs of their "
                                     "script)")
    authors_csv: str | None = option(None, "--preset only: runs of their script to compare "
                                           "with (the authors.csv of `python -m "
                                           "obandits.cot.bu2025 authors LOGDIR OUTDIR`; "
                                           "default: the committed runs)")


DEFAULT_OUT = "runs/cot"


def _param_flags() -> list[tuple[str, list]]:
    """The cell-parameter flags by group: one per cell parameter that is a config dataclass
    field (names as the TOML keys of :mod:`.runner`)."""
    from ..bonuses import BonusConfig
    from ..options import Flag
    from .chain import ChainConfig
    from .experiments import ExperimentConfig
    from .learner import PretrainConfig
    from .posttrain import RLConfig
    from .runner import (
        BONUS_KEYS,
        CHAIN_KEYS,
        EXPERIMENT_KEYS,
        PRETRAIN_KEYS,
        RL_KEYS,
        SELECT_KEYS,
    )
    from .select import SelectConfig

    return [
        ("chain (Spec 2 §1)", [Flag(ChainConfig, k) for k in CHAIN_KEYS]),
        ("pretraining", [Flag(PretrainConfig, k) for k in PRETRAIN_KEYS]),
        ("post-training", [Flag(RLConfig, k) for k in RL_KEYS]),
        ("outcome bonus (bonus methods)", [Flag(BonusConfig, k) for k in BONUS_KEYS]),
        ("selection rules", [Flag(SelectConfig, f, dest=k) for k, f in SELECT_KEYS.items()]),
        ("experiment", [Flag(ExperimentConfig, k)
                        for k in (*EXPERIMENT_KEYS, "reps", "root_seed")]),
    ]


def _param_groups(p: argparse.ArgumentParser) -> list[str]:
    """Add the cell-parameter flags; only those given override the config (their defaults,
    shown in the help, are the dataclasses'); returns their dests."""
    from ..options import add_flags
    from .runner import HELP

    dests = []
    for title, flags in _param_flags():
        dests += add_flags(p, flags, title=title)
    for a in p._actions:
        if a.dest in dests:
            if not a.help or a.help.startswith(" (default"):
                a.help = HELP.get(a.dest, "") + (a.help or "")
            a.default = argparse.SUPPRESS  # absent from the namespace unless given
    return dests


def sweep_dict(name: str, overrides: dict, small_grid: bool = False) -> dict:
    """The sweep config of experiment ``name`` (``experiments/cot/NAME.toml``) with the given
    cell parameters in ``[fixed]`` (``reps`` / ``root_seed`` in ``[sweep]``)."""
    import tomllib

    path = CONFIGS / f"{name}.toml"
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    ov = dict(overrides)
    for k in ("reps", "root_seed"):
        if k in ov:
            raw["sweep"][k] = ov.pop(k)
    raw["fixed"] = {**raw.get("fixed", {}), **ov}
    if small_grid:
        for g in raw["grid"]:
            for k, vals in SMALL_GRID.items():
                if isinstance(g.get(k), list):
                    g[k] = vals
    return raw


def _copy_headline(name: str, sweep_dir: Path, fig_dir: Path) -> list[Path]:
    import shutil

    out = []
    for src, dst in HEADLINE[name].items():
        if (sweep_dir / src).exists():
            fig_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sweep_dir / src, fig_dir / dst)
            out.append(fig_dir / dst)
    return out


def run_experiment(name: str, overrides: dict, opts, sweep_opts) -> str:
    """Run (or resume) one experiment's sweep into ``sweep_opts.out/name``; write its summary,
    claims and figures from the data files; returns the summary and claims (markdown)."""
    from ..results import atomic_write
    from ..sweep import check_dir, config_from_dict, finished, run_sweep
    from .runner import RUNNER

    raw = sweep_dict(name, overrides, opts.small_grid)
    cfg = config_from_dict(raw, f"obandits cot {name}")
    out = Path(sweep_opts.out or DEFAULT_OUT) / name
    run_sweep(cfg, out, **sweep_opts.run_kwargs())
    _, _, table = finished(out)
    text = RUNNER.summarise(table, raw)
    atomic_write(out / "summary.md", text + "\n")
    _, claims = check_dir(out)
    if not opts.no_figures:
        RUNNER.figures(table, raw, out)
        for p in _copy_headline(name, out, Path(opts.figures or sweep_opts.out or DEFAULT_OUT)):
            print(p)
    return text + "\n\n" + claims


def _publish(name: str, out: Path) -> None:
    """Copy a reference sweep's data files, summary and claims to experiments/cot/results."""
    import shutil

    dst = REFERENCE_RESULTS / name
    dst.mkdir(parents=True, exist_ok=True)
    for f in REFERENCE_FILES:
        if (out / f).exists():
            shutil.copyfile(out / f, dst / f)


def _run(names, args) -> int:
    import time
    from dataclasses import replace

    from ..sweep import SweepOptions

    opts = from_args(CotOptions, args)
    if opts.preset is not None:
        if tuple(names) != ("paper",):
            raise ValueError(f"--preset {opts.preset} applies to 'obandits cot paper' only")
        from .bu2025.preset import cli_preset

        return cli_preset(args)
    for flag, value in (("--seeds", opts.seeds), ("--authors-csv", opts.authors_csv)):
        if value is not None:
            raise ValueError(f"{flag} applies to --preset bu2025 only (the cot experiments "
                             f"take --reps and --root-seed)")
    sweep_opts = from_args(SweepOptions, args)
    overrides = {k: getattr(args, k) for k in args.param_dests if hasattr(args, k)}
    if opts.reference:
        opts = replace(opts, figures=str(REFERENCE_FIGURES))
        sweep_opts = replace(sweep_opts, out="runs/cot-reference")
    out = sweep_opts.out or DEFAULT_OUT
    t0 = time.time()
    for name in names:
        print(f"\n== cot {name} ==", flush=True)
        print(run_experiment(name, overrides, opts, sweep_opts), flush=True)
        if opts.reference:
            _publish(name, Path(out) / name)
    print(f"\ncot: {', '.join(names)} done in {time.time() - t0:.1f} s; sweeps in {out}"
          + ("" if opts.no_figures else f", figures in {opts.figures or out}")
          + (f", reference results in {REFERENCE_RESULTS}" if opts.reference else ""))
    return 0


def _add_options(p) -> None:
    from ..sweep import SweepOptions

    p.set_defaults(param_dests=_param_groups(p))
    add_arguments(p, CotOptions, title="output")
    add_arguments(p, SweepOptions, title="how the sweeps run")
    for a in p._actions:
        if a.dest == "out":
            a.help = f"results folder: one sweep directory per experiment (default {DEFAULT_OUT})"


def register(sub) -> None:
    p = sub.add_parser("cot", help="Spec 2: rare-CoT forgetting on a tree Markov chain",
                       description=DESCRIPTION)
    p.add_argument("experiment", choices=EXPERIMENTS + ("all",),
                   help="paper (a) | forgetting (b) | sensitivity (c) | bonuses (d) | all")
    _add_options(p)
    p.set_defaults(func=lambda a: _run(EXPERIMENTS if a.experiment == "all"
                                       else (a.experiment,), a))
    p = sub.add_parser("cot-experiments", help="Spec 2: all four tree-chain experiments",
                       description=DESCRIPTION)
    _add_options(p)
    p.set_defaults(func=lambda a: _run(EXPERIMENTS, a))
