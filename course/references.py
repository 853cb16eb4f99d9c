"""The reference solution, and the notebook students get, run as the course's own checks run them: the solution in a
Jupyter kernel in fast mode (its visible tests must pass), and either notebook graded by the sandboxed engine with
the reference checkpoints beside it (the judges must give the solution full marks and the stub nothing).

``grade_references`` grades several at once in grading processes of their own (``course demo`` and ``course
check`` grade two at a time), with the same results as one after the other.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .grader.engine import grade_submission
from .grader.intake import Caps
from .grader.pools import Subprocesses
from .grader.results import SubmissionResult
from .grader.tasks import Task
from .mode import grading_env
from .notebooks import execute_notebook, load_notebook, scratch_copy

__all__ = ["run_solution", "grade_reference", "grade_references"]


def run_solution(root: Path, lab: str):
    """The solution run in a Jupyter kernel in fast mode: (executed notebook, result); its visible tests
    (self-checks) must all pass."""
    nb = load_notebook(root / "solutions" / lab / f"{lab}.ipynb")
    # Reference fixtures (e.g. the full-mode checkpoint a lab grades) sit beside the notebook, as a student's would.
    with scratch_copy(root / "solutions" / lab, root / "autograder" / "references" / lab) as tmp:
        return execute_notebook(nb, tmp, env=grading_env())


def grade_reference(root: Path, lab: str, folder: str):
    """Grade ``folder``'s notebook of ``lab`` (solutions/ or notebooks/) through the engine, as a submission
    with the reference checkpoints beside it."""
    with scratch_copy(root / folder / lab, root / "autograder" / "references" / lab) as tmp:
        return grade_submission(root, lab, tmp, student=f"<{folder}>")


def grade_references(root: Path, which: list[tuple[str, str]], workers: int = 1) -> dict[tuple[str, str], SubmissionResult]:
    """``grade_reference`` of each (lab, folder), ``workers`` at a time."""
    if workers <= 1 or len(which) <= 1:
        return {(lab, folder): grade_reference(root, lab, folder) for lab, folder in which}
    with contextlib.ExitStack() as stack:
        folders = [stack.enter_context(scratch_copy(root / folder / lab, root / "autograder" / "references" / lab))
                   for lab, folder in which]
        tasks = [Task(i, root, lab, f"<{folder}>", path, 900.0, Caps(), "")
                 for i, ((lab, folder), path) in enumerate(zip(which, folders))]
        results = {d.index: d.result for d in Subprocesses(workers).run(tasks)}
    return {pair: results[i] for i, pair in enumerate(which)}
