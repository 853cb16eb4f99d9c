"""Facts about the course checkout that building, checking and grading all need: where it is, its labs, what a
solution computes with, and the error their commands report. It imports nothing of theirs."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from .labs import LAB_IDS as LABS
from .notebooks import load_notebook

__all__ = ["LABS", "PipelineError", "find_root", "lab_ids", "solution_digest", "tools_path"]


class PipelineError(RuntimeError):
    """A step of build/check/grade failed; the message says which and why."""


def find_root(root: str | os.PathLike | None = None) -> Path:
    """The course checkout: ``root``, ``COURSE_ROOT``, or the nearest parent with autograder/nbgrader_config.py."""
    candidates = [Path(root)] if root else []
    if os.environ.get("COURSE_ROOT"):
        candidates.append(Path(os.environ["COURSE_ROOT"]))
    if not candidates:
        here = Path.cwd().resolve()
        candidates += [here, *here.parents]
    for cand in candidates:
        if (cand / "autograder" / "nbgrader_config.py").exists():
            return cand.resolve()
    raise PipelineError("not inside a course checkout (no autograder/nbgrader_config.py found in "
                        f"{', '.join(str(c) for c in candidates[:3])}...); cd into it or set COURSE_ROOT")


def lab_ids(root: Path) -> list[str]:
    """Labs that have a solution notebook, in course order."""
    folder = root / "solutions"
    found = [p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").exists()] if folder.is_dir() else []
    return sorted(found, key=lambda lab: (LABS.index(lab) if lab in LABS else len(LABS), lab))


def tools_path() -> str:
    """PATH with this interpreter's folder first: nbgrader shells out to `alembic`, which a venv
    that is not activated does not put on PATH."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def solution_digest(root: Path, lab: str) -> str:
    """sha256 of what a solution computes with: its cells' types, sources and nbgrader metadata (no outputs)."""
    nb = load_notebook(root / "solutions" / lab / f"{lab}.ipynb")
    cells = [[c.cell_type, c.source, c.get("metadata", {}).get("nbgrader")] for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()
