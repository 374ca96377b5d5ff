"""Scoring of Bu et al.'s table (issue 14): pass@K and coverage, sampled as their script does
and exactly in expectation. The reward model and the samplers live in
:mod:`obandits.cot.bu2025_samplers` and are re-exported here.

Line numbers ``l.N`` refer to ``multi_task_tmc.py`` of DakeBU/Distribution-Bias-of-Post-training
at commit 6049bf5.
"""

from __future__ import annotations

from .bu2025_samplers import (  # noqa: F401  (public API of the evaluation side)
    chain_cdf,
    dprm_exact,
    dprm_exact_table,
    dprm_mc,
    dprm_mc_table,
    mc_potential,
    mc_potential_table,
    mc_reward_nb,
    potential_exact,
    potential_exact_table,
    prefixes_at,
)
