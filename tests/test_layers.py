"""The formulas' layer does not depend on the experiment machinery: the file helpers it needs
(atomic writes, the pid lock) live in obandits.fileio, below both."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MACHINERY = {"obandits.results", "obandits.sweep", "obandits.runners", "obandits.tables"}


def test_math_modules_import_no_sweep_machinery():
    code = ("import sys, obandits.counts, obandits.bonuses, obandits.metrics, "
            "obandits.seeding, obandits.fileio\n"
            f"print(sorted(m for m in sys.modules if m in {sorted(MACHINERY)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


def test_llm_bridge_takes_file_helpers_from_fileio():
    """No llm_bridge module imports atomic_write or PidLock from the sweep's results module."""
    offenders = []
    for path in sorted((ROOT / "llm_bridge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "obandits.results":
                names = {a.name for a in node.names}
                if names & {"atomic_write", "PidLock", "LOCK", "tmp_name", "lock_pid"}:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
