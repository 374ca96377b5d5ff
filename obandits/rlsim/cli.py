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
from pathlib import Path

from ..bonuses import METHODS
from .experiment import (
    bandit_regret,
    needle_instance,
    reference_regret,
    regret_comparison,
)
from .model import ModelConfig
from .trainer import TrainConfig


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reps", type=int, default=8, help="repetitions (models x streams; default 8)")
    p.add_argument("--root-seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="GRPO steps")
    p.add_argument("--batch", type=int, default=TrainConfig.batch_prompts,
                   help="problems per step (capped at --n-train)")
    p.add_argument("--n-rollouts", type=int, default=TrainConfig.n,
                   help="samples per problem per step (group size)")
    p.add_argument("--n-train", type=int, default=ModelConfig.n_train)
    p.add_argument("--n-test", type=int, default=ModelConfig.n_test)
    p.add_argument("--share", type=float, default=ModelConfig.share,
                   help="trace-parameter sharing strength")
    p.add_argument("--difficulty", type=float, default=ModelConfig.difficulty_mean,
                   help="mean logit of the base model's P(correct)")
    p.add_argument("--c", type=float, default=0.2, help="bonus scale c")
    p.add_argument("--b0", type=float, default=0.5, help="UCB-Con baseline b0")
    p.add_argument("--kl-beta", type=float, default=0.0, help="KL weight to the base policy")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--workers", type=int, default=2, help="threads (default 2)")
    p.add_argument("--out", default=None, help="sweep output directory (default runs/rlsim-...)")


def _write(path, text: str) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")


def sweep_dict(a, name: str, **grid) -> dict:
    """The sweep config (as a TOML dict) the command-line options describe: every method plus
    base sampling, one cell each, ``grid`` adding model parameters to vary."""
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    fixed = {"n_train": a.n_train, "n_test": a.n_test, "share": a.share,
             "difficulty_mean": a.difficulty, "n_rollouts": a.n_rollouts,
             "batch_prompts": min(a.batch, a.n_train), "steps": a.steps,
             "n_evals": min(TrainConfig.n_evals, a.steps), "kl_beta": a.kl_beta, "c": a.c,
             "b0": a.b0}
    for k in grid:
        fixed.pop(k, None)
    return {"sweep": {"name": name, "runner": "rlsim", "root_seed": a.root_seed,
                      "reps": a.reps},
            "fixed": fixed, "grid": [{"method": [*methods, "base"], **grid}]}


def run_through_engine(raw: dict, out, *, workers: int = 2, progress: bool = True,
                       figures=None, report=None) -> str:
    """Run ``raw`` with :func:`obandits.sweep.run_sweep` into ``out`` (tidy CSV, manifest,
    resumable), then print the claims report; figures go to ``out`` (or ``figures``) and the
    report also to ``report`` when given."""
    from ..results import read_table
    from ..sweep import config_from_dict, run_sweep
    from .runner import RUNNER

    cfg = config_from_dict(raw, "obandits rlsim")
    path = run_sweep(cfg, out, workers=workers, progress=progress)
    table = read_table(path)
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
    _reference_flags(p)
    return p.parse_args([])


def _reference_flags(p) -> None:
    p.add_argument("--reference", action="store_true",
                   help="also refresh the committed report under experiments/rlsim/results "
                        "and the figures under figures/ (default: only runs/)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_compare(a) -> int:
    run_through_engine(
        sweep_dict(a, "rlsim-compare"), a.out or "runs/rlsim-compare", workers=a.workers,
        progress=not a.quiet, figures=False if a.no_figures else
        ("figures" if a.reference else None),
        report="experiments/rlsim/results/compare.md" if a.reference else None)
    return 0


def _cmd_sensitivity(a) -> int:
    run_through_engine(
        sweep_dict(a, "rlsim-sensitivity", share=list(_floats(a.shares)),
                   difficulty_mean=list(_floats(a.difficulties))),
        a.out or "runs/rlsim-sensitivity", workers=a.workers, progress=not a.quiet,
        figures=False if a.no_figures else None,
        report="experiments/rlsim/results/sensitivity.md" if a.reference else None)
    return 0


def _cmd_bandit(a) -> int:
    inst = needle_instance(a.K, a.m, best_arms=a.best_arms, seed=a.root_seed)
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    reg = bandit_regret(inst, methods=methods, horizon=a.horizon, n=a.n, lr=a.lr, c=a.c,
                        b0=a.b0, n_reps=a.seeds, seed=a.root_seed)
    others = reference_regret(inst, horizon=reg[methods[0]].shape[1], n_reps=a.seeds,
                              seed=a.root_seed)
    table = regret_comparison(reg, others)
    text = (f"# GRPO learners on an outcome-bandit instance\n\nneedle instance K={a.K}, "
            f"m={a.m}, best_arms={a.best_arms}, mu=linspace(0.9, 0.1, m), Bernoulli rewards, "
            f"uniform p0; n={a.n}, lr={a.lr}, c={a.c}, b0={a.b0}, {a.seeds} reps\n\n"
            + table + "\n")
    if not a.no_figures:
        from .figures import regret_figure

        path = Path(a.figures) / "rlsim_bandit_regret.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        regret_figure({**reg, **others}, path, f"GRPO learners vs UCB1 / outcome-UCB, needle "
                      f"K={a.K}, m={a.m}")
        text += f"\nfigure: {path}\n"
    print(text)
    _write(a.out or "runs/rlsim-bandit/bandit.md", text)
    return 0


def register(sub) -> None:
    """Add ``obandits rlsim {compare,sensitivity,bandit}``."""
    p = sub.add_parser("rlsim", help="GRPO + outcome bonuses on a simulated multi-problem policy")
    ss = p.add_subparsers(dest="rlsim_command", required=True)
    c = ss.add_parser("compare", help="5 methods x seeds vs base sampling: figures, tables, "
                                      "claims C1-C4")
    _common(c)
    _reference_flags(c)
    c.set_defaults(func=_cmd_compare)
    s = ss.add_parser("sensitivity", help="claim verdicts over sharing x difficulty")
    _common(s)
    s.add_argument("--shares", default="0,0.5,1,2", help="sharing strengths")
    s.add_argument("--difficulties", default="-1,-3,-5", help="difficulty means")
    _reference_flags(s)
    s.set_defaults(func=_cmd_sensitivity)
    b = ss.add_parser("bandit", help="GRPO learners' pseudo-regret on a needle bandit instance")
    b.add_argument("--K", type=int, default=64)
    b.add_argument("--m", type=int, default=4)
    b.add_argument("--best-arms", type=int, default=1)
    b.add_argument("--horizon", type=int, default=4096)
    b.add_argument("--n", type=int, default=8)
    b.add_argument("--lr", type=float, default=1.0)
    b.add_argument("--c", type=float, default=0.2)
    b.add_argument("--b0", type=float, default=0.5)
    b.add_argument("--seeds", type=int, default=8)
    b.add_argument("--root-seed", type=int, default=0)
    b.add_argument("--methods", default=",".join(METHODS))
    b.add_argument("--figures", default="runs/rlsim-bandit")
    b.add_argument("--no-figures", action="store_true")
    b.add_argument("--out", default=None)
    b.set_defaults(func=_cmd_bandit)
