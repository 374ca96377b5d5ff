"""Experiments of Spec 2 §4 on the tree Markov chain.

(a) ``paper``: coverage and pass@K of every method on both tasks, training on TASK1 only;
(b) ``forgetting``: rare-CoT mass and rare-only pass@K against RL steps, per method;
(c) ``sensitivity``: forgetting against ``eps``, the KL strength ``beta``, the rejection
    threshold and the depth ``L``;
(d) ``bonuses``: do the outcome bonuses (UCB-Con, Batch inside GRPO) keep rare CoTs, next to
    the two remedies?

Every seed pretrains one model that all methods of that seed start from (paired comparison);
each (cell, method, seed) has its own random stream from :mod:`obandits.seeding`. Policy
metrics are exact (layer DP and exact ``p_q``); selection rules are measured on a pool of
selected CoTs (Monte Carlo, unbiased pass@K).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import _validate as v
from ..plotting import pyplot as _plt
from ..plotting import write
from ..seeding import rep_generators, rep_states
from ..tables import markdown_table
from .chain import (
    ChainConfig,
    TreeChain,
    build_chain,
    coverage,
    is_easy,
    kl_tilted_policy,
    paper_config,
    two_task_config,
)
from .instances import Instances, exact_pass_at_k, make_instances, mc_pass_at_k
from .learner import PretrainConfig, policy, pretrain, support_error
from .posttrain import RLConfig, post_train
from .select import SelectConfig, select_pool


@dataclass(frozen=True)
class MethodSpec:
    """One row of the tables: an RL run (``rl`` overrides of the base :class:`RLConfig`), the
    closed-form KL tilt (``kind='kl-closed'``), a selection rule, or the base model."""

    name: str
    kind: str = "rl"  # rl | kl-closed | select | base
    rl: tuple = ()  # (field, value) pairs over ExperimentConfig.rl
    select: str = ""


PAPER_METHODS = (
    MethodSpec("base", "base"),
    MethodSpec("REINFORCE", rl=(("method", "reinforce"),)),
    MethodSpec("RAFT", rl=(("method", "raft"),)),
    MethodSpec("PPO", rl=(("method", "ppo"),)),
    MethodSpec("GRPO", rl=(("method", "grpo"),)),
    MethodSpec("REINFORCE+reject", rl=(("method", "reinforce"), ("reject", -1))),
    MethodSpec("GRPO+reject", rl=(("method", "grpo"), ("reject", -1))),
    MethodSpec("REINFORCE+KL", rl=(("method", "reinforce"), ("kl_beta", -1.0))),
    MethodSpec("GRPO+KL", rl=(("method", "grpo"), ("kl_beta", -1.0))),
    MethodSpec("KL closed form", "kl-closed"),
    MethodSpec("ORM best-of-N", "select", select="orm-bon"),
    MethodSpec("soft best-of-N", "select", select="soft-bon"),
    MethodSpec("PRM best-of-N", "select", select="prm-bon"),
    MethodSpec("DPRM sampling", "select", select="dprm"),
)
BONUS_METHODS = (
    MethodSpec("GRPO+UCB-Con", rl=(("method", "grpo"), ("bonus", "ucb-con"))),
    MethodSpec("GRPO+Batch", rl=(("method", "grpo"), ("bonus", "batch"))),
)
RL_ONLY = tuple(m for m in PAPER_METHODS if m.kind == "rl")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one experiment needs (defaults: the paper's configuration, Spec 2 §1-4).

    ``reject`` and ``kl_beta`` are the remedies' settings used where a method asks for them
    (paper: 5 samples; ``beta = 1``); ``kl_tau`` is the closed form's ``tau`` (0.5).
    Coverage is measured at temperature 1 (the model's own distribution); pass@K at
    ``eval_temperature`` (paper: K = 30 at 0.5) over ``n_eval`` fresh instances per task.
    """

    chain: ChainConfig = field(default_factory=paper_config)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    train_task: int = 0
    n_train: int = 200
    n_eval: int = 2000
    k: int = 30
    eval_temperature: float = 0.5
    reject: int = 5
    kl_beta: float = 1.0
    kl_tau: float = 0.5
    seeds: int = 5
    root_seed: int = 0

    def __post_init__(self) -> None:
        v.int_scalar("train_task", self.train_task, min_value=0,
                     max_value=len(self.chain.tasks) - 1)
        v.int_scalar("n_train", self.n_train, min_value=1)
        v.int_scalar("n_eval", self.n_eval, min_value=1)
        v.int_scalar("k", self.k, min_value=1)
        if self.select.pool < self.k:
            raise ValueError(f"select.pool must be >= k (pass@K needs K samples per instance), "
                             f"got pool={self.select.pool} < k={self.k}")
        v.finite_scalar("eval_temperature", self.eval_temperature, min_value=0.0,
                        strict_min=True)
        v.int_scalar("reject", self.reject, min_value=1)
        v.finite_scalar("kl_beta", self.kl_beta, min_value=0.0, strict_min=True)
        v.finite_scalar("kl_tau", self.kl_tau, min_value=0.0)
        v.int_scalar("seeds", self.seeds, min_value=1)
        v.int_scalar("root_seed", self.root_seed, min_value=0)

    def rl_for(self, spec: MethodSpec) -> RLConfig:
        kw = dict(spec.rl)
        bonus = {k[6:] if k.startswith("bonus_") else "method": kw.pop(k)
                 for k in [k for k in kw if k in ("bonus", "bonus_c", "bonus_b0")]}
        if bonus:
            kw["bonus"] = replace(self.rl.bonus, **bonus)
        if kw.get("reject") == -1:
            kw["reject"] = self.reject
        if kw.get("kl_beta") == -1.0:
            kw["kl_beta"] = self.kl_beta
        return replace(self.rl, **kw)


def _has_solvable(inst, subset) -> bool:
    mask = inst.solvable if subset is None else (inst.solvable & subset)
    return bool(mask.any())


def _safe_pass(chain, inst, Q, k, subset=None):
    """pass@K, or None when no instance of this kind was drawn (other errors propagate)."""
    return exact_pass_at_k(chain, inst, Q, k, subset) if _has_solvable(inst, subset) else None


def _safe_mc(chain, inst, pool, k, subset=None):
    return mc_pass_at_k(inst, chain, pool, k, subset) if _has_solvable(inst, subset) else None


def policy_metrics(chain: TreeChain, evals: list[Instances], theta: np.ndarray, k: int,
                   temperature: float) -> dict:
    """Exact coverage (T=1) and pass@K (at ``temperature``) of a policy on every task."""
    Q1, Qt = policy(theta), policy(theta, temperature)
    out = {}
    for t, inst in enumerate(evals):
        e, h, i = coverage(chain, t, Q1)
        out[t] = dict(easy=e, hard=h, invalid=i, pass_all=_safe_pass(chain, inst, Qt, k),
                      pass_rare=_safe_pass(chain, inst, Qt, k, inst.rare_only))
    return out


def select_metrics(chain: TreeChain, evals: list[Instances], theta: np.ndarray,
                   cfg: SelectConfig, k: int, temperature: float, states) -> dict:
    """Coverage and pass@K of a selection rule from pools (candidates at T=1 for coverage and
    at ``temperature`` for pass@K)."""
    out = {}
    for t, inst in enumerate(evals):
        pool1 = select_pool(chain, t, theta, cfg, states[2 * t], 1.0)
        poolt = select_pool(chain, t, theta, cfg, states[2 * t + 1], temperature)
        g = chain.tasks[t][1]
        val = pool1[:, -1] == g
        easy = is_easy(chain, pool1)
        out[t] = dict(easy=float(np.mean(val & easy)), hard=float(np.mean(val & ~easy)),
                      invalid=float(np.mean(~val)), pass_all=_safe_mc(chain, inst, poolt, k),
                      pass_rare=_safe_mc(chain, inst, poolt, k, inst.rare_only))
    return out


def run_seed(cfg: ExperimentConfig, methods, seed: int, cell: str = "paper",
             curves: bool = False) -> dict:
    """All methods on one seed: returns ``{"final": {method: {task: metrics}}, "curves":
    {method: {"iters": [...], task: {"hard": [...], "pass_rare": [...]}}}, "pretrain_error"}``.
    """
    chain = build_chain(cfg.chain)
    n = cfg.seeds
    st_pre = rep_states(cfg.root_seed, f"{cell}/pretrain", n)[seed]
    theta0, _ = pretrain(chain, cfg.pretrain, st_pre)
    gen = rep_generators(cfg.root_seed, f"{cell}/instances", n)[seed]
    train = make_instances(chain, cfg.train_task, cfg.n_train, gen)
    evals = [make_instances(chain, t, cfg.n_eval, gen) for t in range(len(chain.tasks))]
    res = {"final": {}, "curves": {}, "pretrain_error": float(support_error(chain,
                                                                            policy(theta0)))}
    for spec in methods:
        if spec.kind == "base":
            res["final"][spec.name] = policy_metrics(chain, evals, theta0, cfg.k,
                                                     cfg.eval_temperature)
        elif spec.kind == "kl-closed":
            Qk = kl_tilted_policy(chain, cfg.train_task, policy(theta0), cfg.kl_tau,
                                  cfg.kl_beta)
            res["final"][spec.name] = policy_metrics(chain, evals, np.log(Qk), cfg.k,
                                                     cfg.eval_temperature)
        elif spec.kind == "select":
            sc = replace(cfg.select, method=spec.select)
            sts = rep_states(cfg.root_seed, f"{cell}/select/{spec.name}/{seed}",
                             2 * len(chain.tasks))
            res["final"][spec.name] = select_metrics(chain, evals, theta0, sc, cfg.k,
                                                     cfg.eval_temperature, sts)
        else:
            rc = cfg.rl_for(spec)
            st = rep_states(cfg.root_seed, f"{cell}/rl/{spec.name}", n)[seed]
            run = post_train(chain, theta0, train, rc, st)
            res["final"][spec.name] = policy_metrics(chain, evals, run.theta, cfg.k,
                                                     cfg.eval_temperature)
            res["final"][spec.name]["rejected"] = run.rejected
            if curves:
                cur = {"iters": run.snap_iters.tolist()}
                for t, inst in enumerate(evals):
                    hard, prare = [], []
                    for th in run.snaps:
                        hard.append(coverage(chain, t, policy(th))[1])
                        prare.append(_safe_pass(chain, inst, policy(th, cfg.eval_temperature),
                                                cfg.k, inst.rare_only))
                    cur[t] = {"hard": hard, "pass_rare": prare}
                res["curves"][spec.name] = cur
    return res


def run_seeds(cfg: ExperimentConfig, methods, cell: str, curves: bool = False,
              progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    it = range(cfg.seeds)
    if progress:
        it = tqdm(it, desc=f"cot {cell}", unit="seed", leave=False)
    return [run_seed(cfg, methods, s, cell, curves) for s in it]


# ------------------------------------------------------------------------------------------
# Aggregation, tables, files
# ------------------------------------------------------------------------------------------

METRICS = ("easy", "hard", "invalid", "pass_all", "pass_rare")


def aggregate(results: list[dict]) -> dict:
    """``{method: {task: {metric: (mean, std, n)}}}`` over seeds (std with ddof=1; metrics
    missing in a seed -- no instance of the kind drawn -- are left out of that mean)."""
    out = {}
    for name in results[0]["final"]:
        out[name] = {}
        for t in (k for k in results[0]["final"][name] if isinstance(k, int)):
            out[name][t] = {}
            for m in METRICS:
                xs = [r["final"][name][t][m] for r in results
                      if r["final"][name][t][m] is not None]
                out[name][t][m] = (float(np.mean(xs)) if xs else None,
                                   float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, len(xs))
    return out


def pm(cell) -> str:
    mean, std, _ = cell
    return "-" if mean is None else f"{mean:.3f} ± {std:.3f}"


def paper_table(agg: dict, tasks=(0, 1), k: int = 30) -> str:
    headers = ["method"]
    for t in tasks:
        headers += [f"T{t + 1} easy", f"T{t + 1} hard", f"T{t + 1} invalid",
                    f"T{t + 1} pass@{k}", f"T{t + 1} pass@{k} rare-only"]
    rows = []
    for name, per in agg.items():
        row = [name]
        for t in tasks:
            row += [pm(per[t][m]) for m in METRICS]
        rows.append(row)
    return markdown_table(headers, rows)


def write_json(path: str, obj) -> None:
    """Atomic write (temporary file, then rename)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_jsonable)
    os.replace(tmp, path)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _manifest(cfg: ExperimentConfig, extra: dict | None = None) -> dict:
    import subprocess

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return {"config": asdict(cfg), "git": rev, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime()),
            **(extra or {})}


def _curve_stats(results: list[dict], name: str, task: int, key: str):
    ys = np.array([[np.nan if y is None else y for y in r["curves"][name][task][key]]
                   for r in results], dtype=float)
    x = np.array(results[0]["curves"][name]["iters"])
    n = np.sum(np.isfinite(ys), axis=0)
    z = np.where(np.isfinite(ys), ys, 0.0)
    mean = z.sum(axis=0) / np.maximum(n, 1)
    var = np.where(np.isfinite(ys), (ys - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n - 1, 1)
    # a checkpoint where no seed drew an instance of the kind has no value: plot it at 0 with
    # no band rather than as NaN (the tables report such cells as "-")
    return x, mean, np.sqrt(var)


def _all_curves(results: list[dict], methods, n_tasks: int) -> dict:
    """``{method: {"task/metric": {"iters", "mean", "std"}}}`` over seeds."""
    curves = {}
    for spec in methods:
        curves[spec.name] = {}
        for t in range(n_tasks):
            for key in ("hard", "pass_rare"):
                x, m, s = _curve_stats(results, spec.name, t, key)
                curves[spec.name][f"{t}/{key}"] = {"iters": x, "mean": m, "std": s}
    return curves


def _mean_std(xs) -> tuple:
    """(mean, std with ddof=1) of the values that exist; (None, 0) when none does."""
    xs = [x for x in xs if x is not None]
    return (float(np.mean(xs)) if xs else None,
            float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0)


# ------------------------------------------------------------------------------------------
# The four experiments
# ------------------------------------------------------------------------------------------


def experiment_paper(cfg: ExperimentConfig, out_dir: str, fig_dir: str,
                     methods=PAPER_METHODS + BONUS_METHODS, progress: bool = True) -> dict:
    """(a): the coverage and pass@K table for every method on both tasks (train on TASK1)."""
    t0 = time.time()
    results = run_seeds(cfg, methods, "paper", curves=False, progress=progress)
    agg = aggregate(results)
    table = paper_table(agg, range(len(cfg.chain.tasks)), cfg.k)
    perr = [r["pretrain_error"] for r in results]
    write_json(os.path.join(out_dir, "paper.json"),
               {"manifest": _manifest(cfg, {"seconds": time.time() - t0}), "aggregate": agg,
                "pretrain_error": perr, "per_seed": [r["final"] for r in results]})
    with open(os.path.join(out_dir, "paper.md"), "w") as f:
        f.write(table + "\n")
    if fig_dir:
        _fig_coverage(agg, os.path.join(fig_dir, "cot_coverage.png"), cfg)
    return {"aggregate": agg, "table": table, "pretrain_error": perr}


def experiment_forgetting(cfg: ExperimentConfig, out_dir: str, fig_dir: str,
                          methods=RL_ONLY + BONUS_METHODS, progress: bool = True) -> dict:
    """(b): rare-CoT mass and rare-only pass@K of both tasks against RL steps, per method."""
    results = run_seeds(cfg, methods, "forgetting", curves=True, progress=progress)
    curves = _all_curves(results, methods, len(cfg.chain.tasks))
    write_json(os.path.join(out_dir, "forgetting.json"),
               {"manifest": _manifest(cfg), "curves": curves})
    rows = []
    for name, c in curves.items():
        row = [name]
        for t in range(len(cfg.chain.tasks)):
            h = c[f"{t}/hard"]
            n = len(h["mean"])
            for j in (0, n // 4, n // 2, n - 1):
                row.append(f"{h['mean'][j]:.3f} ± {h['std'][j]:.3f}")
        rows.append(row)
    it = curves[methods[0].name]["0/hard"]["iters"]
    n = len(it)
    headers = ["method"] + [f"T{t + 1} hard @{it[j]}" for t in range(len(cfg.chain.tasks))
                            for j in (0, n // 4, n // 2, n - 1)]
    table = markdown_table(headers, rows)
    with open(os.path.join(out_dir, "forgetting.md"), "w") as f:
        f.write(table + "\n")
    if fig_dir:
        _fig_curves(curves, methods, cfg, os.path.join(fig_dir, "cot_forgetting.png"))
    return {"curves": curves, "table": table}


SENS_GRID = {
    "eps": (0.05, 0.1, 0.2, 0.4),
    "kl_beta": (0.03, 0.1, 0.3, 1.0, 3.0),
    "reject": (1, 2, 5, 10, 20),
    "L": (3, 4, 6, 8),
}


def _sens_cells(cfg: ExperimentConfig, grid: dict):
    """(knob, value, config, methods) cells of experiment (c)."""
    plain = (MethodSpec("base", "base"), MethodSpec("REINFORCE", rl=(("method", "reinforce"),)),
             MethodSpec("GRPO", rl=(("method", "grpo"),)))
    for e in grid.get("eps", ()):
        yield "eps", e, replace(cfg, chain=replace(cfg.chain, eps=e)), plain
    for b in grid.get("kl_beta", ()):
        yield "kl_beta", b, replace(cfg, kl_beta=b), (
            MethodSpec("base", "base"),
            MethodSpec("REINFORCE+KL", rl=(("method", "reinforce"), ("kl_beta", -1.0))),
            MethodSpec("GRPO+KL", rl=(("method", "grpo"), ("kl_beta", -1.0))))
    for r in grid.get("reject", ()):
        yield "reject", r, replace(cfg, reject=r), (
            MethodSpec("base", "base"),
            MethodSpec("REINFORCE+reject", rl=(("method", "reinforce"), ("reject", -1))),
            MethodSpec("GRPO+reject", rl=(("method", "grpo"), ("reject", -1))))
    for L in grid.get("L", ()):
        c = cfg.chain
        ch = two_task_config(L=L, M0=c.M0, M=c.M, C_size=c.C_size, eps=c.eps,
                             structure_seed=c.structure_seed)
        yield "L", L, replace(cfg, chain=ch), plain


def experiment_sensitivity(cfg: ExperimentConfig, out_dir: str, fig_dir: str,
                           grid: dict | None = None, progress: bool = True) -> dict:
    """(c): retained rare-CoT mass (trained / base, TASK1 and TASK2) and pass@K against
    ``eps``, ``beta``, the rejection threshold and the depth ``L``."""
    from tqdm import tqdm

    grid = SENS_GRID if grid is None else grid
    cells = list(_sens_cells(cfg, grid))
    rows, data = [], []
    for knob, val, c, methods in tqdm(cells, desc="cot sensitivity", disable=not progress):
        res = run_seeds(c, methods, f"sens/{knob}={val}", progress=False)
        for spec in methods[1:]:
            for t in range(len(c.chain.tasks)):
                fin = [(r["final"][spec.name][t], r["final"]["base"][t]) for r in res]
                d = dict(knob=knob, value=val, method=spec.name, task=t + 1,
                         ratio=_mean_std([a["hard"] / b["hard"] for a, b in fin]),
                         pass_rare=_mean_std([a["pass_rare"] for a, _ in fin]),
                         pass_all=_mean_std([a["pass_all"] for a, _ in fin]))
                data.append(d)
                rows.append([knob, val, spec.name, t + 1, pm((*d["ratio"], 0)),
                             pm((*d["pass_all"], 0)), pm((*d["pass_rare"], 0))])
    table = markdown_table(["knob", "value", "method", "task", "rare mass kept (trained/base)",
                            f"pass@{cfg.k}", f"pass@{cfg.k} rare-only"], rows)
    write_json(os.path.join(out_dir, "sensitivity.json"),
               {"manifest": _manifest(cfg, {"grid": grid}), "rows": data})
    with open(os.path.join(out_dir, "sensitivity.md"), "w") as f:
        f.write(table + "\n")
    if fig_dir:
        _fig_sensitivity(data, grid, os.path.join(fig_dir, "cot_sensitivity.png"))
    return {"rows": data, "table": table}


BONUS_STUDY = (
    MethodSpec("base", "base"),
    MethodSpec("GRPO", rl=(("method", "grpo"),)),
    MethodSpec("GRPO+UCB-Con", rl=(("method", "grpo"), ("bonus", "ucb-con"))),
    MethodSpec("GRPO+Batch", rl=(("method", "grpo"), ("bonus", "batch"))),
    MethodSpec("GRPO+UCB-Con c=1", rl=(("method", "grpo"), ("bonus", "ucb-con"),
                                       ("bonus_c", 1.0))),
    MethodSpec("GRPO+UCB-Con (CoT outcome)", rl=(("method", "grpo"), ("bonus", "ucb-con"),
                                                 ("bonus_outcome", "path"))),
    MethodSpec("GRPO+Batch (CoT outcome)", rl=(("method", "grpo"), ("bonus", "batch"),
                                               ("bonus_outcome", "path"))),
    MethodSpec("GRPO+UCB-Con c=1 (CoT outcome)", rl=(("method", "grpo"), ("bonus", "ucb-con"),
                                                     ("bonus_c", 1.0),
                                                     ("bonus_outcome", "path"))),
    MethodSpec("GRPO+reject", rl=(("method", "grpo"), ("reject", -1))),
    MethodSpec("GRPO+KL", rl=(("method", "grpo"), ("kl_beta", -1.0))),
)


def experiment_bonuses(cfg: ExperimentConfig, out_dir: str, fig_dir: str,
                       progress: bool = True) -> dict:
    """(d): outcome bonuses inside GRPO (final state as the outcome, as specified; and the
    whole CoT as the outcome, ours) against the two remedies."""
    results = run_seeds(cfg, BONUS_STUDY, "bonuses", curves=True, progress=progress)
    agg = aggregate(results)
    table = paper_table(agg, range(len(cfg.chain.tasks)), cfg.k)
    rl = [s for s in BONUS_STUDY if s.kind == "rl"]
    curves = _all_curves(results, rl, len(cfg.chain.tasks))
    write_json(os.path.join(out_dir, "bonuses.json"),
               {"manifest": _manifest(cfg), "aggregate": agg, "curves": curves})
    with open(os.path.join(out_dir, "bonuses.md"), "w") as f:
        f.write(table + "\n")
    if fig_dir:
        _fig_curves(curves, rl, cfg, os.path.join(fig_dir, "cot_bonuses.png"))
    return {"aggregate": agg, "table": table, "curves": curves}


# ------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------


def _fig_coverage(agg, path, cfg):
    plt = _plt()
    names = list(agg)
    nt = len(cfg.chain.tasks)
    fig, axes = plt.subplots(1, nt, figsize=(6 * nt, 0.32 * len(names) + 1.5), sharey=True)
    axes = np.atleast_1d(axes)
    for t, ax in enumerate(axes):
        left = np.zeros(len(names))
        for m, col in zip(("easy", "hard", "invalid"), ("tab:blue", "tab:red", "0.7")):
            w = np.array([agg[n][t][m][0] for n in names])
            ax.barh(names, w, left=left, color=col, label=m)
            left += w
        ax.set_title(f"TASK{t + 1} coverage (T=1); trained on TASK{cfg.train_task + 1}")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
    axes[0].legend(loc="lower right", fontsize=8)
    write(fig, path, dpi=80)


def _fig_curves(curves, methods, cfg, path):
    plt = _plt()
    nt = len(cfg.chain.tasks)
    fig, axes = plt.subplots(2, nt, figsize=(6 * nt, 7), squeeze=False)
    for t in range(nt):
        for row, key, lab in ((0, "hard", "rare-CoT mass (T=1)"),
                              (1, "pass_rare", f"pass@{cfg.k} on rare-only instances")):
            ax = axes[row, t]
            for spec in methods:
                c = curves[spec.name][f"{t}/{key}"]
                x, m, s = np.asarray(c["iters"]), np.asarray(c["mean"]), np.asarray(c["std"])
                ax.plot(x, m, label=spec.name, lw=1.3)
                ax.fill_between(x, m - s, m + s, alpha=0.15)
            ax.set_xlabel("RL iterations")
            ax.set_ylabel(lab)
            ax.set_title(f"TASK{t + 1} (training on TASK{cfg.train_task + 1})")
    axes[0, 0].legend(fontsize=7)
    write(fig, path, dpi=80)


def _fig_sensitivity(data, grid, path):
    plt = _plt()
    knobs = [k for k in grid if grid[k]]
    fig, axes = plt.subplots(1, len(knobs), figsize=(4.2 * len(knobs), 3.6), squeeze=False)
    for ax, knob in zip(axes[0], knobs):
        rows = [d for d in data if d["knob"] == knob]
        for meth in dict.fromkeys(d["method"] for d in rows):
            for t in (1, 2):
                sel = [d for d in rows if d["method"] == meth and d["task"] == t]
                x = [d["value"] for d in sel]
                y = np.array([d["ratio"][0] for d in sel])
                e = np.array([d["ratio"][1] for d in sel])
                ax.errorbar(x, y, yerr=e, marker="o", ms=3, capsize=2,
                            ls="-" if t == 1 else "--", label=f"{meth} T{t}")
        if knob == "kl_beta":
            ax.set_xscale("log")
        ax.axhline(1.0, color="0.6", lw=0.8)
        ax.set_xlabel(knob)
        ax.set_ylabel("rare-CoT mass kept (trained / base)")
        ax.legend(fontsize=6)
    write(fig, path, dpi=80)
