"""A copied notebook in disguise, as a student who copies would make it: every local name and argument renamed,
the functions of each answer cell in reverse order, comments and formatting rewritten (``ast.unparse`` drops the
old ones; a new comment is added). Names the released notebook defines stay, since its tests call them."""
from __future__ import annotations

import ast
import builtins
import copy
import shutil
from pathlib import Path

import nbformat

__all__ = ["disguise", "released_names", "disguised_class"]


def released_names(released: nbformat.NotebookNode) -> set[str]:
    names = set(dir(builtins))
    for cell in released.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


class _Rename(ast.NodeTransformer):
    def __init__(self, keep: set[str]) -> None:
        self.keep, self.new = keep, {}

    def _n(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.new.setdefault(name, f"q{len(self.new)}_{name[::-1].lower()}z")

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._n(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._n(node.arg)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        self.generic_visit(node)      # keyword names are the callee's, not ours
        return node


def disguise(nb: nbformat.NotebookNode, released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    keep = released_names(released)
    released_sources = {c.source for c in released.cells if c.cell_type == "code"}
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "code" or cell.source in released_sources:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        tree = _Rename(keep).visit(tree)
        defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef))]
        rest = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef))]
        tree.body = [*reversed(defs), *rest]
        cell.source = "# worked this out myself, step by step\n" + ast.unparse(ast.fix_missing_locations(tree))
    return out


def disguised_class(root: Path, out: Path, copiers: dict[str, str]) -> Path:
    """``out/<student>/<lab>/``: the samples (correct, partial, untouched) and, for each ``{sample: copier}``, a
    disguised copy of that sample's every lab handed in by ``copier``."""
    samples = root / "autograder" / "samples" / "submitted"
    for who in ("correct", "partial", "untouched"):
        shutil.copytree(samples / who, out / who)
    for lab in sorted(p.name for p in (samples / "correct").iterdir()):
        released = nbformat.read(root / "notebooks" / lab / f"{lab}.ipynb", as_version=4)
        for who, copier in copiers.items():
            nb = nbformat.read(samples / who / lab / f"{lab}.ipynb", as_version=4)
            (out / copier / lab).mkdir(parents=True)
            nbformat.write(disguise(nb, released), out / copier / lab / f"{lab}.ipynb")
    return out
