"""A Numba cache left by an older version of the rlsim kernel is recompiled, not a crash.

Numba unpickles a cache index (signatures included, so the record classes they name) before
it compares the source stamp. An index written when the kernel took records that no longer
exist (``_ScratchRec``, ``_OutRec``) raised ``AttributeError`` on the first run after an
upgrade whenever the kernel's new line number matched an old index file.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import pickle
import sys
import numba
from obandits.rlsim import trainer
from obandits.rlsim.experiment import ExperimentConfig, _run_one

cache_file = trainer._train_kernel._cache._cache_file
for name in sys.argv[1:]:  # one per process: a compiled kernel would not read its index again
    had = hasattr(trainer, name)
    kept = getattr(trainer, name, None)
    old = type(name, (tuple,), {"__module__": "obandits.rlsim.trainer", "__qualname__": name})
    setattr(trainer, name, old)  # as the older version defined it, only to write its index
    data = pickle.dumps(("an older source stamp", {(old,): "gone.nbc"}), protocol=-1)
    if had:
        setattr(trainer, name, kept)
    else:
        delattr(trainer, name)
    with open(cache_file._index_path, "wb") as f:
        pickle.dump(numba.__version__, f, protocol=-1)
        f.write(data)
    cfg = ExperimentConfig()
    res = _run_one(cfg, cfg.methods[0], 0)
    print(name, "ok", int(res.samples[-1]))
"""


@pytest.mark.parametrize("record", ["_ScratchRec", "_OutRec"])
def test_an_index_naming_a_removed_record_is_recompiled(tmp_path, record):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, record], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"{record} ok ")
