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
from dataclasses import dataclass, field
from pathlib import Path

from .pipeline import PipelineError, grading_env, lab_ids, run_nbgrader

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


def _max_scores(db_url: str, lab: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(lab)
        return {g.name: float(g.max_score) for nb in assignment.notebooks for g in nb.grade_cells}


def _scores(db_url: str, lab: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            sub = gb.find_submission(lab, student)
        except MissingEntry:
            return {}
        return {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}


def grade(root: Path, folder: Path, *, timeout: float = 900, log=print) -> list[GradeRow]:
    """Autograde every ``<student>/<lab>/`` under ``folder`` (or ``folder/submitted``)."""
    submitted = _submitted_dir(folder)
    known = set(lab_ids(root))
    db_url = os.environ.get("COURSE_DB_URL", "sqlite:///" + str(root / "autograder" / "gradebook.db"))
    env = grading_env(root, COURSE_SUBMITTED=str(submitted), COURSE_DB_URL=db_url)
    rows: list[GradeRow] = []
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
            row.max_scores = _max_scores(db_url, lab)
            try:
                run_nbgrader(root, "autograde", lab, "--student", student, "--force", env=env, timeout=timeout)
            except subprocess.TimeoutExpired:
                row.status = f"timed out after {timeout:.0f} s"
            except PipelineError as exc:
                row.status = "error: " + str(exc).splitlines()[-1][:200]
            earned = _scores(db_url, lab, student)
            # A deleted or never-run test cell has no grade: it earns nothing.
            row.scores = {name: earned.get(name, 0.0) for name in row.max_scores}
            log(f"grade: {student}/{lab}: {row.total:g}/{row.max_total:g} ({row.status})")
    return rows


def write_csv(rows: list[GradeRow], path: Path) -> Path:
    """One row per student and lab: points per task, total, max, status."""
    tasks = sorted({t for r in rows for t in r.max_scores}, key=_task_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "lab", *tasks, "total", "max", "status"])
        for r in rows:
            w.writerow([r.student, r.lab, *(f"{r.scores.get(t, 0):g}" if t in r.max_scores else "" for t in tasks),
                        f"{r.total:g}", f"{r.max_total:g}", r.status])
    return path


def _task_key(name: str) -> tuple:
    # '3_10' sorts after '3_2'; numbers before words so '3_5' precedes '3_5_results'.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[._-]", name))


def format_table(rows: list[GradeRow]) -> str:
    """A plain-text grade table for the terminal."""
    tasks = sorted({t for r in rows for t in r.max_scores}, key=_task_key)
    head = ["student", "lab", *tasks, "total", "status"]
    body = [[r.student, r.lab, *(f"{r.scores.get(t, 0):g}/{r.max_scores[t]:g}" if t in r.max_scores else "-"
                                 for t in tasks), f"{r.total:g}/{r.max_total:g}", r.status] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])
