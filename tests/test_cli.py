"""End-to-end tests of the `obandits` command's foundation subcommands."""

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "obandits", *args], capture_output=True,
                          text=True, timeout=300)


def test_demo_prints_a_table_of_every_method():
    out = run("demo")
    assert out.returncode == 0, out.stderr
    for m in ("A[none]", "A[ucb]", "A[ucb-mean]", "A[ucb-con]", "A[batch]"):
        assert m in out.stdout
    assert "nan" not in out.stdout.lower()


def test_bad_argument_gives_a_clear_error_and_status_2():
    out = run("demo", "--c", "-1")
    assert out.returncode == 2
    assert "c must be >= 0.0, got -1.0" in out.stderr
    assert "Traceback" not in out.stderr


def test_help_is_fast_and_imports_neither_numpy_nor_torch():
    code = ("import sys, time; t = time.perf_counter(); from obandits import cli; "
            "cli.build_parser(None).format_help(); "
            "print(time.perf_counter() - t, 'numpy' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    secs, numpy, torch = out.stdout.split()
    assert numpy == torch == "False", out.stdout
    out = run("--help")
    assert out.returncode == 0 and "llm" in out.stdout and "sweep" in out.stdout


def test_llm_forwards_its_arguments(monkeypatch):
    import types

    from obandits.cli import main

    seen = []
    fake = types.ModuleType("llm_bridge.cli")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "llm_bridge.cli", fake)
    assert main(["llm", "train", "--steps", "2", "--debug"]) == 0
    assert seen == [["train", "--steps", "2", "--debug"]]


def test_main_steps_write_under_runs(tmp_path, capsys):
    from obandits import cli

    assert all(callable(getattr(cli, f)) for _, f in cli.MAIN_STEPS)
    assert cli._step_demo(tmp_path / "runs", False) == str(tmp_path / "runs" / "demo.md")
    assert "A[ucb-con]" in (tmp_path / "runs" / "demo.md").read_text()


def test_main_step_bu2025_runs_the_preset_sweep_and_judges_every_row(tmp_path, capsys):
    """The headline job's Bu et al. step: the committed sweep config into runs/, table 1 set
    against the authors' parsed runs (every one of their rows present), claims judged."""
    from obandits import cli
    from obandits.sweep import read_table

    out = cli._step_bu2025(tmp_path, False)
    table = read_table(tmp_path / "cot-bu2025" / "results.csv")
    assert out == str(tmp_path / "cot-bu2025")
    assert set(table["variant"]) >= {"bu2025", "clean"} and len(set(table["seed"])) >= 10
    text = capsys.readouterr().out
    assert "Verdict: the preset agrees with the authors' script" in text
    assert "verdict changes?" in text
