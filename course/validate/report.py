"""What ``course validate`` found: rows per test and file, problems and notes, and the printed table."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..labs import Lab

__all__ = ["ValidationError", "TestRow", "FileRow", "Stop", "Report", "format_report"]


class ValidationError(Exception):
    """A usage problem (no such notebook, corrupt JSON, unknown lab, missing package): exit status 2."""


@dataclass
class TestRow:
    """One graded test cell: its grade id, task ('3.1'), points, status and detail."""

    grade_id: str
    task: str
    points: float
    status: str  # passed | failed | not attempted | missing | not run
    detail: str = ""

    @property
    def costs_points(self) -> bool:
        return self.status != "passed"

    def label(self) -> str:
        """The status column: 'passed', 'failed: AssertionError: ...', 'missing — test cell deleted, 0 points'."""
        if self.status == "missing":
            return "missing — test cell deleted, 0 points"
        if self.status == "failed":
            return f"failed: {self.detail}"
        return f"{self.status} ({self.detail})" if self.detail else self.status


@dataclass
class FileRow:
    """One file the lab asks for: ok, missing, unreadable, misfit, fast (trained in fast mode) or unchecked."""

    name: str
    status: str
    detail: str

    @property
    def costs_points(self) -> bool:
        return self.status != "ok"


@dataclass
class Stop:
    """Why the run stopped early: the cell (index in the notebook) that timed out or killed the kernel."""

    index: int
    reason: str  # "timed out after 300 s" | "the kernel died"


@dataclass
class Report:
    """Everything ``course validate`` found about one notebook."""

    notebook: Path
    lab: Lab
    tests: list[TestRow] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # costs points, not tied to one test or file
    notes: list[str] = field(default_factory=list)  # worth knowing, costs nothing
    seconds: float = 0.0

    @property
    def cost_count(self) -> int:
        """How many things would cost points."""
        return (sum(r.costs_points for r in self.tests) + sum(f.costs_points for f in self.files)
                + len(self.problems))

    @property
    def exit_code(self) -> int:
        return 1 if self.cost_count else 0


def _fmt_points(points: float) -> str:
    return f"{points:g}"


def format_report(report: Report) -> str:
    """The printed table: one row per test, one per required file, and a summary."""
    lines = [f"{report.lab.id}: ran in {report.seconds:.0f} s (fast mode)", ""]
    head = ("task", "test", "points", "status")
    rows = [(r.task, r.grade_id, _fmt_points(r.points), r.label()) for r in report.tests]
    w = [max(len(x[k]) for x in [head, *rows]) for k in range(3)]
    for task, gid, pts, status in [head, *rows]:
        lines.append(f"{task:<{w[0]}}  {gid:<{w[1]}}  {pts:>{w[2]}}  {status}")
    if report.files:
        width = max(len("file"), *(len(f.name) for f in report.files))
        lines += ["", f"{'file':<{width}}  status"]
        lines += [f"{f.name:<{width}}  {f.detail}" for f in report.files]
    total = sum(r.points for r in report.tests)
    ok = sum(r.points for r in report.tests if not r.costs_points)
    lines += ["", f"visible tests: {_fmt_points(ok)} of {_fmt_points(total)} points pass. The autograder adds hidden "
              "tests, so passing the visible ones is not a guarantee of these points."]
    lines += [f"problem: {p}" for p in report.problems]
    lines += [f"note: {n}" for n in report.notes]
    if report.cost_count:
        lines.append(f"{report.cost_count} thing(s) above would cost points: fix them and run course validate again.")
    else:
        handed = ", ".join([report.lab.notebook, *report.lab.checkpoints])
        lines.append(f"nothing found that would cost points: hand in {handed}.")
    return "\n".join(lines)
