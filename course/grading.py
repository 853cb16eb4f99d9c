"""``course grade DIR``: autograde a folder of submissions and write a grade CSV.

Each student is graded in its own nbgrader process with a time limit, so one
broken submission (corrupt file, endless loop, crash) costs that student the
points it earned and nobody else anything.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .notebooks import NotebookError, grade_cells, load_notebook
from .pipeline import PipelineError, generate, grading_env, lab_ids, run_nbgrader, tools_path

__all__ = ["GradeRow", "grade", "write_csv", "format_table"]


@dataclass
class GradeRow:
    student: str
    lab: str
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    status: str = "ok"

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())


def _submitted_dir(folder: Path) -> Path:
    folder = folder.resolve()
    if (folder / "submitted").is_dir():
        return folder / "submitted"
    if not folder.is_dir():
        raise PipelineError(f"{folder}: no such folder of submissions")
    return folder


def _max_scores(root: Path, db_url: str, lab: str) -> dict[str, float]:
    """Points per graded cell, in the order the cells stand in the lab.

    A gradebook that does not know the lab yet (a fresh clone, a new COURSE_DB_URL) learns it
    from the solution, as `course build` would teach it, without touching notebooks/.
    """
    from nbgrader.api import Gradebook, MissingEntry

    os.environ["PATH"] = tools_path()
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(lab)
            known = True
        except MissingEntry:
            known = False
    if not known:
        with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
            generate(root, lab, release_dir=Path(tmp), db_url=db_url)
    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(lab)
        points = {g.name: float(g.max_score) for nb in assignment.notebooks for g in nb.grade_cells}
    order = list(grade_cells(load_notebook(root / "solutions" / lab / f"{lab}.ipynb")))
    return {name: points[name] for name in sorted(points, key=lambda n: order.index(n) if n in order else len(order))}


def _reason(log: str) -> str:
    """The most telling line of a failed nbgrader run (not its generic 'see above' lines)."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    telling = [ln for ln in lines if re.search(r"(Error|Exception|Timeout|Killed)\b", ln)
               and "Please see" not in ln and "There was an error" not in ln]
    return (telling or lines or ["nbgrader failed"])[-1][:200]


def _scores(db_url: str, lab: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission(lab, student)
        except MissingEntry:
            return {}
        return {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}


def _notes(handed_in, max_scores: dict[str, float], autograded: Path) -> str:
    """'ok', or what went wrong that the scores alone do not say (deleted tests, cells that hung)."""
    notes = []
    present = grade_cells(handed_in)
    deleted = [gid for gid in max_scores if gid not in present]
    if deleted:
        notes.append(f"test cells deleted, 0 points: {', '.join(deleted)}")
    if autograded.exists():
        nb = load_notebook(autograded)
        hung = [(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i}")
                for i, c in enumerate(nb.cells)
                if any(o.get("output_type") == "error" and "Timeout" in o.get("ename", "") for o in c.get("outputs", []))]
        if hung:
            notes.append(f"timed out in {', '.join(hung)}")
    return "; ".join(notes) or "ok"


def grade(root: Path, folder: Path, *, timeout: float = 900, log=print) -> list[GradeRow]:
    """Autograde every ``<student>/<lab>/`` under ``folder`` (or ``folder/submitted``)."""
    submitted = _submitted_dir(folder)
    known = set(lab_ids(root))
    db_url = os.environ.get("COURSE_DB_URL", "sqlite:///" + str(root / "autograder" / "gradebook.db"))
    env = grading_env(root, COURSE_SUBMITTED=str(submitted), COURSE_DB_URL=db_url)
    autograded = Path(os.environ.get("COURSE_AUTOGRADED", root / "autograder" / "autograded"))
    rows: list[GradeRow] = []
    max_scores: dict[str, dict[str, float]] = {}
    students = sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise PipelineError(f"{submitted}: no submissions (expected {submitted}/<student>/<lab>/<lab>.ipynb)")
    for student in students:
        for lab_dir in sorted(p for p in (submitted / student).iterdir() if p.is_dir()):
            lab = lab_dir.name
            row = GradeRow(student, lab)
            rows.append(row)
            if lab not in known:
                row.status = f"unknown lab {lab!r}"
                continue
            if lab not in max_scores:
                max_scores[lab] = _max_scores(root, db_url, lab)
            row.max_scores = max_scores[lab]
            graded = False
            try:
                # A file that is not a notebook at all is reported as such, without starting nbgrader.
                handed_in = load_notebook(lab_dir / f"{lab}.ipynb")
                run_nbgrader(root, "autograde", lab, "--student", student, "--force", env=env, timeout=timeout)
                graded = True
                row.status = _notes(handed_in, row.max_scores, autograded / student / lab / f"{lab}.ipynb")
            except NotebookError as exc:
                row.status = f"error: {exc}"[:300]
            except subprocess.TimeoutExpired:
                row.status = f"timed out after {timeout:.0f} s"
            except PipelineError as exc:
                row.status = "error: " + _reason(str(exc))
            # Only a finished autograde's scores count: after a failed run the gradebook still holds the
            # student's previous grades, which belong to another submission.
            earned = _scores(db_url, lab, student) if graded else {}
            # A deleted or never-run test cell has no grade: it earns nothing.
            row.scores = {name: earned.get(name, 0.0) for name in row.max_scores}
            log(f"grade: {student}/{lab}: {row.total:g}/{row.max_total:g} ({row.status})")
    return rows


def _tasks(rows: list[GradeRow]) -> list[str]:
    # Graded cells in lab order, as they first appear.
    return list(dict.fromkeys(t for r in rows for t in r.max_scores))


def write_csv(rows: list[GradeRow], path: Path) -> Path:
    """One row per student and lab: points per task, total, max, status."""
    tasks = _tasks(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "lab", *tasks, "total", "max", "status"])
        for r in rows:
            w.writerow([r.student, r.lab, *(f"{r.scores.get(t, 0):g}" if t in r.max_scores else "" for t in tasks),
                        f"{r.total:g}", f"{r.max_total:g}", r.status])
    return path


def format_table(rows: list[GradeRow]) -> str:
    """A plain-text grade table for the terminal."""
    tasks = _tasks(rows)
    head = ["student", "lab", *tasks, "total", "status"]
    body = [[r.student, r.lab, *(f"{r.scores.get(t, 0):g}/{r.max_scores[t]:g}" if t in r.max_scores else "-"
                                 for t in tasks), f"{r.total:g}/{r.max_total:g}", r.status] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])
