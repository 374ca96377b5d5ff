"""RL as a sampling process (Spec 1 §4): a multi-problem softmax policy model with shared trace
features, a compiled GRPO trainer with the outcome bonuses of :mod:`obandits.bonuses`, base-model
sampling at the same budget, and the experiments behind ``obandits rlsim``."""

from .experiment import ExperimentConfig, claims, run_comparison
from .model import Model, ModelConfig, build_model, from_bandit_instance
from .runner import DEFAULTS, RUNNER, run_cell, validate_cell
from .trainer import RunResult, TrainConfig, policy_probs, run_training

__all__ = ["DEFAULTS", "ExperimentConfig", "Model", "ModelConfig", "RUNNER", "RunResult",
           "TrainConfig", "build_model", "claims", "from_bandit_instance", "policy_probs",
           "run_cell", "run_comparison", "run_training", "validate_cell"]
