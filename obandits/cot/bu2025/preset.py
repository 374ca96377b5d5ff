"""The ``bu2025`` preset: its sweep config, :func:`run_preset` (Python), :func:`cli_preset`
(``obandits cot paper --preset bu2025``) and ``docs/bu2025.md`` (:func:`write_doc`).

Under ``--preset`` every flag of ``obandits cot`` is either honoured or refused with one line
naming it: the cell flags of :data:`FLAG_FIELDS` set the :class:`~.config.Bu2025Config` field
beside them in every cell; those of :data:`REFUSED` have no counterpart in their script.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ... import _validate as v
from .analysis import summarise
from .authors import _REPO, authors_csv_path
from .cells import ALL_VARIANTS, MUTANTS, PRESETS, SEEDS, VARIANTS
from .figures import figures

DATA_DIR = "docs/data/bu2025"
DOC = "docs/bu2025.md"
DEFAULT_OUT = "runs/cot"  # obandits cot's --out default: the sweep goes to OUT/cot-<preset>

#: ``obandits cot`` cell flags honoured under ``--preset``: flag dest -> Bu2025Config field.
FLAG_FIELDS = {"L": "L", "M0": "M0", "M": "M", "C_size": "C_size", "eps": "low_weight",
               "T1": "T1", "T2": "T2", "eta": "eta", "iters": "finetune_iterations",
               "lr": "finetune_lr", "n_rollouts": "n_rollouts", "clip_eps": "clip_eps",
               "ppo_epochs": "ppo_epochs", "k": "K", "n_eval": "num_trials",
               "n_train": "num_trials", "eval_temperature": "temperature", "select_n": "N",
               "reject": "rej_threshold", "kl_beta": "finetune_beta", "kl_tau": "tau"}
#: ``obandits cot`` flags refused under ``--preset``, with the reason.
REFUSED = {"train_task": "their script fine-tunes on TASK1 only",
           "bonus_outcome": "their table has no outcome-bonus methods",
           "c": "their table has no outcome-bonus methods",
           "b0": "their table has no outcome-bonus methods",
           "count_mode": "their table has no outcome-bonus methods",
           "pool": "their samplers return K paths a call (no pool of selected CoTs)",
           "small_grid": "it applies to 'obandits cot sensitivity'"}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: comma-separated seeds and inclusive ranges ``a-b`` (``0-11,13,21``)."""
    out: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            if "-" in item[1:]:
                a, b = (int(x) for x in item.split("-", 1))
                if b < a:
                    raise ValueError
                out += range(a, b + 1)
            else:
                out.append(int(item))
        except ValueError:
            raise ValueError(f"--seeds: {item!r} is not a seed or a range a-b (e.g. "
                             f"--seeds 0-11,13,21)") from None
    for s in out:
        if not 0 <= s < 2**32:
            raise ValueError(f"--seeds: seed {s} is outside [0, 2**32 - 1]")
    if len(set(out)) != len(out):
        raise ValueError(f"--seeds: a seed is repeated in {text!r}")
    return out


def preset_config(preset: str = "bu2025", *, seeds=SEEDS, variants=None, root_seed: int = 0,
                  reps: int = 1, authors_csv=None, **overrides) -> dict:
    """The sweep config (a TOML dict, as ``experiments/cot/bu2025.toml``) of a preset: one cell
    per seed x variant (default: every variant of :data:`~.cells.VARIANTS` and
    :data:`~.cells.MUTANTS`), ``reps`` runs per cell, ``overrides`` (fields of
    :class:`~.config.Bu2025Config`) fixed in every cell; ``authors_csv`` is the authors' runs
    to compare with (default: the committed ones)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = list(range(v.int_scalar("seeds", seeds, min_value=1)))
    seeds = [v.int_scalar(f"seeds[{i}]", s, min_value=0) for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty list")
    variants = [*VARIANTS, *MUTANTS] if variants is None else (
        [variants] if isinstance(variants, str) else list(variants))
    if not variants:
        raise ValueError("variants must name at least one variant, got an empty list")
    for i, x in enumerate(variants):
        if x not in ALL_VARIANTS:
            raise ValueError(f"variants[{i}] must be one of {list(ALL_VARIANTS)}, got {x!r}")
    raw = {"sweep": {"name": f"cot-{preset}", "runner": "bu2025",
                     "root_seed": v.int_scalar("root_seed", root_seed, min_value=0),
                     "reps": v.int_scalar("reps", reps, min_value=1)},
           "fixed": dict(overrides),
           "grid": [{"seed": seeds, "variant": variants}]}
    if authors_csv is not None:
        path = Path(authors_csv).expanduser()
        if not path.is_file():
            raise ValueError(f"--authors-csv: {str(path)!r} is not a file (it must be the "
                             f"authors.csv of `python -m obandits.cot.bu2025 authors`)")
        raw["check"] = {"authors": str(path.resolve())}
    return raw


def run_preset(preset: str = "bu2025", *, seeds=SEEDS, variants=None, root_seed: int = 0,
               reps: int = 1, authors_csv=None, out=None, workers: int | None = None,
               progress: bool = True, reference: bool = False, **overrides):
    """Run a preset through the sweep engine and return its tidy table (pandas DataFrame when
    pandas is importable). ``seeds``: a count or a list of the authors' ``--seed`` values;
    ``variants``: names of :data:`~.cells.VARIANTS` / :data:`~.cells.MUTANTS` (default all);
    ``out``: the sweep directory (default ``runs/cot/cot-<preset>``; with ``reference=True``
    ``docs/data/bu2025/preset``, and ``docs/bu2025.md`` and its figure are rewritten from the
    data files). Keywords that are options of :func:`obandits.sweep.run_sweep` (``threads``,
    ``executor``, ``scheduler``, ``max_cells``, ``max_work``, ``yes``) go there; the rest are
    :class:`~.config.Bu2025Config` fields fixed in every cell."""
    from ...sweep import config_from_dict, read_table, run_sweep

    sweep_keys = ("threads", "executor", "scheduler", "max_cells", "max_work", "yes")
    sweep_kw = {k: overrides.pop(k) for k in sweep_keys if k in overrides}
    raw = preset_config(preset, seeds=seeds, variants=variants, root_seed=root_seed, reps=reps,
                        authors_csv=authors_csv, **overrides)
    cfg = config_from_dict(raw, f"preset {preset}")
    if out is None:
        out = _REPO / DATA_DIR / "preset" if reference else Path(DEFAULT_OUT) / f"cot-{preset}"
    path = run_sweep(cfg, out, workers=workers, progress=progress, **sweep_kw)
    if reference:
        write_doc(out, _REPO / DOC)
    table = read_table(path)
    try:
        import pandas as pd
    except ImportError:
        return table
    return pd.DataFrame(table)


def preset_overrides(args) -> dict:
    """The Bu2025Config fields set by the ``obandits cot`` cell flags given (``reps`` and
    ``root_seed`` included, as sweep settings); ValueError naming a flag that is refused."""
    given = {k: getattr(args, k) for k in getattr(args, "param_dests", ()) if hasattr(args, k)}
    out: dict = {}
    for dest, value in given.items():
        if dest in REFUSED:
            raise ValueError(f"{_flag(dest)} does not apply to --preset bu2025: "
                             f"{REFUSED[dest]}")
        if dest in ("reps", "root_seed"):
            out[dest] = value
            continue
        if dest not in FLAG_FIELDS:
            raise ValueError(f"{_flag(dest)} does not apply to --preset bu2025")
        field = FLAG_FIELDS[dest]
        if field in out and out[field] != value:
            raise ValueError(f"{_flag(dest)} {value} contradicts another flag setting "
                             f"{field} = {out[field]} (their script has one {field})")
        out[field] = value
    return out


def cli_preset(args) -> int:
    """``obandits cot paper --preset NAME``: :func:`run_preset` with the flags of ``obandits
    cot`` honoured or refused (module doc): ``--seeds`` (default: the seeds of the committed
    runs of their script), ``--reps`` (runs per seed), ``--authors-csv``, ``--out`` (the sweep
    goes to ``OUT/cot-NAME``, default ``runs/cot``), the sweep's run options, ``--reference``;
    then prints table 1, table 2 and the claims, and draws the figure (not with
    ``--no-figures``; also copied to ``--figures``)."""
    import shutil

    from ...options import from_args
    from ...results import read_table
    from ...sweep import SweepOptions, read_manifest
    from ..cli import CotOptions

    opts = from_args(CotOptions, args)
    sweep_opts = from_args(SweepOptions, args)
    if opts.small_grid:
        raise ValueError(f"--small-grid does not apply to --preset {opts.preset}: "
                         f"{REFUSED['small_grid']}")
    fields = preset_overrides(args)
    reps, root_seed = fields.pop("reps", 1), fields.pop("root_seed", 0)
    if opts.reference and (fields or opts.seeds or opts.authors_csv or reps != 1
                           or root_seed != 0 or sweep_opts.out):
        raise ValueError("--reference regenerates the committed run (docs/data/bu2025/preset, "
                         "docs/bu2025.md) as it is: no cell flag, --seeds, --reps, --root-seed, "
                         "--authors-csv or --out with it")
    seeds = parse_seeds(opts.seeds) if opts.seeds else SEEDS
    out = (_REPO / DATA_DIR / "preset" if opts.reference else
           Path(sweep_opts.out or DEFAULT_OUT) / f"cot-{opts.preset}")
    kw = sweep_opts.run_kwargs()
    run_preset(opts.preset, seeds=seeds, root_seed=root_seed, reps=reps,
               authors_csv=opts.authors_csv, out=out, workers=kw.pop("workers"),
               progress=kw.pop("progress"), reference=opts.reference, **kw, **fields)
    raw = read_manifest(out)["config"]
    table = read_table(Path(out) / "results.csv")
    print(summarise(table, raw))
    if not opts.no_figures and not opts.reference:
        for p in figures(table, raw, out):
            print(p)
            if opts.figures:
                Path(opts.figures).mkdir(parents=True, exist_ok=True)
                print(shutil.copy(p, Path(opts.figures) / p.name))
    if opts.reference:
        print(f"\nwrote {_REPO / DOC}")
    return 0


def write_doc(sweep_dir, doc=None) -> Path:
    """``docs/bu2025.md`` and its figure from a finished bu2025 sweep directory's data files
    (``results.csv``, ``manifest.json``) and the authors' csv, without rerunning anything."""
    from ...results import atomic_write
    from ...sweep import check_dir, finished

    sweep_dir = Path(sweep_dir)
    doc = _REPO / DOC if doc is None else Path(doc)
    man, runner, table = finished(sweep_dir)
    if runner.name != "bu2025":
        raise ValueError(f"{sweep_dir} is a {runner.name!r} sweep, not bu2025")
    raw = man["config"]
    figs = figures(table, raw, sweep_dir)
    _, claims_md = check_dir(sweep_dir)

    def rel(p) -> str:
        return os.path.relpath(Path(p).resolve(), doc.parent.resolve())

    def from_repo(p) -> str:
        p = Path(p).resolve()
        return os.path.relpath(p, _REPO) if p.is_relative_to(_REPO) else str(p)

    text = DOC_HEAD.format(sweep=from_repo(sweep_dir), figure=rel(figs[0]),
                           authors=_authors_note(raw), fig_cmd=from_repo(figs[0]))
    text += summarise(table, raw) + "\n\n## Every claim row (from `obandits check`)\n\n"
    text += claims_md + "\n"
    atomic_write(doc, text)
    return doc


def _authors_note(raw) -> str:
    from ...results import read_table

    runs = authors_csv_path(raw).with_name("authors_runs.csv")
    if not runs.is_file():
        return "(no authors_runs.csv)"
    t = read_table(runs)
    u = np.asarray(t["user_s"], float)
    return (f"seeds {', '.join(map(str, t['seed'].tolist()))}; CPU time per run "
            f"{np.nanmean(u):.0f} s (min {np.nanmin(u):.0f}, max {np.nanmax(u):.0f})")


DOC_HEAD = """# Bu et al. (2025), reproduced: their table, our preset, and our cleaner definitions

Generated from the data files (do not edit by hand): `{sweep}` (the preset's sweep: tidy
`results.csv`, `manifest.json`) and `docs/data/bu2025/authors.csv` (their script's printed
tables, parsed). Regenerate without rerunning: `python -m obandits.cot.bu2025 doc {sweep}`;
rerun everything: `obandits cot paper --preset bu2025 --reference` (Python:
`obandits.cot.run_preset(reference=True)`). `obandits check {sweep}` prints
the same tables and claims; `obandits plot {sweep}` draws `{fig_cmd}`.

Their script: `multi_task_tmc.py` of github:DakeBU/Distribution-Bias-of-Post-training,
commit 6049bf5, run unchanged: {authors} (command and machine: `docs/data/bu2025/README.md`).
The preset (`experiments/cot/bu2025.toml`, variant `bu2025`) is `Bu2025Config.authors(seed=s)`:
the chain their script builds for seed `s` (`authors_high_edges`), their learner init,
one-path pretraining, one-CoT fine-tuning rules, reward model with N = 15 Monte-Carlo
completions cached per prefix, every quirk on, temperature 1, sampled scoring exactly as they
score (pass@30 over all 200 instances, coverage over 200 x 30 fresh paths, Base from a uniformly
random start). Our random streams are not theirs: agreement is judged within sampling noise.

**The criterion** (`obandits.cot.bu2025.compare`). Their `--seed` picks one of four chains as
well as the random stream, so the preset and their script are compared *paired by seed*: for
each row (strategy, task, metric) and seed, d = preset - authors on the same chain. A *cell* is
a row within a group of seeds (each chain's six seeds, and all seeds); it is outside when the
95% t-interval of the mean d misses 0 (by more than their print precision). A faithful
reproduction still has about 5% of its cells outside, correlated, so the verdict compares two
statistics with their distributions when whole seeds have their sign flipped (what chance alone
gives, correlation kept): the count of outside cells, and the smallest p-value of a row over all
seeds (t-test or sign test, whichever is smaller: a row they print as 100.00% at every seed is
caught even when ours dips by 0.3 points). The preset *agrees* when both p > 0.025 (5% false
alarms in all). Its power is measured
on the same seeds by putting every other variant through the same comparison: the cleaner
definitions and three plainly wrong versions (`k20`: pass@20 reported as pass@30; `n5`: N = 5;
`t05`: scoring at temperature 0.5). Table 1b below lists each one's count and verdict;
`tests/test_bu2025_compare.py` checks them on these data files, and
`python -m bench bu2025 --power R` reruns every variant on R fresh streams (how often each is
judged to agree: `bench/results/bu2025.md`).

Against your own runs of their script (set `OBANDITS_BU2025_SCRIPT`, run it as in
`docs/data/bu2025/README.md`, then `python -m obandits.cot.bu2025 authors LOGDIR OUT`):
`obandits cot paper --preset bu2025 --seeds 42 --reps 8 --authors-csv OUT/authors.csv`; with a
single seed in common, each row is judged by a prediction interval from our 8 runs of it.

![authors vs preset vs clean]({figure})

"""
