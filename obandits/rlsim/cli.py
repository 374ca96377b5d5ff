"""``obandits rlsim ...``: the simulated RL experiments (Spec 1 §4).

* ``obandits rlsim compare`` -- 5 methods x reps + base sampling through the sweep engine
  (``experiments/rlsim/compare.toml`` with the options applied) into ``runs/rlsim-compare``:
  tidy CSV, claims C1-C4, figures (Figs. 2-6 analogues). ``--reference`` also refreshes the
  committed report and figures.
* ``obandits rlsim sensitivity`` -- the same over sharing strength x difficulty.
* ``obandits rlsim bandit`` -- GRPO learners' pseudo-regret on an outcome-bandit instance.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..bonuses import METHODS, BonusConfig
from ..options import Flag, add_arguments, add_flags, from_args, option
from ..sweep import SweepOptions
from .experiment import (
    BASE,
    ExperimentConfig,
    bandit_regret,
    needle_instance,
    reference_regret,
    regret_comparison,
)
from .model import ModelConfig
from .trainer import TrainConfig


def _cell_flags() -> list[Flag]:
    """One flag per parameter of an rlsim sweep cell, named as its TOML key (the runner's
    ``DEFAULTS``) and generated from the dataclass field it fills: the model's, the trainer's
    (``runner.TRAIN_KEYS``), the bonus's, the experiment's."""
    from . import runner

    exp = {"c", "b0", "early_frac"}
    flags = [Flag(ExperimentConfig, "methods", "method", METHODS, ("--methods",))]
    for key, default in runner.DEFAULTS.items():
        if key in runner.MODEL_KEYS:
            cls, name = ModelConfig, key
        elif key in runner.TRAIN_KEYS:
            cls, name = TrainConfig, key
        elif key in exp:
            cls, name = ExperimentConfig, key
        elif key in runner.BONUS_KEYS:
            cls, name = BonusConfig, key
        elif key == "ks":
            cls, name = TrainConfig, "ks"
        else:
            raise TypeError(f"rlsim parameter {key!r} has no config field for its flag")
        if name == "ks":  # a TOML string "1,4,32", as in the runner
            default = tuple(int(k) for k in str(default).split(","))
        flags.append(Flag(cls, name, key, default, _ALIASES.get(key, ())))
    return flags


# Older flag spellings, still accepted.
_ALIASES = {"batch_prompts": ("--batch",), "difficulty_mean": ("--difficulty",
                                                               "--difficulties"),
            "share": ("--shares",)}


@dataclass(frozen=True)
class SweepHead:
    """The ``[sweep]`` table of an rlsim sweep run from the command line."""

    reps: int = option(8, "repetitions (models x sampling streams)")
    root_seed: int = option(0, "root seed")


def _common(p: argparse.ArgumentParser, **defaults) -> None:
    add_arguments(p, SweepHead, title="sweep")
    dests = add_flags(p, _cell_flags(), lists=True,
                      title="cell parameters (TOML keys; a,b,c = a grid axis)")
    p.set_defaults(cell_keys=dests, **defaults)
    add_arguments(p, SweepOptions, title="how it runs")


def _cell_values(a) -> dict:
    """The cell parameters the flags set (lists are grid axes); ``ks`` as its TOML string."""
    vals = {k: getattr(a, k) for k in a.cell_keys}
    vals["ks"] = ",".join(map(str, vals["ks"]))
    return vals


def _write(path, text: str) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")


def sweep_dict(a, name: str) -> dict:
    """The sweep config (as a TOML dict) the command-line options describe: every method plus
    base sampling; parameters given as lists vary over the grid. ``batch_prompts`` is capped
    at ``n_train`` and ``n_evals`` at ``steps`` (small runs stay valid)."""
    from . import runner

    vals = _cell_values(a)
    methods = vals.pop("method")
    methods = [methods] if isinstance(methods, str) else list(methods)  # a tuple by default
    for k, cap in (("batch_prompts", "n_train"), ("n_evals", "steps")):
        if not isinstance(vals[k], list) and not isinstance(vals[cap], list):
            vals[k] = min(vals[k], vals[cap])
    fixed = {k: x for k, x in vals.items() if x != runner.DEFAULTS[k]}
    grid = {k: fixed.pop(k) for k in list(fixed) if isinstance(fixed[k], list)}
    return {"sweep": {"name": name, "runner": "rlsim", "root_seed": a.root_seed,
                      "reps": a.reps},
            "fixed": fixed,
            "grid": [{"method": [*dict.fromkeys([*methods, BASE])], **grid}]}


def _publish_data(sweep_dir: Path, dest: Path) -> Path:
    """Copy a finished sweep's data files (``results.csv``, ``manifest.json``) to ``dest``."""
    import shutil

    from ..results import MANIFEST, RESULTS

    dest.mkdir(parents=True, exist_ok=True)
    for name in (RESULTS, MANIFEST):
        shutil.copyfile(sweep_dir / name, dest / name)
    return dest / RESULTS


def run_through_engine(raw: dict, out, *, figures=None, report=None, **run_kw) -> str:
    """Run ``raw`` with :func:`obandits.sweep.run_sweep` into ``out`` (tidy CSV, manifest,
    resumable; ``run_kw`` as for run_sweep: ``workers``, ``progress``, ``executor`` ...), then
    print the claims report; figures go to ``out`` (or ``figures``) and the report also to
    ``report`` when given."""
    from ..results import read_table
    from ..sweep import config_from_dict, run_sweep
    from .runner import RUNNER

    cfg = config_from_dict(raw, "obandits rlsim")
    path = run_sweep(cfg, out, **run_kw)
    table = read_table(path)
    if report:
        # the committed report's data files go next to it, so `obandits check|plot` on that
        # folder regenerates it without rerunning
        path = _publish_data(Path(out), Path(report).with_suffix(""))
    text = f"# {raw['sweep']['name']}\n\ndata: {path}\n\n" + RUNNER.summarise(table, raw) + "\n"
    if figures is not False:
        for p in RUNNER.figures(table, raw, Path(figures or out)):
            text += f"\nfigure: {p}"
    print(text)
    _write(report, text)
    return text


def compare(*, out=None, figures=None, workers: int = 2, progress: bool = True) -> str:
    """The default comparison (``experiments/rlsim/compare.toml``: 5 methods x 8 reps + base)
    through the sweep engine. ``out``: a ``.md`` report path (the sweep data go next to it,
    in ``<stem>/``) or a sweep directory (default ``runs/rlsim-compare``)."""
    out = Path(out or "runs/rlsim-compare")
    report = out if out.suffix == ".md" else None
    data = out.with_suffix("") if report else out
    return run_through_engine(sweep_dict(_defaults(), "rlsim-compare"), data, workers=workers,
                              progress=progress, figures=figures, report=report)


def _defaults():
    p = argparse.ArgumentParser()
    _common(p)
    return p.parse_args([])


@dataclass(frozen=True)
class ReportOptions:
    """What an ``rlsim compare|sensitivity`` run writes besides its sweep directory."""

    reference: bool = option(False, "also refresh the committed report under "
                                     "experiments/rlsim/results and the figures under figures/ "
                                     "(default: only runs/)")
    no_figures: bool = option(False, "no figures")


def _run(a, name: str, figures=None) -> int:
    opts = from_args(SweepOptions, a)
    run_through_engine(
        sweep_dict(a, name), opts.out or f"runs/{name}", **opts.run_kwargs(),
        figures=False if a.no_figures else (figures if a.reference else None),
        report=f"experiments/rlsim/results/{name.split('-', 1)[1]}.md" if a.reference
        else None)
    return 0


def _cmd_compare(a) -> int:
    return _run(a, "rlsim-compare", figures="figures")


def _cmd_sensitivity(a) -> int:
    return _run(a, "rlsim-sensitivity")


@dataclass(frozen=True)
class NeedleOptions:
    """``obandits rlsim bandit``: GRPO learners on a needle instance (arguments of
    :func:`~obandits.rlsim.experiment.needle_instance` and
    :func:`~obandits.rlsim.experiment.bandit_regret`)."""

    K: int = option(64, "arms")
    m: int = option(4, "outcomes (mu = linspace(0.9, 0.1, m))")
    best_arms: int = option(1, "arms mapped to the best outcome (the needle)")
    horizon: int = option(4096, "pulls per repetition")
    n_rollouts: int = option(8, "arms pulled per GRPO step (group size)")
    lr: float = option(1.0, "step size of the policy logits")
    out: str = option("runs/rlsim-bandit", "output directory (bandit.md and the figure), as "
                                           "every other --out")
    figures: str | None = option(None, "folder of the figure (default --out)")
    no_figures: bool = option(False, "no figure")


def _cmd_bandit(a) -> int:
    out = Path(a.out)
    if out.suffix == ".md" or out.is_file():  # before any work: --out was a file until issue 26
        raise ValueError(f"--out is an output directory (bandit.md goes inside it), got "
                         f"{a.out!r}")
    inst = needle_instance(a.K, a.m, best_arms=a.best_arms, seed=a.root_seed)
    methods = tuple([a.method] if isinstance(a.method, str) else a.method)
    reg = bandit_regret(inst, methods=methods, horizon=a.horizon, n_rollouts=a.n_rollouts, lr=a.lr,
                        c=a.c, b0=a.b0, reps=a.reps, seed=a.root_seed)
    others = reference_regret(inst, horizon=reg[methods[0]].shape[1], reps=a.reps,
                              seed=a.root_seed)
    table = regret_comparison(reg, others)
    text = (f"# GRPO learners on an outcome-bandit instance\n\nneedle instance K={a.K}, "
            f"m={a.m}, best_arms={a.best_arms}, mu=linspace(0.9, 0.1, m), Bernoulli rewards, "
            f"uniform p0; n_rollouts={a.n_rollouts}, lr={a.lr}, c={a.c}, b0={a.b0}, "
            f"{a.reps} reps\n\n" + table + "\n")
    if not a.no_figures:
        from .figures import regret_figure

        path = Path(a.figures or out) / "rlsim_bandit_regret.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        regret_figure({**reg, **others}, path, f"GRPO learners vs UCB1 / outcome-UCB, needle "
                      f"K={a.K}, m={a.m}")
        text += f"\nfigure: {path}\n"
    print(text)
    _write(out / "bandit.md", text)
    return 0


def register(sub) -> None:
    """Add ``obandits rlsim {compare,sensitivity,bandit}``; every flag is generated from a
    config dataclass (:mod:`obandits.options`)."""
    p = sub.add_parser("rlsim", help="GRPO + outcome bonuses on a simulated multi-problem policy")
    ss = p.add_subparsers(dest="rlsim_command", required=True)
    c = ss.add_parser("compare", help="5 methods x reps vs base sampling: figures, tables, "
                                      "claims C1-C4")
    _common(c)
    add_arguments(c, ReportOptions, title="reports")
    c.set_defaults(func=_cmd_compare)
    s = ss.add_parser("sensitivity", help="claim verdicts over sharing x difficulty (the "
                                          "grid of --share and --difficulty-mean)")
    _common(s, share=[0.0, 0.5, 1.0, 2.0], difficulty_mean=[-1.0, -3.0, -5.0])
    add_arguments(s, ReportOptions, title="reports")
    s.set_defaults(func=_cmd_sensitivity)
    b = ss.add_parser("bandit", help="GRPO learners' pseudo-regret on a needle bandit instance")
    add_arguments(b, SweepHead, aliases={"reps": ("--seeds",)})
    add_arguments(b, NeedleOptions, aliases={"n_rollouts": ("--n",)})
    add_flags(b, [Flag(ExperimentConfig, "methods", "method", METHODS, ("--methods",))],
              lists=True)
    add_flags(b, [Flag(BonusConfig, "c"), Flag(BonusConfig, "b0")])
    b.set_defaults(func=_cmd_bandit)
