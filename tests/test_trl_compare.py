"""llm_bridge.compare end to end on CPU (preset cpu-tiny: tiny model, 2 prompts x 4 rollouts,
8 tokens): three methods through the TRL trainer, tidy logs, table, figure; then one method
interrupted after step 1 resumes from its checkpoint with its counts and log intact."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from llm_bridge import compare  # noqa: E402
from llm_bridge.trl_trainer import COUNTS_FILE  # noqa: E402


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
    assert sum(map(sum, c2["counts"])) == sum(map(sum, c1["counts"])) + 8  # counts continued


def test_bad_arguments(tmp_path, capsys):
    assert compare.main(["--methods", "grpo,ucb-max", "--out", str(tmp_path)]) == 2
    assert "ucb-max" in capsys.readouterr().err
    assert compare.main(["--preset", "cpu-tiny", "--steps", "0", "--out", str(tmp_path)]) == 2
