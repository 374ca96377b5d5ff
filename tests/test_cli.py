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
