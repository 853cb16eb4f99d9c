"""Which cells of a submission run, and which are its answers: decided by the released notebook, never by the
submission's own metadata.

A submitted code cell is skipped only when its code is, character for character (trailing spaces aside), one of the
graded test cells of the notebook students were given (``notebooks/<lab>/<lab>.ipynb``; else the solution with its
hidden tests taken out): the student's self-checks, whose outcome never counts. Every other cell runs, whatever its
``nbgrader`` metadata says, so a cell marked ``grade: true`` by a tool or by hand is not lost. The answer cells a judge
may run again are found by the released notebook's cell ids (then by grade id).
"""
from __future__ import annotations

import re
from pathlib import Path

from nbformat import NotebookNode

from ..notebooks import load_notebook

__all__ = ["released_notebook", "test_sources", "cells_to_run", "answer_sources", "normalised"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def normalised(source: str | list[str]) -> str:
    text = source if isinstance(source, str) else "".join(source)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def released_notebook(root: Path, lab: str) -> NotebookNode:
    """The notebook students were given; when ``notebooks/`` has none, the solution with its hidden tests removed."""
    released = Path(root) / "notebooks" / lab / f"{lab}.ipynb"
    if released.is_file():
        return load_notebook(released)
    nb = load_notebook(Path(root) / "solutions" / lab / f"{lab}.ipynb")
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and not \
                cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = _HIDDEN.sub("", cell.source)
    return nb


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def test_sources(released: NotebookNode) -> set[str]:
    """The released graded test cells' code, normalised."""
    return {normalised(c.source) for c in released.cells
            if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")}


def cells_to_run(nb: NotebookNode, tests: set[str]) -> tuple[list[str], list[int]]:
    """Sources of the submission's code cells to run (all but unchanged released tests), with their indices."""
    sources, where = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if normalised(source) in tests:
            continue
        sources.append(source)
        where.append(index)
    return sources, where


def answer_sources(nb: NotebookNode, released: NotebookNode) -> dict[str, str]:
    """The submission's answer cells by the released notebook's grade ids (matched by cell id, then grade id)."""
    by_id = {c.get("id"): c for c in nb.cells if c.cell_type == "code" and c.get("id")}
    by_gid = {_meta(c).get("grade_id"): c for c in nb.cells if c.cell_type == "code" and _meta(c).get("grade_id")}
    found: dict[str, str] = {}
    for cell in released.cells:
        gid = _meta(cell).get("grade_id")
        if cell.cell_type != "code" or not gid or not _meta(cell).get("solution"):
            continue
        match = by_id.get(cell.get("id")) if cell.get("id") else None
        match = match if match is not None else by_gid.get(gid)
        if match is not None:
            found[gid] = match.source if isinstance(match.source, str) else "".join(match.source)
    return found
