"""The package's layout rules (issue 20): a folder per job, dependencies one way, small modules."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tap_x_dm"
MAX_LINES = 400


def modules() -> Iterator[Path]:
    return (path for path in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts)


def unit_of(path: Path) -> str:
    """The folder a module belongs to (`sync`), or the top-level module's own name (`tap`)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_units(path: Path) -> Iterator[tuple[str, int]]:
    """The package's units `path` imports when it runs (type-checking imports left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if module == "tap_x_dm":
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif module.startswith("tap_x_dm."):
            yield module.split(".")[1], node.lineno


def dependencies() -> dict[str, dict[str, str]]:
    """Unit -> units it imports -> one place that does (for the failure message)."""
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for path in modules():
        unit = unit_of(path)
        for target, line in imported_units(path):
            if target != unit:
                graph[unit].setdefault(target, f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def test_dependencies_between_folders_go_one_way() -> None:
    graph = dependencies()
    cycles: list[str] = []

    def visit(unit: str, path: list[str]) -> None:
        for target in graph.get(unit, {}):
            if target in path:
                loop = [*path[path.index(target) :], target]
                steps = [graph[a][b] for a, b in itertools.pairwise(loop)]
                cycles.append(" -> ".join(loop) + f" ({', '.join(steps)})")
            elif len(path) < len(graph) + 1:
                visit(target, [*path, target])

    for unit in sorted(graph):
        visit(unit, [unit])
    assert not cycles, "folders import each other:\n" + "\n".join(sorted(set(cycles)))


def test_every_module_is_at_most_400_lines_as_ruff_formats_it() -> None:
    # CI runs `ruff format --check` first, so the files are as ruff writes them.
    long = {
        str(path.relative_to(PACKAGE.parent)): count
        for path in modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_formatter_escapes_and_no_thread_locks() -> None:
    for path in modules():
        text = path.read_text(encoding="utf-8")
        assert "fmt: skip" not in text and "fmt: off" not in text, path
        assert "import threading" not in text, f"{path}: nothing in the tap runs on threads"


def test_no_package_path_names_the_sandbox_or_fixtures() -> None:
    for path in PACKAGE.rglob("*"):
        relative = str(path.relative_to(PACKAGE.parent))
        assert "sandbox" not in relative and "fixtures" not in relative, relative
