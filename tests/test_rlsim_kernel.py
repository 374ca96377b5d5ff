"""The rlsim training kernel against checksums of main's outputs before its restructuring.

``_train_kernel`` was one 221-line function with a 27-tuple return; it is now records of
arrays and step functions. Every output array (parameters, counts, checkpoint series, regret,
the audit trace) of runs over every bonus method, both count modes, deterministic and
Bernoulli rewards, with and without the KL term, GRPO and base sampling, hashes to the values
computed with main at commit 051fc48 (before the change). A SHA-256 of the raw bytes: any
bit that moves fails. (The floats go through libm's exp/log, so a platform with a different
libm may differ in the last bit; the values are from x86-64 Linux, glibc.)
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from obandits.bonuses import METHODS, BonusConfig
from obandits.rlsim.experiment import BASE, ExperimentConfig, _run_one
from obandits.rlsim.model import ModelConfig, build_model
from obandits.rlsim.trainer import RunResult, TrainConfig, run_training

ARRAYS = ("samples", "solved", "distinct_all", "distinct_unsolved", "n_unsolved",
          "distinct_hard", "solved_hard", "train_pass1", "test_pass", "test_entropy",
          "ent_sum", "ent_cnt", "grp_dist", "grp_cnt", "regret", "theta", "w", "counts",
          "steps")


def _update(h, res: RunResult) -> None:
    """Every output array of ``res`` (dtype, shape and bytes) into the hash ``h``."""
    items = [(name, getattr(res, name)) for name in ARRAYS]
    items += [(f"trace/{k}", res.trace[k]) for k in sorted(res.trace)]
    items.append(("n_hard", np.array(res.n_hard)))
    for name, a in items:
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())


def small_runs_digest(method: str) -> str:
    """Runs of ``method`` on a small model: count modes x reward kinds x KL x learning."""
    model = build_model(ModelConfig(n_train=12, n_test=6, n_traces=10, n_answers=5, seed=3))
    h = hashlib.sha256()
    for count_mode in ("before", "after"):
        for m in (model, replace(model, reward="bernoulli")):
            for beta in (0.0, 0.3):
                bonus = BonusConfig(method=method, c=0.7, b0=0.5, count_mode=count_mode)
                cfg = TrainConfig(bonus=bonus, n_rollouts=4, batch_prompts=5, steps=13, n_evals=4,
                                  kl_beta=beta, trace_steps=3)
                for learn in (True, False):
                    _update(h, run_training(m, cfg, seed=1, rep=2, learn=learn))
    return h.hexdigest()


def default_run_digest(method: str) -> str:
    """One run of the default comparison (the cold-start unit of docs/speed.md)."""
    h = hashlib.sha256()
    _update(h, _run_one(ExperimentConfig(), method, 0))
    return h.hexdigest()


SMALL = {
    "none": "6c049b531e09c128d9918ee05abca86c814600794db34fd7410b43a379e6ccbf",
    "ucb": "b5b9fb426b32eaaecf410a11644eeb4904d5ac3407bb3e28d96402135e612ac3",
    "ucb-mean": "ab7d5107e71cb69d0f3628007c45a0ed2cb4e17e85c14e0dfb1ea6b5dd62ac4c",
    "ucb-con": "aec10dc893f6ac68887c6ef8f77c86b2e09410fa386d339ef9fa5dbba9b153c7",
    "batch": "8e123096d715487b93792646923ba749b3d9db66428c1e81ebcfa7696640f81e",
}
DEFAULT = {
    "none": "7b14053fcc34572bc5f4770f960ce551a87d462ea284ded6a043128cb7939f9e",
    BASE: "bb36bbe3a91927f4b0c0a06718607a7c096b238e4b8b690c6098cd87ebcbe0f6",
}


@pytest.mark.parametrize("method", METHODS)
def test_small_runs_are_bit_identical_to_main_before_the_records(method):
    assert small_runs_digest(method) == SMALL[method]


@pytest.mark.parametrize("method", ["none", BASE])
def test_a_default_run_is_bit_identical_to_main_before_the_records(method):
    assert default_run_digest(method) == DEFAULT[method]
