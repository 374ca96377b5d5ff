"""The rlsim runner's cell parameters and the series of its tables: defaults from the config
dataclasses, the ``ks`` parser and a cell's :class:`~obandits.rlsim.experiment.ExperimentConfig`.
This module sits below :mod:`.runner`, :mod:`.analysis` and :mod:`.figures`, which all read it
(so none of them imports another in a circle).
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from ..bonuses import BonusConfig
from .experiment import BASE, ExperimentConfig
from .model import ModelConfig
from .trainer import TrainConfig

# Model fields a cell may set (the seed is per repetition); TrainConfig fields under the shared
# names, the same as the trainer's; old TOML spellings are refused with the new name.
MODEL_KEYS = tuple(f.name for f in fields(ModelConfig) if f.name != "seed")
TRAIN_KEYS = ("n_rollouts", "batch_prompts", "steps", "lr_theta", "lr_w", "kl_beta", "n_evals",
              "hard_q")
BONUS_KEYS = ("c", "b0", "count_mode", "scale", "all_correct_rule", "eps", "ddof")
_D_MODEL, _D_TRAIN, _D_BONUS = ModelConfig(), TrainConfig(), BonusConfig()
DEFAULTS: dict = {
    **{k: getattr(_D_MODEL, k) for k in MODEL_KEYS},
    **{k: getattr(_D_TRAIN, k) for k in TRAIN_KEYS},
    **{k: getattr(_D_BONUS, k) for k in BONUS_KEYS},
    "b0": ExperimentConfig.b0, "c": ExperimentConfig.c,
    "ks": ",".join(str(k) for k in _D_TRAIN.ks), "early_frac": ExperimentConfig.early_frac,
}
REQUIRED = ("method",)
SERIES = ("samples", "solved", "distinct_all", "distinct_unsolved", "n_unsolved",
          "distinct_hard", "solved_hard", "train_pass1", "test_entropy")
PAIRS = ("ent_sum", "ent_cnt", "grp_dist", "grp_cnt")  # (E, 2) -> columns name0, name1


def _ks(value) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else [value] if np.isscalar(value) \
        else list(value)
    try:
        ks = tuple(int(str(k).strip()) for k in items)
    except ValueError:
        raise ValueError(f"ks must be comma-separated positive integers, got {value!r}") from None
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be comma-separated positive integers, got {value!r}")
    return ks


def _config(p: dict) -> ExperimentConfig:
    model = ModelConfig(**{k: p[k] for k in MODEL_KEYS})
    bonus = BonusConfig(**{k: p[k] for k in BONUS_KEYS if k not in ("c", "b0")})
    train = TrainConfig(bonus=bonus, ks=_ks(p["ks"]),
                        **{k: p[k] for k in TRAIN_KEYS})
    method = p["method"]
    return ExperimentConfig(model=model, train=train,
                            methods=("none",) if method == BASE else (method,), c=p["c"],
                            b0=p["b0"], early_frac=p["early_frac"])
