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
