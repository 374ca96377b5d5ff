"""Two CPU processes (``accelerate launch --num_processes 2``, gloo): the answer counts end
identical on both, and the advantages equal one process's obandits computation on the same
gathered batch, with a group straddling the two processes (6 rows per process, groups of 4).

Run as a script by the test; each process writes what it saw to ``<out>/rank<r>.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def worker(out: str) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_trl_trainer import answer_fn, config, dataset, recording, reward_fn

    from llm_bridge.models import load_tokenizer, tiny_model
    from llm_bridge.trl_trainer import OutcomeBonusGRPOTrainer
    from obandits.bonuses import BonusConfig

    tok = load_tokenizer("tiny")
    tr = recording(OutcomeBonusGRPOTrainer)(
        model=tiny_model(tok, seed=1), args=config(out, per_device_train_batch_size=6,
                                                   max_steps=2),
        train_dataset=dataset(6), reward_funcs=reward_fn, processing_class=tok,
        bonus=BonusConfig(method="ucb-con", c=0.3, b0=0.5), answer_fn=answer_fn)
    tr.train()
    rank = tr.accelerator.process_index
    rec = {"rank": rank, "world": tr.accelerator.num_processes,
           "made": [m.tolist() for m in tr.made],
           "batches": [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in b.items()
                        if k != "seconds"} for b in tr.batches],  # seconds: a local timing
           "history": tr.bonus_state.history.to_dict()}
    Path(out, f"rank{rank}.json").write_text(json.dumps(rec))
    tr.accelerator.wait_for_everyone()
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    # Interpreter teardown with gloo's threads still alive sometimes aborts ("terminate called
    # without an active exception", seen once in a CI run on a loaded machine): the results
    # are written, so leave without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_two_processes_agree_with_one(tmp_path):
    from test_trl_trainer import replay

    from obandits.bonuses import BonusConfig
    from obandits.counts import History

    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        pytest.skip("accelerate CLI not installed")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="1")
    # --multi_gpu only selects the torchrun launcher; with no GPU, accelerate picks gloo
    # (--cpu would select the MPI launcher, which runs a single process without mpirun).
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", __file__, str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["world"], r1["world"]) == (2, 2)
    assert r0["history"] == r1["history"]  # identical counts on both processes
    assert r0["batches"] == r1["batches"]  # the same gathered batch, in the same order
    bonus = BonusConfig(method="ucb-con", c=0.3, b0=0.5)
    expected, hist = replay(r0["batches"], bonus)
    assert History.from_dict(r0["history"]) == hist
    for step, exp in enumerate(expected):
        both = np.concatenate([r0["made"][step], r1["made"][step]])
        np.testing.assert_allclose(both, exp.total, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    worker(sys.argv[1])
