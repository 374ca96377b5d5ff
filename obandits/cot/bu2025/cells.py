"""The cells of the ``bu2025`` runner: conventions (:data:`VARIANTS`), wrong versions for the
comparison's power (:data:`MUTANTS`), validation, and the chain a cell's seed builds.

A cell is one seed of the authors' experiment (their ``--seed``: with the default
``chain_from_seed`` the chain their script draws for that seed,
:func:`obandits.cot.bu2025.config.authors_high_edges`) under one variant. This module sits
below the runner, the analysis and the figures, which all read its constants.
"""

from __future__ import annotations

from dataclasses import fields

from ... import _validate as v
from .config import Bu2025Config
from .samplers import MAX_TAS_PATHS

METRICS = ("pass_at_k", "easy", "hard", "invalid")
TASKS = ("TASK1", "TASK2")
#: The exact reproduction: Bu2025Config.authors(seed=...), their quirks on, sampled scoring.
PRESET = "bu2025"
PRESETS = (PRESET,)

#: Conventions: the exact reproduction (their quirks on, sampled scoring, the seed's chain),
#: each cleaner definition switched on alone from it, and all of them at once (``clean``).
#: ``set`` = the Bu2025Config fields changed from ``Bu2025Config.authors(seed=...)``.
VARIANTS: dict[str, dict] = {
    PRESET: {"set": {}, "help": "their script: quirks on, sampled scoring, the seed's chain"},
    "group_rl": {"set": {"rl_variant": "group"},
                 "help": "group RL (8 CoTs per iteration, 2 PPO epochs, ratio clip)"},
    "exact": {"set": {"scoring": "exact"},
              "help": "exact metrics at T = 1 (expectations, no sampling noise)"},
    "solvable": {"set": {"denominator": "solvable"},
                 "help": "pass@K over solvable instances only"},
    "per_task": {"set": {"quirk_task1_reward": False},
                 "help": "per-task rewards (TASK2's CoTs scored with TASK2's reward)"},
    "base_task": {"set": {"base_start": "task"},
                  "help": "'Base' samples the true chain from the task's start"},
    "bon_select": {"set": {"quirk_orm_bon_all": False},
                   "help": "ORM-BoN selects even when N < K"},
    "fresh_mc": {"set": {"quirk_mc_cache": False},
                 "help": "a fresh Monte-Carlo estimate per reward-model call (no run-long "
                         "cache)"},
}
VARIANTS["clean"] = {
    "set": {k: x for name, d in VARIANTS.items() if name != PRESET for k, x in d["set"].items()},
    "help": "all of the above at once (our conventions)"}

#: Plainly wrong versions of the reproduction (issue 25), run only to show the comparison's
#: power: each must disagree with the authors' runs while the preset agrees.
MUTANTS: dict[str, dict] = {
    "k20": {"set": {"K": 20}, "help": "pass@20 (and 20 paths a call) reported as pass@30"},
    "n5": {"set": {"N": 5}, "help": "N = 5 best-of-N candidates and Monte-Carlo completions"},
    "t05": {"set": {"temperature": 0.5}, "help": "every policy scored at temperature 0.5 (their "
                                                 "PARAMS' unread value)"},
}
ALL_VARIANTS = {**VARIANTS, **MUTANTS}

#: A diagnostic row beside their 11: Spec 2's DPRM sampler, which keeps the base policy.
TILTED_DPRM = "DPRM (base-tilted)"
#: The seeds of the committed runs of their script (docs/data/bu2025/authors.csv): the preset's
#: default: six for each of the four chains their script can build (paper shape).
SEEDS = (*range(15), 16, 18, 21, 22, 24, 26, 28, 32, 34)
CELL_KEYS = ("seed", "variant")


def cell_config(p: dict) -> Bu2025Config:
    """The :class:`~obandits.cot.bu2025.config.Bu2025Config` of a validated cell: the authors'
    own (``Bu2025Config.authors``, the chain of ``seed``), the variant's switches, then any
    field the cell sets explicitly."""
    base = Bu2025Config.authors(seed=p["seed"])
    extra = {k: x for k, x in p.items() if k not in CELL_KEYS}
    return base.with_(**{**ALL_VARIANTS[p["variant"]]["set"], **extra})


def validate_cell(params: dict) -> dict:
    """Fill defaults (``seed`` 42, ``variant`` "bu2025") and check every field (ValueError
    naming it); other keys are :class:`~obandits.cot.bu2025.config.Bu2025Config` fields."""
    if not isinstance(params, dict):
        raise ValueError(f"bu2025 cell must be a table of parameters, got {params!r}")
    allowed = sorted({*CELL_KEYS, *(f.name for f in fields(Bu2025Config))})
    for k in params:
        if k not in allowed:
            from ...sweep import did_you_mean

            raise ValueError(f"unknown bu2025 parameter {k!r}{did_you_mean(k, allowed)}; "
                             f"allowed: {', '.join(allowed)}")
    p = {"seed": 42, "variant": PRESET, **params}
    v.int_scalar("seed", p["seed"], min_value=0, max_value=2**32 - 1)
    if p["variant"] not in ALL_VARIANTS:
        from ...sweep import did_you_mean

        raise ValueError(f"variant must be one of {list(ALL_VARIANTS)}, got {p['variant']!r}"
                         f"{did_you_mean(p['variant'], ALL_VARIANTS)}")
    for k in ("high_edges", "finetune_methods"):
        if k in p and isinstance(p[k], list):  # TOML arrays
            p[k] = tuple(tuple(x) if isinstance(x, list) else x for x in p[k])
    cfg = cell_config(p)  # the dataclass validates every field (zero budgets, edge lists ...)
    n_paths = cfg.M0 * cfg.M ** (cfg.L - 1)
    if n_paths > MAX_TAS_PATHS:
        raise ValueError(f"L={cfg.L}, M0={cfg.M0}, M={cfg.M} give {n_paths} paths; their "
                         f"ORM-TAS row is scored by enumerating its candidate sets, over at most "
                         f"{MAX_TAS_PATHS} paths (e.g. L <= 4 with M0 = M = 2)")
    return p


def chain_label(edges) -> str:
    """A short name of a chain: the high successors of each state, states in order (layer by
    layer), ``.`` between states; e.g. ``0.0.0.1.01.0`` for the seed-42 chain."""
    by: dict = {}
    for layer, state, nxt in edges:
        by.setdefault((layer, state), []).append(nxt)
    return ".".join("".join(str(j) for j in sorted(by[k])) for k in sorted(by))


def chain_of(seed: int, fixed: dict | None = None) -> str:
    """:func:`chain_label` of the chain a preset cell with this ``seed`` (and the sweep's
    ``[fixed]`` fields) builds."""
    return chain_label(cell_config(validate_cell({**(fixed or {}), "seed": int(seed)}))
                       .chain_edges())
