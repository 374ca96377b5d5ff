"""The Python API: one call runs a sweep from a dict or a TOML path and returns the table."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import obandits

CONFIG = {"sweep": {"name": "api", "runner": "bandit", "root_seed": 3, "reps": 2},
          "fixed": {"family": "partition", "K": 8, "m": 2, "gap": 0.2, "T": 64},
          "grid": [{"learner": ["ucb1", "outcome-ucb"]}]}


def test_run_dict_and_toml_give_the_same_table(tmp_path, monkeypatch):
    df = obandits.run(CONFIG, out=tmp_path / "a", workers=1)
    assert list(df.columns) == ["cell", "K", "T", "alpha", "checkpoints_per_octave",
                                "correct_mass", "family", "gap", "klucb_c", "learner", "m",
                                "needle_frac", "reward", "zipf_s", "rep", "t", "regret"]
    assert len(df) == 2 * 2 * 7 and set(df["learner"]) == {"ucb1", "outcome-ucb"}
    toml = tmp_path / "c.toml"
    toml.write_text('[sweep]\nname = "api"\nrunner = "bandit"\nroot_seed = 3\nreps = 2\n'
                    '[fixed]\nfamily = "partition"\nK = 8\nm = 2\ngap = 0.2\nT = 64\n'
                    '[[grid]]\nlearner = ["ucb1", "outcome-ucb"]\n')
    monkeypatch.setitem(sys.modules, "pandas", None)  # without pandas: a dict of arrays
    tab = obandits.run(toml, workers=1)
    assert isinstance(tab, dict)
    np.testing.assert_array_equal(tab["regret"], df["regret"].to_numpy())


def test_plot_helper_on_a_table(tmp_path):
    from obandits import plotting

    tab = obandits.run(CONFIG, workers=1)
    fig, axes = plotting.subplots()
    plotting.curves_vs_t(axes[0][0], tab, by="learner")
    assert plotting.save(fig, tmp_path / "f.png").stat().st_size > 5000


def test_the_example_script_runs_unguarded_and_plots(tmp_path):
    """experiments/custom_sweep.py has no ``if __name__ == "__main__"`` guard: its worker
    processes must not rerun it (one sweep, one figure)."""
    script = Path(__file__).resolve().parents[1] / "experiments" / "custom_sweep.py"
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    png = tmp_path / "runs" / "custom" / "regret_vs_T.png"
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("regret_vs_T.png"), res.stdout  # printed once
    assert png.stat().st_size > 5000
    assert len(obandits.read_table(tmp_path / "runs" / "custom" / "results.csv")["rep"]) > 0


def test_exports():
    import obandits.bandit
    import obandits.rlsim

    for mod in (obandits, obandits.bandit, obandits.rlsim):
        assert all(getattr(mod, name) is not None for name in mod.__all__)
    assert obandits.rlsim.RUNNER.name == "rlsim" and obandits.bandit.RUNNER.name == "bandit"
