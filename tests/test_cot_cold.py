"""Cold start of a cot cell (issue 16): what a fresh process compiles, and the contracts the
compile-time savings rely on (the trace switch, the gradient buffer left at zero, the
helpers that run as plain Python from Python). The CPU-time figures live in
bench/results/cot.md, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from obandits.cot import chain as C
from obandits.cot.learner import (
    PretrainConfig,
    apply_grad3,
    draw,
    policy,
    pretrain,
    row_softmax,
    sample_path,
)
from obandits.cot.posttrain import _correct, outcomes
from obandits.seeding import rep_states

ROOT = Path(__file__).resolve().parents[1]


def test_pretrain_without_trace_gives_the_same_model_and_stream():
    c = C.build_chain(C.paper_config())
    cfg = PretrainConfig(T1=40, T2=20, err_every=7)
    s1, s2 = (rep_states(3, "cold/pre", 1)[0] for _ in range(2))
    th1, err = pretrain(c, cfg, s1)
    th2, none = pretrain(c, cfg, s2, trace=False)
    assert none is None and err.shape == (60 // 7,) and np.all(err > 0)
    np.testing.assert_array_equal(th1, th2)
    np.testing.assert_array_equal(s1, s2)


def test_apply_grad3_steps_and_clears_the_gradient():
    rng = np.random.default_rng(0)
    theta, grad = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    want = theta + 0.3 * grad
    apply_grad3(0.3, grad, theta)  # plain Python here
    np.testing.assert_array_equal(theta, want)
    assert not grad.any()


def test_helpers_run_as_plain_python_and_match_the_compiled_kernels():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(3, 4, 4))
    out = np.empty(4)
    row_softmax(theta, 1, 2, 0.5, out)
    np.testing.assert_allclose(out, policy(theta, 2.0)[1, 2], rtol=1e-15)
    # draw from Python and sample_path (compiled) consume the stream the same way
    st_py, st_nb = (rep_states(5, "cold/draw", 1)[0] for _ in range(2))
    path = np.empty(4, np.int64)
    sample_path(theta, 1, 1.0, st_nb, np.empty(4), path)
    want = [1]
    for l in range(3):
        row_softmax(theta, l, want[-1], 1.0, out)
        want.append(draw(st_py, out))
    assert path.tolist() == want
    np.testing.assert_array_equal(st_py, st_nb)
    # _correct bisects the instance's sorted codes; outcomes codes the states after the start
    paths = np.array([[0, 1, 3, 2], [0, 2, 0, 1]])
    codes, ptr = np.array([4, 7, 13]), np.array([0, 3])
    assert _correct(paths[0], 2, 4, ptr, codes, 0) == 1.0  # code 1 * 4 + 3 = 7
    assert _correct(paths[1], 2, 4, ptr, codes, 0) == 0.0  # ends at 1, not the target 2
    o = np.empty(2, np.int64)
    outcomes(paths, 4, True, o)
    assert o.tolist() == [1 * 16 + 3 * 4 + 2, 2 * 16 + 0 * 4 + 1]
    outcomes(paths, 4, False, o)
    assert o.tolist() == [2, 1]


PROBE = r"""
import json, sys
from numba.core import event
rec = event.RecordingListener(); event.register("numba:compile", rec)
from obandits.cot import runner
runner.run_cell({'method': 'GRPO'}, 0, 'cold', 1)
seen = []
for _ts, ev in rec.buffer:
    if ev.is_start:
        d = ev.data['dispatcher']
        seen.append([d.py_func.__module__, d.py_func.__qualname__, str(ev.data['args'])])
json.dump(seen, sys.stdout)
"""


def test_a_cold_grpo_cell_compiles_each_cot_function_once_and_not_the_trace(tmp_path):
    """A fresh process with an empty Numba cache: the cot functions a GRPO cell compiles,
    each for one signature (a second compilation of a helper, an IR-inlined copy or the
    pretraining trace would cost cold-start time)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=600)
    seen = json.loads(res.stdout)
    cot = [(m.rsplit(".", 1)[1], q) for m, q, _a in seen if m.startswith("obandits.cot.")]
    assert sorted(set(cot)) == sorted({
        ("learner", "pretrain_steps"), ("learner", "row_softmax"), ("learner", "apply_grad3"),
        ("learner", "sample_path"), ("learner", "draw"), ("posttrain", "posttrain_nb"),
        ("posttrain", "_correct"), ("posttrain", "outcomes")})
    assert len(cot) == len(set(cot)), f"compiled more than once: {cot}"
    assert "ol_max" not in {q.split(".")[0] for _m, q, _a in seen}  # row_softmax: no max()
