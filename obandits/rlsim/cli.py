"""``obandits rlsim ...``: the simulated RL experiments (Spec 1 §4).

* ``obandits rlsim compare`` -- 5 methods x seeds + base sampling: figures (Figs. 2-6
  analogues), Tables 1-2 analogues, claim checks, written to a markdown report.
* ``obandits rlsim sensitivity`` -- claim verdicts over sharing strength x difficulty.
* ``obandits rlsim bandit`` -- GRPO learners' pseudo-regret on an outcome-bandit instance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..bonuses import METHODS
from .experiment import (
    ExperimentConfig,
    bandit_regret,
    claim_verdicts,
    claims,
    claims_table,
    needle_instance,
    reference_regret,
    regret_comparison,
    run_comparison,
    sensitivity,
    sensitivity_table,
    summarise,
)
from .model import ModelConfig
from .trainer import TrainConfig


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=8, help="seeds (models x streams; default 8)")
    p.add_argument("--root-seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="GRPO steps")
    p.add_argument("--batch", type=int, default=TrainConfig.batch_prompts,
                   help="problems per step (capped at --n-train)")
    p.add_argument("--n", type=int, default=TrainConfig.n, help="samples per problem per step")
    p.add_argument("--n-train", type=int, default=ModelConfig.n_train)
    p.add_argument("--n-test", type=int, default=ModelConfig.n_test)
    p.add_argument("--share", type=float, default=ModelConfig.share,
                   help="trace-parameter sharing strength")
    p.add_argument("--difficulty", type=float, default=ModelConfig.difficulty_mean,
                   help="mean logit of the base model's P(correct)")
    p.add_argument("--c", type=float, default=0.2, help="bonus scale c")
    p.add_argument("--b0", type=float, default=0.5, help="UCB-Con baseline b0")
    p.add_argument("--beta-kl", type=float, default=0.0, help="KL weight to the base policy")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--workers", type=int, default=2, help="threads (default 2)")
    p.add_argument("--out", default=None, help="markdown report path")


def _config(a) -> ExperimentConfig:
    model = ModelConfig(n_train=a.n_train, n_test=a.n_test, share=a.share,
                        difficulty_mean=a.difficulty)
    train = TrainConfig(n=a.n, batch_prompts=min(a.batch, a.n_train), steps=a.steps,
                        n_evals=min(TrainConfig.n_evals, a.steps), beta_kl=a.beta_kl)
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    return ExperimentConfig(model=model, train=train, methods=methods, c=a.c, b0=a.b0,
                            n_seeds=a.seeds, root_seed=a.root_seed)


def _params(cfg: ExperimentConfig) -> str:
    return (f"model: {cfg.model}\n\ntrain: {cfg.train}"
            f"\n\nmethods {cfg.methods}, c={cfg.c}, b0={cfg.b0}, seeds={cfg.n_seeds}, "
            f"root_seed={cfg.root_seed}, early checkpoint = step "
            f"{cfg.train.eval_steps()[cfg.early_index()]} of {cfg.train.steps}")


def _write(path, text: str) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")


def compare(cfg: ExperimentConfig | None = None, *, out="experiments/rlsim/results/compare.md",
            figures="figures", workers: int = 2, progress: bool = True) -> str:
    """Run the comparison, write figures and the report; return the report text."""
    cfg = cfg or ExperimentConfig()
    t0 = time.perf_counter()
    res = run_comparison(cfg, workers=workers, progress=progress)
    wall = time.perf_counter() - t0
    tabs = summarise(res, cfg)
    chk = claims(res, cfg)
    verdicts = claim_verdicts(chk)
    parts = [f"# rlsim comparison\n\n{_params(cfg)}\n\nwall time {wall:.1f} s\n",
             "## Training discovery (end of training)\n", tabs["discovery"],
             "\n## Test pass@k, early checkpoint\n", tabs["pass_early"],
             "\n## Test pass@k, late checkpoint (end)\n", tabs["pass_late"],
             "\n## Table 1 analogue: policy entropy (nats) on correct / incorrect samples\n",
             tabs["entropy"],
             "\n## Table 2 analogue: distinct answers per group of n\n", tabs["distinct"],
             "\n## Claims\n", claims_table(chk), "\n",
             "verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()), ""]
    text = "\n".join(parts)
    if figures:
        from .figures import discovery_figure, passk_figure

        fdir = Path(figures)
        title = f"share={cfg.model.share}, difficulty={cfg.model.difficulty_mean}, " \
                f"{cfg.n_seeds} seeds (mean ± std)"
        discovery_figure(res, fdir / "rlsim_discovery.png", ("none", "base"),
                         "RL vs base sampling, " + title)
        discovery_figure(res, fdir / "rlsim_training.png", (*cfg.methods, "base"),
                         "training discovery per method, " + title)
        passk_figure(res, cfg.early_index(), fdir / "rlsim_passk.png", title)
        text += f"\nfigures: {fdir}/rlsim_discovery.png, rlsim_training.png, rlsim_passk.png\n"
    print(text)
    _write(out, text)
    return text


def headline() -> str:
    """The default comparison (5 methods x 8 seeds): a short step for ``obandits main``."""
    return compare()


def _cmd_compare(a) -> int:
    compare(_config(a), out=a.out or "experiments/rlsim/results/compare.md",
            figures=None if a.no_figures else a.figures, workers=a.workers,
            progress=not a.quiet)
    return 0


def _cmd_sensitivity(a) -> int:
    cfg = _config(a)
    rows = sensitivity(cfg, _floats(a.shares), _floats(a.difficulties), workers=a.workers,
                       progress=not a.quiet)
    text = (f"# rlsim sensitivity\n\n{_params(cfg)}\n\n(share and difficulty_mean vary per "
            f"row; each cell: mean paired difference over seeds, in the paper's direction when "
            f"> 0; ✓ holds (> 2 s.e.), ~ direction only, ✗ fails, = identical on every seed)"
            f"\n\n" + sensitivity_table(rows) + "\n")
    for r in rows:
        text += (f"\n### share={r['share']}, difficulty_mean={r['difficulty_mean']}\n\n"
                 + claims_table(r["checks"]) + "\n")
    print(sensitivity_table(rows))
    _write(a.out or "experiments/rlsim/results/sensitivity.md", text)
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
    _write(a.out or "experiments/rlsim/results/bandit.md", text)
    return 0


def register(sub) -> None:
    """Add ``obandits rlsim {compare,sensitivity,bandit}``."""
    p = sub.add_parser("rlsim", help="GRPO + outcome bonuses on a simulated multi-problem policy")
    ss = p.add_subparsers(dest="rlsim_command", required=True)
    c = ss.add_parser("compare", help="5 methods x seeds vs base sampling: figures, tables, "
                                      "claims C1-C4")
    _common(c)
    c.add_argument("--figures", default="figures", help="figure folder (default figures)")
    c.add_argument("--no-figures", action="store_true")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_compare)
    s = ss.add_parser("sensitivity", help="claim verdicts over sharing x difficulty")
    _common(s)
    s.add_argument("--shares", default="0,0.5,1,2", help="sharing strengths")
    s.add_argument("--difficulties", default="-1,-3,-5", help="difficulty means")
    s.add_argument("--quiet", action="store_true")
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
    b.add_argument("--figures", default="figures")
    b.add_argument("--no-figures", action="store_true")
    b.add_argument("--out", default=None)
    b.set_defaults(func=_cmd_bandit)
