"""Bu et al. (2025)'s own Markov-CoT experiment as a preset (issue 14, issue 25): their script
(``multi_task_tmc.py`` of github:DakeBU/Distribution-Bias-of-Post-training, commit 6049bf5)
reproduced, beside runs of it, with each of our cleaner definitions switched on alone.

Modules, lowest first (each imports only those above it):

* :mod:`.config`   -- :class:`Bu2025Config` (their ``PARAMS``, conventions, quirk switches) and
  the chain their ``--seed`` builds (:func:`authors_high_edges`, :func:`build_chain`);
* :mod:`.train`    -- their learner init, pretraining and fine-tuning rules;
* :mod:`.rewards`  -- their reward model (Monte-Carlo / exact PRM potentials, DPRM values);
* :mod:`.samplers` -- their inference-time samplers as path distributions;
* :mod:`.moments`, :mod:`.scoring` -- pass@K and coverage of their 11 strategies, sampled as
  they score or exactly;
* :mod:`.cells`    -- the runner's cells: variants, mutants, validation, a seed's chain;
* :mod:`.authors`  -- their script's location (``$OBANDITS_BU2025_SCRIPT``) and output parsers;
* :mod:`.compare`  -- the preset against their runs: paired by seed, per row and per chain;
* :mod:`.analysis`, :mod:`.figures` -- tables, claims and the figure of a sweep;
* :mod:`.runner`   -- the sweep runner ``bu2025`` (:data:`~.runner.RUNNER`);
* :mod:`.preset`   -- :func:`run_preset` (``obandits cot paper --preset bu2025``) and
  ``docs/bu2025.md``; ``python -m obandits.cot.bu2025 authors|doc ...``.
"""

from .config import FINETUNE_METHODS, TASKS, Bu2025Config, authors_high_edges, build_chain
from .preset import run_preset

__all__ = ["FINETUNE_METHODS", "TASKS", "Bu2025Config", "authors_high_edges", "build_chain",
           "run_preset"]
