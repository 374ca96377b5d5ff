"""``obandits cot ...`` and ``obandits cot-experiments``: the Spec 2 experiments from the command
line. Results go to ``--out`` (tables ``*.md``, data ``*.json``), figures to ``--figures``."""

from __future__ import annotations

import time

EXPERIMENTS = ("paper", "forgetting", "sensitivity", "bonuses")


def _config(args):
    from .chain import paper_config, two_task_config
    from .experiments import ExperimentConfig
    from .learner import PretrainConfig
    from .posttrain import RLConfig
    from .select import SelectConfig

    if args.L == 4 and args.M == 2 and args.M0 == 2:
        chain = paper_config(eps=args.eps, C_size=args.C_size)
    else:
        chain = two_task_config(L=args.L, M0=args.M0, M=args.M, C_size=args.C_size,
                                eps=args.eps)
    return ExperimentConfig(
        chain=chain,
        pretrain=PretrainConfig(T1=args.T1, T2=args.T2, eta=args.eta),
        rl=RLConfig(iters=args.iters, n_rollouts=args.n_rollouts, lr=args.lr,
                    snap_every=max(1, min(25, args.iters // 4))),
        select=SelectConfig(n=args.select_n, pool=args.pool),
        n_train=args.n_train, n_eval=args.n_eval, k=args.k, reject=args.reject,
        kl_beta=args.kl_beta, kl_tau=args.kl_tau, seeds=args.reps, root_seed=args.root_seed)


def sweep_dict(args) -> dict:
    """Table (a) as a sweep config (TOML dict): every method of the paper's table and the two
    bonus rows, one cell each, with the options' parameters (``experiments/cot/paper.toml``)."""
    from .runner import METHODS

    fixed = {"L": args.L, "M0": args.M0, "M": args.M, "C_size": args.C_size, "eps": args.eps,
             "T1": args.T1, "T2": args.T2, "eta": args.eta, "iters": args.iters,
             "n_rollouts": args.n_rollouts, "lr": args.lr, "n_train": args.n_train,
             "n_eval": args.n_eval, "k": args.k, "reject": args.reject,
             "kl_beta": args.kl_beta, "kl_tau": args.kl_tau, "select_n": args.select_n,
             "pool": args.pool}
    return {"sweep": {"name": "cot-paper", "runner": "cot", "root_seed": args.root_seed,
                      "reps": args.reps},
            "fixed": fixed, "grid": [{"method": list(METHODS)}]}


def _paper(args, fig) -> dict:
    """(a) through the sweep engine into ``args.out/paper`` (tidy CSV, manifest, parallel)."""
    from pathlib import Path

    from ..results import read_table
    from ..sweep import config_from_dict, run_sweep
    from .runner import RUNNER

    raw = sweep_dict(args)
    out = Path(args.out) / "paper"
    path = run_sweep(config_from_dict(raw, "obandits cot paper"), out,
                     workers=args.workers, progress=not args.quiet)
    table = read_table(path)
    text = RUNNER.summarise(table, raw)
    if fig:
        RUNNER.figures(table, raw, Path(fig))
    (out / "paper.md").write_text(text + "\n")
    return {"table": text}


def _run(names, args) -> int:
    from . import experiments as ex

    if args.reference:
        args.out, args.figures = "experiments/cot/results", "figures"
    cfg = _config(args)
    fig = "" if args.no_figures else (args.figures or args.out)
    t0 = time.time()
    for name in names:
        print(f"\n== cot {name} ==", flush=True)
        if name == "paper":
            r = _paper(args, fig)
        elif name == "forgetting":
            r = ex.experiment_forgetting(cfg, args.out, fig, progress=not args.quiet)
        elif name == "sensitivity":
            grid = ex.SENS_GRID
            if args.small_grid:
                grid = {"eps": (0.1, 0.4), "kl_beta": (1.0,), "reject": (5,), "L": (3, 4)}
            r = ex.experiment_sensitivity(cfg, args.out, fig, grid, progress=not args.quiet)
        else:
            r = ex.experiment_bonuses(cfg, args.out, fig, progress=not args.quiet)
        print(r["table"], flush=True)
    print(f"\ncot: {', '.join(names)} done in {time.time() - t0:.1f} s; results in {args.out}"
          + (f", figures in {fig}" if fig else ""))
    return 0


def _add_options(p) -> None:
    g = p.add_argument_group("budgets and paper parameters (defaults: the paper's run)")
    g.add_argument("--reps", type=int, default=5, help="seeds (default 5)")
    g.add_argument("--root-seed", type=int, default=0, help="root seed (default 0)")
    g.add_argument("--L", type=int, default=4)
    g.add_argument("--M0", type=int, default=2)
    g.add_argument("--M", type=int, default=2)
    g.add_argument("--C-size", dest="C_size", type=int, default=1)
    g.add_argument("--eps", type=float, default=0.1, help="low-edge weight (default 0.1)")
    g.add_argument("--T1", type=int, default=2000)
    g.add_argument("--T2", type=int, default=500)
    g.add_argument("--eta", type=float, default=0.05, help="pretraining step (default 0.05)")
    g.add_argument("--iters", type=int, default=1000, help="RL iterations (default 1000)")
    g.add_argument("--n-rollouts", type=int, default=8, help="CoTs per RL iteration (default 8)")
    g.add_argument("--lr", type=float, default=0.05, help="RL step (default 0.05)")
    g.add_argument("--n-train", type=int, default=200, help="TASK1 training instances")
    g.add_argument("--n-eval", type=int, default=2000, help="evaluation instances per task")
    g.add_argument("--k", type=int, default=30, help="pass@K (default 30)")
    g.add_argument("--reject", type=int, default=5, help="rejection threshold (default 5)")
    g.add_argument("--kl-beta", type=float, default=1.0, help="KL strength (default 1)")
    g.add_argument("--kl-tau", type=float, default=0.5, help="closed-form KL tau (default 0.5)")
    g.add_argument("--select-n", type=int, default=8, help="best-of-N candidates (default 8)")
    g.add_argument("--pool", type=int, default=20000, help="selected CoTs per selection rule")
    p.add_argument("--out", default="runs/cot", help="results folder (default runs/cot)")
    p.add_argument("--figures", default=None, help="figures folder (default: --out)")
    p.add_argument("--reference", action="store_true",
                   help="write the committed results (experiments/cot/results, figures/)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--small-grid", action="store_true", help="a 6-cell sensitivity grid")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    p = sub.add_parser("cot", help="Spec 2: rare-CoT forgetting on a tree Markov chain")
    p.add_argument("experiment", choices=EXPERIMENTS + ("all",),
                   help="paper (a) | forgetting (b) | sensitivity (c) | bonuses (d) | all")
    _add_options(p)
    p.set_defaults(func=lambda a: _run(EXPERIMENTS if a.experiment == "all"
                                       else (a.experiment,), a))
    p = sub.add_parser("cot-experiments", help="Spec 2: all four tree-chain experiments")
    _add_options(p)
    p.set_defaults(func=lambda a: _run(EXPERIMENTS, a))
