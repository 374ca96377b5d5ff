"""`obandits main`: each step writes its verdicts to checks.md in its folder, the final
summary prints every verdict in one table, and --steps picks steps (one line when unknown)."""

from obandits.cli import MAIN_STEPS, main


def test_steps_write_checks_and_the_summary_lists_every_verdict(tmp_path, capsys):
    assert main(["main", "--steps", "bu2025,demo", "--runs", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    checks = tmp_path / "m" / "cot-bu2025" / "checks.csv"
    assert (checks.parent / "checks.md").is_file()
    n = len(checks.read_text().splitlines()) - 1
    table = out.split("Every verdict", 1)[1]
    assert sum(line.startswith("| bu2025 ") for line in table.splitlines()) == n > 0
    assert "=== obandits main: bonus demo ===" in out
    assert not any("rlsim" in line for line in out.split("summary ===")[1].splitlines())


def test_unknown_step_is_one_line_and_runs_nothing(tmp_path, capsys):
    assert main(["main", "--steps", "demo,nope", "--runs", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    names = ", ".join(f.removeprefix("_step_").replace("_", "-") for _, f in MAIN_STEPS)
    assert err == (f"obandits: error: --steps must be comma-separated names from {names}, "
                   f"got 'demo,nope'")
    assert not (tmp_path / "m").exists()


def test_a_step_whose_extra_is_missing_is_skipped_by_the_full_job_and_refused_by_name(
        tmp_path, capsys, monkeypatch):
    """Without the trl extra the full job skips the cot-lm step in one line and goes on;
    `--steps cot-lm` (and a cot-lm sweep) is refused before any work, naming the extra."""
    import obandits.cli as cli
    from llm_bridge.cot_lm import runner

    monkeypatch.setattr(runner, "missing_packages", lambda: ["torch", "trl"])
    monkeypatch.setattr(cli, "MAIN_STEPS", [t for t in MAIN_STEPS
                                            if t[1] in ("_step_demo", "_step_cot_lm")])
    assert main(["main", "--runs", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert ("skipped: this step needs the trl extra (missing: torch, trl): pip install "
            "'obandits[trl]'") in out
    assert not (tmp_path / "m" / "cot-lm-main").exists()
    assert main(["main", "--steps", "cot-lm", "--runs", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'obandits[trl]'" in err
    assert not (tmp_path / "n" / "cot-lm-main").exists()
