"""The package's structure, read from its imports: no circles, no import that runs back up a layer, few imports
hidden inside functions (each with its reason), and no module over a few hundred lines.

Layers, from the bottom: the student helpers (what ``import course`` loads, and what they import); building and
grading (``course.grader``, ``course.pipeline``, ``course.slides``, ``course.validate`` and their own modules);
the command line (``course.cli``, ``course.commands``) on top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course"
TOP = {"course.cli", "course.commands"}
MAX_LINES = 350
MAX_LOCAL_IMPORTS = 10


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "vendor" not in p.parts}


def _target(module: str, node: ast.ImportFrom | ast.Import, known: dict[str, Path]) -> list[str]:
    """The project modules an import statement of ``module`` loads (a name imported from a package may itself
    be a module)."""
    is_package = known[module].name == "__init__.py"
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "course" and a.name in known]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    if origin.split(".")[0] != "course":
        return []
    found = [f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in known]
    if origin in known and len(found) < len(node.names):
        found.append(origin)
    return found


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(module -> the project modules it imports, anywhere in it), and the imports made inside functions."""
    known = _modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    local: list[tuple[str, int, str]] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = [t for t in _target(module, node, known) if t != module]
                edges[module].update(targets)
                if targets and id(node) in inside:
                    local.append((module, node.lineno, ", ".join(targets)))
    return edges, local


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _closure(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += edges[m]
    return seen


def test_no_import_circles():
    assert _cycles(_graph()[0]) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_runs_back_up_a_layer():
    edges, _ = _graph()
    student = _closure(edges, "course")
    assert not student & TOP and "course.grader" not in student and "course.pipeline" not in student
    upward = [(m, t) for m in student for t in edges[m] if t not in student]
    upward += [(m, t) for m in edges if m not in TOP for t in edges[m] if t in TOP]
    assert upward == []


def test_few_imports_inside_functions_each_with_its_reason():
    _, local = _graph()
    assert len(local) <= MAX_LOCAL_IMPORTS, local
    modules = _modules()
    for module, line, target in local:
        lines = modules[module].read_text().splitlines()
        context = " ".join(lines[max(0, line - 3):line])
        assert "#" in context, f"{module}:{line} imports {target} inside a function without saying why"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_stay_small(module):
    n = len(_modules()[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines: split it along its jobs"
