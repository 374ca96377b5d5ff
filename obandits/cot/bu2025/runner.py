"""Bu et al. (2025) reproduced through the sweep pipeline: runner ``bu2025`` (:data:`RUNNER`).

A cell is one seed of the authors' experiment under one convention: ``seed`` (their ``--seed``;
the chain their script draws for that seed, via
:func:`obandits.cot.bu2025.config.authors_high_edges`) x ``variant``
(:data:`~obandits.cot.bu2025.cells.VARIANTS`: ``"bu2025"``, the exact reproduction with their
quirks on and sampled scoring, or one of our cleaner definitions switched on alone, or all of
them at once, ``"clean"``; :data:`~obandits.cot.bu2025.cells.MUTANTS`: wrong versions for the
comparison's power). Each cell pretrains, fine-tunes the four RL methods and scores their 11
strategies on both tasks (Spec 2 §4 as the authors ran it, ``multi_task_tmc.py``
l.1537-1663). Columns, one row per rep x strategy x task x metric: ``rep``, ``strategy``
(their row names), ``task`` (``TASK1``/``TASK2``), ``metric`` (``pass_at_k``, ``easy``,
``hard``, ``invalid``), ``value`` (a fraction).

The analysis (:mod:`.analysis`, :mod:`.compare`) and the figure (:mod:`.figures`) read the
table alone; :mod:`.preset` runs the preset (``obandits cot paper --preset bu2025``).
"""

from __future__ import annotations

import numpy as np

from ... import _validate as v
from ...runners import Runner
from .analysis import check, summarise
from .cells import CELL_KEYS, METRICS, TILTED_DPRM, cell_config, validate_cell  # noqa: F401
from .figures import figures


def _streams(root_seed: int, seed: int, reps: int):
    """Per rep, independent generators for pretraining, each fine-tuned method and scoring,
    keyed by (root_seed, seed) only: every variant of a seed sees the same draws (paired)."""
    from ...seeding import rep_sequences

    out = []
    for ss in rep_sequences(int(root_seed), f"bu2025/seed={int(seed)}", reps):
        pre, ft, sc = ss.spawn(3)
        out.append((np.random.default_rng(pre), ft, np.random.default_rng(sc)))
    return out


def run_cell(params: dict, root_seed: int, cell_key: str, reps: int) -> dict[str, np.ndarray]:
    """``reps`` runs of the authors' experiment under one convention (module doc): pretrain
    (:func:`.train.pretrain`), fine-tune each of their four methods on one shared TASK1 set
    (:func:`.train.finetune`; PPO's frozen potential table shared with the samplers under
    ``quirk_mc_cache``, as their RewardModel cache is), score the 11 strategies on both tasks
    (:func:`.scoring.score`, sampled or exact). Streams depend on ``(root_seed, seed, rep)``
    only."""
    from .config import build_chain
    from .scoring import potential_key, score, tidy
    from .train import finetune, finetune_instances, ppo_table, pretrain

    p = validate_cell(params)
    reps = v.int_scalar("reps", reps, min_value=1)
    cfg = cell_config(p)
    chain = build_chain(cfg)
    cols: dict[str, list] = {k: [] for k in ("rep", "strategy", "task", "metric", "value")}
    for rep, (rng_pre, ft_seq, rng_score) in enumerate(_streams(root_seed, p["seed"], reps)):
        theta0 = pretrain(chain, cfg, rng_pre)  # own stream: every variant shares it
        ft = np.random.default_rng(ft_seq)
        inst = finetune_instances(chain, cfg, ft)  # one set for every method (l.1620)
        tables: dict = {}
        pot = None
        if "PPO" in cfg.finetune_methods and cfg.rl_variant == "authors":
            pot = ppo_table(chain, cfg, ft)
            if pot is not None and cfg.quirk_mc_cache and cfg.ppo_potential == "mc":
                tables[potential_key(chain, cfg.N)] = pot
        policies = {"pretrained": theta0}
        for m, seq in zip(cfg.finetune_methods, ft_seq.spawn(len(cfg.finetune_methods))):
            policies[m] = finetune(chain, theta0, m, cfg, np.random.default_rng(seq),
                                   reward=inst, pot_table=pot if m == "PPO" else None)
        rows = score(chain, cfg, policies, rng_score, tables=tables) + tilted_dprm(chain, cfg)
        for r in tidy(rows):
            for k in ("strategy", "task", "metric", "value"):
                cols[k].append(r[k])
            cols["rep"].append(rep)
    for k, x in cols.items():
        if k == "value" and not np.all(np.isfinite(np.asarray(x, float))):
            raise ValueError(f"bu2025 cell {p}: a score is not finite")
    return {k: np.asarray(x) for k, x in cols.items()}


def tilted_dprm(chain, cfg) -> list[dict]:
    """Rows (as :func:`.scoring.score`'s) of the diagnostic strategy :data:`TILTED_DPRM`: the
    true chain tilted step by step by ``exp(tau R_DPRM) = E[exp(tau Rex) | prefix]`` (Spec 2's
    DPRM sampling, base-policy factor kept; their sampler, l.856-863, drops it), exact DPRM
    values, scored exactly in both modes; the reward task follows ``quirk_task1_reward`` and
    pass@K's denominator ``denominator``, as their rows do. It isolates the missing base factor
    as the cause of their DPRM row's high rare-CoT share."""
    from ..chain import rex
    from .rewards import dprm_exact_table
    from .samplers import table_node_policies, tree_leaf_probs
    from .scoring import EvalSettings, Plan, _embed, _exact, all_paths, path_classes

    st = EvalSettings.from_config(cfg)
    paths = all_paths(chain)
    rows = []
    for task in range(len(chain.tasks)):
        start = chain.tasks[task][0]
        table = dprm_exact_table(chain, 0 if st.quirk_task1_reward else task, start, st.tau)
        pis = table_node_policies(chain, "tilt", table, start, st.tau, chain.P)
        plan = Plan(st.K, q=_embed(chain, start, tree_leaf_probs(pis)))
        vals = _exact(chain, plan, rex(chain, task, paths), path_classes(chain, task), st)
        rows.append(dict(strategy=TILTED_DPRM, task=f"TASK{task + 1}", k=st.K,
                         **dict(zip(METRICS, vals))))
    return rows


RUNNER = Runner(name="bu2025", validate=validate_cell, run_cell=run_cell, summarise=summarise,
                figures=figures, check=check)
