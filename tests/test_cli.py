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
