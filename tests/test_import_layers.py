"""No import circles among a simulator's runner, analysis and figures (issue 25): the
constants they share live in a module below them (``params`` / ``cells``), so the graph of
their imports, at module level or inside functions, has no cycle."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "obandits"


def _imports(path: Path, names: set[str]) -> set[str]:
    """The sibling modules among ``names`` that ``path`` imports anywhere in its body."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module in names:
                out.add(node.module)
            elif node.module is None:
                out |= {a.name for a in node.names if a.name in names}
    return out


@pytest.mark.parametrize("package", ["cot", "rlsim", "cot/bu2025"])
def test_no_import_cycle(package):
    folder = PKG / package
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {n: _imports(folder / f"{n}.py", names) for n in names}
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 1:
            raise AssertionError(f"import cycle in obandits/{package}: "
                                 f"{' -> '.join(path[path.index(n):] + [n])}")
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in sorted(graph[n]):
            visit(m, path + [n])
        state[n] = 2

    for n in sorted(graph):
        visit(n, [])
