"""What is exported: each student's total of each lab, from the stored results, and who those students are in
the LMS (their Canvas user id or Moodle participant number, read from ``course collect``'s report).

A grade is exported only when the submission was graded with every protection of the sandbox in force and as a
whole: a refused, unsafe or unfinished run is listed, never written as a number.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..results import SubmissionResult

__all__ = ["Grades", "LabGrade", "collect_grades", "fmt", "lms_ids", "plain_key"]


@dataclass(frozen=True)
class LabGrade:
    total: float
    max_total: float


@dataclass
class Grades:
    """``by_student[student][lab]``: the grades that may be exported; ``withheld``: the ones that may not, and why."""

    by_student: dict[str, dict[str, LabGrade]] = field(default_factory=dict)
    maxima: dict[str, float] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)

    @property
    def labs(self) -> list[str]:
        return sorted(self.maxima)


def collect_grades(results: list[SubmissionResult]) -> Grades:
    grades = Grades()
    for r in sorted(results, key=lambda r: (r.student, r.lab)):
        if r.refused or r.unsafe or not r.tests:
            why = ("refused: the sandbox was not complete" if r.refused else
                   "graded without the sandbox (--unsafe-no-sandbox)" if r.unsafe else f"not graded ({r.status})")
            grades.withheld.append(f"{r.student} / {r.lab}: {why}; not exported")
            continue
        grades.by_student.setdefault(r.student, {})[r.lab] = LabGrade(r.total, r.max_total)
        grades.maxima[r.lab] = max(grades.maxima.get(r.lab, 0.0), r.max_total)
    return grades


# Canvas names downloaded files <login>_[LATE_]<user id>_<submission id>_<file>; Moodle
# <full name>_<participant number>_assignsubmission_file_<file>.
_CANVAS = re.compile(r"[^_/]+_(?:LATE_)?(?P<id>\d+)_\d+_[^/]*$")
_MOODLE = re.compile(r"[^/]*?_(?P<id>\d+)_assignsubmission_[a-z]+_[^/]*$")


def lms_ids(collected: Path) -> dict[str, dict[str, str]]:
    """``{student: {"canvas": user id, "moodle": participant number}}`` from ``collected/collect_report.json``
    (what its files were called in the export); a student whose files disagree gets no id."""
    report = collected / "collect_report.json"
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        matched = data["matched"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{report}: not a report of `course collect` ({exc})") from None
    ids: dict[str, dict[str, set[str]]] = {}
    for m in matched:
        for source in (m.get("files") or {}).values():
            name = str(source).rsplit("/", 2)
            for kind, pattern in (("canvas", _CANVAS), ("moodle", _MOODLE)):
                for part in name[-2:]:
                    hit = pattern.match(part)
                    if hit:
                        ids.setdefault(m["student"], {}).setdefault(kind, set()).add(hit["id"])
    return {s: {k: next(iter(v)) for k, v in kinds.items() if len(v) == 1} for s, kinds in ids.items()}


def plain_key(name: str) -> str:
    """A name as LMS file names spell it: ``Doe, Jane`` and ``doejane`` → ``doejane``; ``Jane Doe`` → ``janedoe``."""
    return re.sub(r"[\W_]+", "", name.casefold())


def fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")
