"""llm_bridge.compare end to end on CPU (preset cpu-tiny: a tiny model answering one digit on
one-digit sums, 4 prompts x 8 rollouts): three methods through the TRL trainer, rewards that
vary, each method's bonus as its formula says, tidy logs (entropy split, timings), table,
figure; then one method interrupted after step 1 resumes from its checkpoint with its counts
and log intact."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("trl")

from llm_bridge import compare  # noqa: E402
from llm_bridge.trl_trainer import COUNTS_FILE  # noqa: E402
from obandits.bonuses import BonusConfig, shaped_advantages  # noqa: E402


def _log(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_cpu_tiny_end_to_end_and_resume(tmp_path, capsys):
    assert compare.main(["--preset", "cpu-tiny", "--steps", "1", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "summary.md").read_text()
    for m in ("grpo", "ucb-con", "batch"):
        assert f" {m} |" in table
        recs = _log(tmp_path / m / "log.jsonl")
        # TRL calls on_step_end (our evaluation) before on_log (the step's train record).
        assert sorted((r["step"], r["kind"]) for r in recs) == [(0, "eval"), (1, "eval"),
                                                               (1, "train")]
        train = [r for r in recs if r["kind"] == "train"][0]
        assert 0.0 <= train["reward"] <= 1.0 and train["distinct_so_far"] >= 1
        assert (tmp_path / m / "checkpoint-1" / COUNTS_FILE).is_file()
        assert train["entropy_all"] > 0 and train["entropy_incorrect"] is not None
        assert train["step_seconds"] > 0 and train["gen_seconds"] > 0
        assert 0 < train["gen_seconds"] < train["step_seconds"] and train["gen_tokens_per_s"] > 0
    # The methods' step-1 advantages differ exactly by their bonus formulas (same rollouts).
    bonus = {m: _log(tmp_path / m / "bonus.jsonl")[0] for m in ("grpo", "ucb-con", "batch")}
    first = bonus["grpo"]
    assert 0 < sum(first["reward"]) < len(first["reward"])  # some answers right, some wrong
    n = compare.PRESETS["cpu-tiny"]["n_rollouts"]
    for m, rec in bonus.items():
        assert rec["answers"] == first["answers"] and rec["reward"] == first["reward"]
        ids = {}
        outcome = np.array([ids.setdefault((k, str(a)), len(ids))
                            for k, a in zip(rec["prompt_keys"], rec["answers"])])
        group = np.arange(len(outcome)) // n
        cfg = BonusConfig(method=compare.METHODS[m], c=0.2, b0=0.5)
        exp = shaped_advantages(group, outcome, np.array(rec["reward"]),
                                np.array(rec["count"]), cfg).bonus
        np.testing.assert_allclose(rec["bonus"], exp, atol=1e-12)
    assert not np.any(bonus["grpo"]["bonus"])
    assert np.any(bonus["ucb-con"]["bonus"]) and np.any(bonus["batch"]["bonus"])
    assert not np.allclose(bonus["ucb-con"]["bonus"], bonus["batch"]["bonus"])
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert "held-out pass@1" in capsys.readouterr().out  # progress lines
    # Interrupted "batch": not done; the resumed run continues at step 2 from checkpoint-1.
    (tmp_path / "batch" / "done.json").unlink()
    assert compare.main(["--preset", "cpu-tiny", "--steps", "2", "--methods", "batch",
                         "--out", str(tmp_path), "--resume"]) == 0
    recs = _log(tmp_path / "batch" / "log.jsonl")
    assert sorted((r["step"], r["kind"]) for r in recs) == [
        (0, "eval"), (1, "eval"), (1, "train"), (2, "eval"), (2, "train")]
    c1 = json.loads((tmp_path / "batch" / "checkpoint-1" / COUNTS_FILE).read_text())
    c2 = json.loads((tmp_path / "batch" / "checkpoint-2" / COUNTS_FILE).read_text())
    assert sum(map(sum, c2["counts"])) == sum(map(sum, c1["counts"])) + 32  # counts continued


def test_bad_arguments(tmp_path, capsys):
    assert compare.main(["--methods", "grpo,ucb-max", "--out", str(tmp_path)]) == 2
    assert "ucb-max" in capsys.readouterr().err
    assert compare.main(["--preset", "cpu-tiny", "--steps", "0", "--out", str(tmp_path)]) == 2


def test_gpu_preset_refused_without_gpu(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert compare.main(["--out", str(tmp_path)]) == 2  # the default preset is gpu
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--preset cpu" in err and "cpu-tiny" in err
    assert not any(tmp_path.iterdir())  # nothing started


def test_train_record_step_and_generation_times():
    logs = {"reward": 0.5, "completions/mean_length": 2.0, "step_time": 4.0,
            "time/generate": 1.0, "entropy/incorrect": 0.7}
    rec = compare.train_record(logs, step=3, method="batch", batch=16, fallback_seconds=9.0)
    assert rec["step_seconds"] == 4.0 and rec["gen_tokens_per_s"] == 32.0
    assert rec["entropy_incorrect"] == 0.7
    del logs["step_time"], logs["time/generate"]
    rec = compare.train_record(logs, step=3, method="batch", batch=16, fallback_seconds=9.0)
    assert rec["step_seconds"] == 9.0 and rec["gen_tokens_per_s"] is None
