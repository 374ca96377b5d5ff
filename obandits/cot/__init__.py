"""Spec 2: the tree-structured Markov chain of reasoning steps (Bu et al. 2025).

Model and kernels:

* :mod:`.chain`       -- the chain, exact layer DP (masses, ``Rex``, PRM potential, DPRM value,
  step advantages, the closed-form KL tilt) and enumeration for small trees;
* :mod:`.instances`   -- question instances, the verifiable reward, exact / Monte-Carlo pass@K;
* :mod:`.learner`     -- the linear-softmax learner and its two-phase pretraining;
* :mod:`.posttrain`   -- REINFORCE, RAFT, PPO-clip, GRPO, rejection, KL penalty, outcome
  bonuses (one compiled loop of small steps), and the methods' exact population gradients;
* :mod:`.select`      -- ORM / soft / PRM best-of-N and DPRM sampling;
* :mod:`.experiments` -- the experiment model: configurations, methods, one seed's numbers.

Pipeline (the experiments (a)-(d) of Spec 2 §4 are sweeps, ``experiments/cot/*.toml``):
:mod:`.runner` (the sweep runner ``cot``), :mod:`.analysis` (tables and claims from a results
table), :mod:`.figures`, :mod:`.cli` (``obandits cot ...``).

Bu et al.'s own script as a preset: the subpackage :mod:`.bu2025` (their configuration,
chain, training rules, reward model, samplers and scoring; the sweep runner ``bu2025``; the
comparison with runs of their script; ``docs/bu2025.md``).
"""

from .bu2025 import Bu2025Config, authors_high_edges, run_preset
from .chain import ChainConfig, TreeChain, build_chain, paper_config, two_task_config
from .experiments import (
    BONUS_METHODS,
    METHODS,
    PAPER_METHODS,
    ExperimentConfig,
    MethodSpec,
    run_seed,
)
from .learner import PretrainConfig
from .posttrain import RLConfig, post_train
from .runner import DEFAULTS, RUNNER, run_cell, validate_cell
from .select import SelectConfig

__all__ = ["BONUS_METHODS", "DEFAULTS", "METHODS", "PAPER_METHODS", "RUNNER", "Bu2025Config",
           "ChainConfig", "ExperimentConfig", "MethodSpec", "PretrainConfig", "RLConfig",
           "SelectConfig", "TreeChain", "authors_high_edges", "build_chain", "paper_config",
           "post_train", "run_cell", "run_preset", "run_seed", "two_task_config",
           "validate_cell"]
