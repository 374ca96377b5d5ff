"""Outcome bandits (Spec 1 §3-5): instance families, learners, the sweep runner, the theorem
checks (tables in, claims out) and their figures."""

from .analysis import claims, minimax_table
from .instances import FAMILIES, REWARDS, BanditInstance, make_instance
from .learners import LEARNERS, LearnerConfig, checkpoints, run_learner
from .params import DEFAULTS, REQUIRED
from .runner import RUNNER, run_cell, validate_cell

__all__ = ["BanditInstance", "DEFAULTS", "FAMILIES", "LEARNERS", "LearnerConfig", "REQUIRED",
           "REWARDS", "RUNNER", "checkpoints", "claims", "make_instance", "minimax_table",
           "run_cell", "run_learner", "validate_cell"]
