"""nbgrader's side of a grade: the gradebook (for ``nbgrader export`` and the formgrader) and an "autograded"
notebook per submission (for ``nbgrader generate_feedback``).

The gradebook gets each test's ``auto_score`` and, on the solution cell the test belongs to, the judges' messages
as ``auto_comment``. The autograded notebook is the student's notebook in which each graded cell holds the
*visible* test of the release notebook (never hidden test code) and, as its output, the judge's verdict.
A gradebook that cannot be written (a corrupt file, a locked database) is reported once and then left alone:
the grades are in the stored results and ``grades.csv`` either way.
"""
from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..checkout import tools_path
from ..nbgrader_run import generate_assignment
from .results import SubmissionResult, TestResult
from .store import atomic_write

__all__ = ["default_db_url", "with_driver", "ensure_assignment", "GradebookWriter", "task_label", "verdict_line",
           "autograded_notebook", "write_autograded"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def default_db_url(root: Path) -> str:
    """``COURSE_DB_URL``, else the sqlite gradebook ``<root>/autograder/gradebook.db``."""
    return with_driver(os.environ.get("COURSE_DB_URL") or "sqlite:///" + str(Path(root) / "autograder" / "gradebook.db"))


def with_driver(db_url: str) -> str:
    """``postgresql://...`` as ``postgresql+psycopg://...``: the driver the instructor extra installs (psycopg 3).

    SQLAlchemy 2.0 would otherwise look for psycopg2 (2.1 picks psycopg itself); any other URL is left alone.
    """
    if db_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db_url.split("://", 1)[1]
    return db_url


def _where(db_url: str) -> str:
    """Where the gradebook is, for messages: a sqlite file's path, or the URL without its password."""
    if db_url.startswith("sqlite:///"):
        return db_url[len("sqlite:///"):]
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", db_url)


def tools_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook; a venv not activated lacks it."""
    if str(Path(sys.executable).parent) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tools_path()


def ensure_assignment(root: Path, db_url: str, lab: str, grade_ids: Iterable[str] = ()) -> None:
    """Make the gradebook know ``lab`` with (at least) ``grade_ids``, as ``course build`` would teach it.

    A gradebook that does not know the lab (a fresh clone, a new ``COURSE_DB_URL``), or knows an older version
    of it, learns it from the solution through nbgrader's generate_assignment into a temporary release folder,
    without touching ``notebooks/``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    tools_on_path()
    wanted = set(grade_ids)
    with Gradebook(db_url) as gb:
        try:
            assignment = gb.find_assignment(lab)
            known = {g.name for nb in assignment.notebooks for g in nb.grade_cells}
        except MissingEntry:
            known = None
    if known is None or not wanted <= known:
        with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
            generate_assignment(Path(root), lab, Path(tmp), db_url)


def task_label(grade_id: str) -> str:
    """'3_2' -> '3.2'; '3_6_below_2_2' -> '3.6 (below_2_2)'."""
    parts = grade_id.split("_")
    if len(parts) < 2:
        return grade_id
    rest = "_".join(parts[2:])
    return ".".join(parts[:2]) + (f" ({rest})" if rest else "")


def _task(name: str) -> str:
    return "_".join(name.split("_")[:2])


def verdict_line(test: TestResult) -> str:
    """'✓ 3.2: 3/3' or '✗ 3.2: 0/3 — <message>'."""
    ok = test.score >= test.max_score
    line = f"{'✓' if ok else '✗'} {task_label(test.grade_id)}: {test.score:g}/{test.max_score:g}"
    message = " ".join(test.message.split())
    return line if ok or not message else f"{line} — {message}"


class GradebookWriter:
    """Writes results into nbgrader's gradebook; after the first failure it reports once and writes no more."""

    def __init__(self, root: Path, db_url: str | None = None, *, csv_path: Path | None = None,
                 learn: Callable[[Path, str, str, Iterable[str]], None] = ensure_assignment,
                 log: Callable[[str], None] = print) -> None:
        self.root = Path(root)
        self.db_url = with_driver(db_url) if db_url else default_db_url(self.root)
        self.csv_path = csv_path
        self.learn = learn
        self.log = log
        self.broken: str | None = None
        self._learned: set[str] = set()

    def write(self, result: SubmissionResult, timestamp: str | None = None) -> bool:
        """Scores and messages of ``result`` into the gradebook; False when they could not be written.

        ``timestamp``: the submission's ``timestamp.txt`` (the formgrader lists a submission as autograded when
        the gradebook has the same time as the submitted folder); one that cannot be parsed is left out.
        """
        if self.broken is not None or not result.tests:
            return False
        try:
            if result.lab not in self._learned:
                self.learn(self.root, self.db_url, result.lab, [t.grade_id for t in result.tests])
                self._learned.add(result.lab)
            self._write(result, _parse_time(timestamp))
            return True
        except Exception as exc:  # noqa: BLE001 - a gradebook problem must never stop the batch
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            self.broken = (f"the gradebook at {_where(self.db_url)} could not be written: "
                           f"{type(exc).__name__}: {first[:300]}; grades are in "
                           f"{self.csv_path or 'grades.csv'}")
            self.log(self.broken)
            return False

    def _write(self, result: SubmissionResult, timestamp: Any = None) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        lab, student = result.lab, result.student
        tools_on_path()
        with warnings.catch_warnings(), Gradebook(self.db_url) as gb:
            warnings.simplefilter("ignore")          # SQLAlchemy's autoflush warnings from nbgrader's add_submission
            gb.update_or_create_student(student)
            try:
                submission = gb.find_submission(lab, student)
            except MissingEntry:
                submission = gb.add_submission(lab, student)
            if timestamp is not None:
                submission.timestamp = timestamp
            tests = {t.grade_id: t for t in result.tests}
            for nb in submission.notebooks:
                for grade in nb.grades:
                    test = tests.get(grade.name)
                    if test is None:
                        continue
                    grade.auto_score = float(test.score)
                    # As nbgrader's own autograde: a grader's manual score stands, and is flagged for review.
                    grade.needs_manual_grade = grade.manual_score is not None
                names = {c.name for c in nb.comments}
                for comment in nb.comments:
                    lines = [_markdown_text(verdict_line(t)) for t in result.tests if t.score < t.max_score
                             and _comment_for(t.grade_id, names) == comment.name]
                    comment.auto_comment = "\n".join(lines) or None
            gb.db.commit()


def _parse_time(text: str | None) -> Any:
    """nbgrader's reading of a ``timestamp.txt``, or None when there is none or it is not a time."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text) if text else None
    except (ValueError, OverflowError, TypeError):
        return None


def _markdown_text(text: str) -> str:
    """Text that nbgrader's feedback (which renders comments as Markdown, raw HTML included) shows as text:
    a message quoting the student's output must not become a tag or a link."""
    return re.sub(r"([\\<>\[\]])", r"\\\1", text)


def _comment_for(grade_id: str, comments: set[str]) -> str | None:
    """The comment a test's message goes to: a cell of the same name, else the task's ``<task>_code`` cell."""
    if grade_id in comments:
        return grade_id
    code = f"{_task(grade_id)}_code"
    return code if code in comments else None


def autograded_notebook(release_nb, student_nb, result: SubmissionResult):
    """The notebook ``nbgrader generate_feedback`` renders for ``result``.

    The student's cells (or, when their notebook could not be read, the release notebook's), where each graded
    cell holds the release notebook's visible test and one stream output with the verdict; cells whose nbgrader
    metadata the gradebook would not know (renamed, duplicated) lose it; deleted test cells are put back.
    """
    import nbformat

    ref = {c.metadata.nbgrader["grade_id"]: (i, c) for i, c in enumerate(release_nb.cells)
           if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    tests = {t.grade_id: t for t in result.tests}
    base = student_nb if student_nb is not None else release_nb
    nb = copy.deepcopy(base)
    cells, seen = [], {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if meta is not None and (gid not in ref or gid in seen):
            del cell.metadata["nbgrader"]
            gid = None
        if gid is None:
            if cell.get("cell_type") == "code" and student_nb is None:
                cell.outputs, cell.execution_count = [], None
            cells.append(cell)
            continue
        seen[gid] = len(cells)
        cells.append(_graded(ref[gid][1], tests) if _is_test(ref[gid][1]) else _solution(cell, ref[gid][1]))
    for gid, (index, rcell) in sorted(ref.items(), key=lambda kv: kv[1][0]):
        if gid in seen or not _is_test(rcell):
            continue
        before = [seen[g] for g, (i, _) in ref.items() if g in seen and i < index]
        at = max(before) + 1 if before else 0
        cells.insert(at, _graded(rcell, tests))
        seen = {g: (p + 1 if p >= at else p) for g, p in seen.items()} | {gid: at}
    summary = [f"Autograder: {result.total:g}/{result.max_total:g} points"]
    if result.status != "ok":
        summary.append(f"status: {result.status}")
    summary += [f"note: {n}" for n in result.notes]
    cells.insert(0, nbformat.v4.new_code_cell("# Autograder summary", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(summary) + "\n")]))
    nb.cells = cells
    nb.nbformat_minor = max(int(nb.get("nbformat_minor", 0) or 0), 5)
    ids: set[str] = set()
    for cell in nb.cells:               # nbformat 4.5: every cell has an id, and ids are unique
        if not isinstance(cell.get("id"), str) or cell["id"] in ids:
            cell["id"] = uuid.uuid4().hex[:12]
        ids.add(cell["id"])
    nb.metadata["kernelspec"] = copy.deepcopy(release_nb.metadata.get(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}))
    return nb


def _is_test(cell) -> bool:
    meta = cell.metadata.nbgrader
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def _graded(rcell, tests: dict[str, TestResult]):
    import nbformat

    gid = rcell.metadata.nbgrader["grade_id"]
    test = tests.get(gid) or TestResult(gid, 0.0, float(rcell.metadata.nbgrader.get("points", 0)), "not graded")
    cell = nbformat.v4.new_code_cell(_HIDDEN.sub("", rcell.source), metadata=copy.deepcopy(rcell.metadata))
    if "id" in rcell:
        cell["id"] = rcell["id"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict_line(test) + "\n")]
    return cell


def _solution(cell, rcell):
    cell.metadata["nbgrader"] = copy.deepcopy(rcell.metadata.nbgrader)
    return cell


def write_autograded(root: Path, result: SubmissionResult, student_nb, autograded_dir: Path,
                     timestamp: str | None = None) -> Path | None:
    """Write ``<autograded_dir>/<student>/<lab>/<lab>.ipynb`` (and ``timestamp.txt``, as nbgrader's autograde
    copies it) atomically; None when the lab has no release notebook."""
    import nbformat

    release = Path(root) / "notebooks" / result.lab / f"{result.lab}.ipynb"
    if not release.is_file():
        return None
    nb = autograded_notebook(nbformat.read(release, as_version=4), student_nb, result)
    path = Path(autograded_dir) / result.student / result.lab / f"{result.lab}.ipynb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = nbformat.writes(nb)
    if timestamp:
        atomic_write(path.parent / "timestamp.txt", timestamp + "\n")
    return atomic_write(path, text)
