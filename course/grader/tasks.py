"""What the batch, its pools, the grading processes and the cluster pass each other: the task of grading one
submission, its outcome, and the results that say a submission could not be graded.

Every module of a batch imports this one, and it imports none of them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..notebooks import grade_points, load_notebook
from .intake import Caps, copy_submission, load_submission_notebook, scratch_folder
from .results import SubmissionResult, TestResult
from .sandbox import SandboxRefused

__all__ = ["Task", "Done", "taken_in", "lab_max_scores", "first_line", "zero_result", "failed_result",
           "refused_result", "engine_spec", "nameable"]


@dataclass
class Task:
    """One submission to grade: which lab, whose, where it was handed in, and how."""

    index: int
    root: Path
    lab: str
    student: str
    source: Path
    timeout: float
    caps: Caps
    grader_key: str
    grade_one: Callable[..., SubmissionResult] | None = None


@dataclass
class Done:
    """A task's outcome: the result, the notebook as handed in (None when unreadable), the intake's notes."""

    index: int
    result: SubmissionResult
    nb: Any = None
    notes: list[str] = field(default_factory=list)
    transient: bool = False      # the grader's fault, not the submission's: grade it again next run
    where: str = ""


@contextlib.contextmanager
def taken_in(task: Task) -> Iterator[tuple[Path, Any, list[str]]]:
    """A scratch copy of the submission, its notebook as read before grading, and the intake's notes."""
    with scratch_folder() as tmp:
        folder = tmp / "submission"
        notes = copy_submission(task.source, folder, task.caps)
        yield folder, load_submission_notebook(folder, task.lab).nb, notes


def lab_max_scores(root: Path, lab: str) -> dict[str, float]:
    """Points per grade id, in notebook order, from the solution's graded cells (``nbgrader.points``)."""
    return grade_points(load_notebook(Path(root) / "solutions" / lab / f"{lab}.ipynb"))


def first_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def zero_result(root: Path, lab: str, student: str, status: str, why: str) -> SubmissionResult:
    """0 points for every grade id of ``lab``, each with ``why``; the submission's ``status``."""
    try:
        points = lab_max_scores(root, lab)
    except Exception:  # noqa: BLE001 - the caller completes missing grade ids from its own copy of the points
        points = {}
    return SubmissionResult(student, lab, [TestResult(g, 0.0, p, why) for g, p in points.items()], status=status)


def failed_result(root: Path, lab: str, student: str, exc: BaseException) -> SubmissionResult:
    """The result of a submission that could not be graded because of ``exc``: 0 points, and why, for every test."""
    return zero_result(Path(root), lab, student, f"error: {first_line(exc)}", f"not graded: {first_line(exc)}")


def refused_result(root: Path, lab: str, student: str, exc: SandboxRefused) -> SubmissionResult:
    """Not graded: a protection was missing where it was to be graded. The batch grades it again next run."""
    why = f"not graded: the grader refused to run it ({first_line(exc)})"
    return zero_result(Path(root), lab, student, f"refused: {str(exc).splitlines()[0]}", why)


def engine_spec(grade_one: Callable[..., Any] | None) -> str | None:
    """``module:function`` naming ``grade_one`` for another process; None for the default engine.

    ``ValueError`` when it cannot be named (a lambda, a local function): another process could not import it.
    """
    if grade_one is None:
        return None
    module, name = getattr(grade_one, "__module__", None), getattr(grade_one, "__qualname__", "")
    if not module or "<" in name:
        raise ValueError(f"{grade_one!r} cannot be run in another process: it has no importable name")
    return f"{module}:{name}"


def nameable(fn: object) -> bool:
    """Whether another process can import ``fn`` (see :func:`engine_spec`)."""
    try:
        engine_spec(fn)  # type: ignore[arg-type]
        return True
    except ValueError:
        return False
