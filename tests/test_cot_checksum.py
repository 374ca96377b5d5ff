"""Bit-identical numbers across refactors of the cot kernels and pipeline: SHA-256 prefixes of
pretraining, every post-training variant, and every cell of table (a) (plus its curves),
computed from main at commit 051fc48 (before the RLConfig renames, the shared count helpers,
the kernel's records and the sweep pipeline of forgetting / bonuses / sensitivity)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from obandits.bonuses import BonusConfig
from obandits.cot import chain as C
from obandits.cot.instances import make_instances
from obandits.cot.learner import PretrainConfig, pretrain
from obandits.cot.posttrain import RLConfig, post_train
from obandits.seeding import rep_states

MAIN = {
    "pretrain/paper": "2d44366237840b42", "pretrain/big": "fa0149e50da23cc9",
    "rl/reinforce": "c86fee94e4cf9e69", "rl/raft": "404db586284593c0",
    "rl/ppo": "4f1fe499c7ae0709", "rl/grpo": "ecb46a5861c14266",
    "rl/reinforce-reject": "56f0323f086f8cd7", "rl/grpo-kl": "506e9fc70e789169",
    "rl/ppo-kl-reject": "90c79cf7d21783ed", "rl/grpo-ucbcon": "af78e4d283541d39",
    "rl/grpo-ucbcon-c1-b0": "65db7a9bce127eb0", "rl/grpo-batch": "ee9b1b4c71e98aa3",
    "rl/grpo-ucbcon-path": "a3ecffdc8ff5f440", "rl/grpo-batch-path": "1a7af0f9ef2543c9",
    "rl/big-grpo-ucbcon": "22f16cbe816db980", "rl/big-ppo-kl": "b49824af78ec0681",
    "cell/base": "e52c99fb973ca5fe", "cell/REINFORCE": "f2d95048696cfe2c",
    "cell/RAFT": "0c3c8533d8bb7e10", "cell/PPO": "aebb5d816019a4c5",
    "cell/GRPO": "3bb47faa0b1c90d9", "cell/REINFORCE+reject": "0bf7305cbee18b6e",
    "cell/GRPO+reject": "b3c33f5db3e723bd", "cell/REINFORCE+KL": "3f6b94b024ed29ea",
    "cell/GRPO+KL": "4a55cdf23ab10a4e", "cell/KL closed form": "d399d08513fe9374",
    "cell/ORM best-of-N": "55e013f8a8969940", "cell/soft best-of-N": "769fc0fae140d3d6",
    "cell/PRM best-of-N": "476a2ffaa69a676c", "cell/DPRM sampling": "7ebf57279e6d0af8",
    "cell/GRPO+UCB-Con": "ab6f4409855ad5f6", "cell/GRPO+Batch": "f3f81e39291dfbae",
    "curve/REINFORCE": "22f39db69ca8e4c5", "curve/RAFT": "972f9368c5839f39",
    "curve/PPO": "21de80c87e7ac9b0", "curve/GRPO": "de918a76a5ad6e01",
    "curve/REINFORCE+reject": "100b6614d4294e79", "curve/GRPO+reject": "be4e898eecd8fa63",
    "curve/REINFORCE+KL": "5b5740425729491d", "curve/GRPO+KL": "978791a4137f727b",
    "curve/GRPO+UCB-Con": "418593e713cdf458", "curve/GRPO+Batch": "f1270fb0715b8517",
}
SMALL = {"T1": 60, "T2": 30, "iters": 16, "n_train": 10, "n_eval": 40, "pool": 60}
COLS = ("easy", "hard", "invalid", "pass_all", "pass_rare", "rejected", "pretrain_error")
UCB = BonusConfig(method="ucb-con")
RL_CASES = [  # name, RLConfig keywords (main's names translated), chain
    ("reinforce", dict(method="reinforce"), "paper"),
    ("raft", dict(method="raft"), "paper"),
    ("ppo", dict(method="ppo", clip_eps=0.1, ppo_epochs=3), "paper"),
    ("grpo", dict(method="grpo", n_rollouts=6), "paper"),
    ("reinforce-reject", dict(method="reinforce", reject=3), "paper"),
    ("grpo-kl", dict(method="grpo", kl_beta=0.7), "paper"),
    ("ppo-kl-reject", dict(method="ppo", kl_beta=0.3, reject=2), "paper"),
    ("grpo-ucbcon", dict(method="grpo", bonus=UCB), "paper"),
    ("grpo-ucbcon-c1-b0", dict(method="grpo", bonus=BonusConfig(method="ucb-con", c=1.0,
                                                                b0=0.3)), "paper"),
    ("grpo-batch", dict(method="grpo", bonus=BonusConfig(method="batch"), n_rollouts=12),
     "paper"),
    ("grpo-ucbcon-path", dict(method="grpo", bonus=UCB, bonus_outcome="path"), "paper"),
    ("grpo-batch-path", dict(method="grpo", bonus=BonusConfig(method="batch"),
                             bonus_outcome="path"), "paper"),
    ("big-grpo-ucbcon", dict(method="grpo", bonus=UCB, n_rollouts=16), "big"),
    ("big-ppo-kl", dict(method="ppo", kl_beta=1.0), "big"),
]


def digest(*arrays) -> str:
    m = hashlib.sha256()
    for a in arrays:
        m.update(np.ascontiguousarray(a).tobytes())
    return m.hexdigest()[:16]


@pytest.mark.parametrize("chain_name", ["paper", "big"])
def test_pretrain_and_post_train_bit_identical_to_main(chain_name):
    c = C.build_chain(C.paper_config() if chain_name == "paper"
                      else C.two_task_config(L=6, M0=3, M=3))
    st = rep_states(11, f"ck/pre/{chain_name}", 1)[0]
    theta0, err = pretrain(c, PretrainConfig(T1=300, T2=100), st)
    assert digest(theta0, err, st) == MAIN[f"pretrain/{chain_name}"]
    inst = make_instances(c, 0, 30, np.random.default_rng(5))
    for name, kw, cn in RL_CASES:
        if cn != chain_name:
            continue
        st2 = rep_states(12, f"ck/rl/{name}", 1)[0]
        r = post_train(c, theta0, inst, RLConfig(iters=120, snap_every=10, **kw), st2)
        got = digest(r.theta, r.snaps, r.snap_iters, r.reward_trace,
                     np.array([r.rejected, r.updates]), st2)
        assert got == MAIN[f"rl/{name}"], name


def _final(cols):
    """The final rows (one per seed x task) of a cell's columns, seed-major."""
    if "iter" not in cols:
        return np.ones(len(cols["rep"]), bool)
    last = {}
    for r, t, it in zip(cols["rep"], cols["task"], cols["iter"]):
        last[(r, t)] = max(last.get((r, t), -1), it)
    return np.array([it == last[(r, t)] for r, t, it in zip(cols["rep"], cols["task"],
                                                            cols["iter"])])


def test_table_a_cells_bit_identical_to_main():
    from obandits.cot.runner import METHODS, RUNNER

    for name in METHODS:
        cols = RUNNER.run_cell({**SMALL, "method": name}, 3, "any", 2)
        sel = _final(cols)
        rows = np.column_stack([np.asarray(cols[c], float)[sel] for c in COLS])
        assert digest(rows) == MAIN[f"cell/{name}"], name


def test_forgetting_curves_bit_identical_to_main():
    """The snapshot rows of ``curves`` cells (stream "forgetting") carry main's curves of
    ``experiment_forgetting`` (rare mass and rare-only pass@K per snapshot)."""
    from obandits.cot.experiments import BONUS_METHODS, RL_ONLY
    from obandits.cot.runner import RUNNER

    for spec in RL_ONLY + BONUS_METHODS:
        cols = RUNNER.run_cell({**SMALL, "method": spec.name, "curves": True,
                                "stream": "forgetting"}, 3, "any", 2)
        parts = []
        for rep in range(2):
            for t in (0, 1):
                sel = (cols["rep"] == rep) & (cols["task"] == t)
                order = np.argsort(cols["iter"][sel])
                parts += [np.asarray(cols["iter"][sel][order], float),
                          cols["hard"][sel][order], cols["pass_rare"][sel][order]]
        assert digest(*parts) == MAIN[f"curve/{spec.name}"], spec.name
