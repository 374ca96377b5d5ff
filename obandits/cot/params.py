"""The cot runner's cell parameters (TOML keys and ``obandits cot`` flags) and their defaults,
from the config dataclasses. This module sits below :mod:`.runner`, :mod:`.analysis` and
:mod:`.figures`, which all read it (so none of them imports another in a circle).
"""

from __future__ import annotations

from dataclasses import fields

from ..bonuses import BonusConfig
from .chain import ChainConfig
from .experiments import ExperimentConfig
from .learner import PretrainConfig
from .posttrain import RLConfig
from .select import SelectConfig

_CHAIN, _PRE, _RL, _SEL, _EXP = (ChainConfig(), PretrainConfig(), RLConfig(), SelectConfig(),
                                 ExperimentConfig())
# A cell's parameters (TOML keys and ``obandits cot`` flags) -> (config dataclass, its field).
CHAIN_KEYS = ("L", "M0", "M", "C_size", "eps")
PRETRAIN_KEYS = ("T1", "T2", "eta")
RL_KEYS = ("iters", "n_rollouts", "lr", "clip_eps", "ppo_epochs", "bonus_outcome")
BONUS_KEYS = ("c", "b0", "count_mode")  # BonusConfig's; its method comes from the cell's method
SELECT_KEYS = {"select_n": "n", "pool": "pool"}
EXPERIMENT_KEYS = ("train_task", "n_train", "n_eval", "k", "eval_temperature", "reject",
                   "kl_beta", "kl_tau")
DEFAULTS: dict = {
    **{k: getattr(_CHAIN, k) for k in CHAIN_KEYS},
    **{k: getattr(_PRE, k) for k in PRETRAIN_KEYS},
    **{k: getattr(_RL, k) for k in RL_KEYS},
    **{k: getattr(BonusConfig(), k) for k in BONUS_KEYS},
    **{k: getattr(_SEL, f) for k, f in SELECT_KEYS.items()},
    **{k: getattr(_EXP, k) for k in EXPERIMENT_KEYS},
    "stream": "paper", "curves": False,
}
HELP: dict = {
    **{f.name: f.metadata.get("help", "") for cls in (RLConfig, ExperimentConfig)
       for f in fields(cls)},
    **{f.name: f.metadata.get("help", "") for f in fields(BonusConfig)},
    "L": "layers of the chain (CoT length)", "M0": "states in layer 0",
    "M": "states per later layer", "C_size": "high successors per state",
    "eps": "low-edge weight (paper: 0.1)", "T1": "pretraining steps at eta",
    "T2": "pretraining steps at eta / 2", "eta": "pretraining step size",
    "select_n": "best-of-N candidates", "pool": "selected CoTs per rule, task and temperature",
    "stream": "name of the random streams (cells of one stream share pretrained models)",
    "curves": "also record every RL snapshot (forgetting curves)",
    "c": "outcome-bonus scale (bonus methods)", "b0": "UCB-Con baseline (bonus methods)",
    "count_mode": "the bonus reads the counts from before the batch ('before') or with it "
                  "('after')",
}
RENAMED = {"group": "n_rollouts", "beta": "kl_beta", "tau": "kl_tau", "seeds": "reps",
           "seed": "root_seed", "clip": "clip_eps", "epochs": "ppo_epochs",
           "bonus_c": "c", "bonus_b0": "b0"}
