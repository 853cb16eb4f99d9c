"""One graded submission's result, written atomically as soon as it is known; reports are made from these."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TestResult", "SubmissionResult"]


@dataclass
class TestResult:
    """The verdict on one graded cell: points earned out of ``max_score``, and why points were lost."""

    grade_id: str
    score: float
    max_score: float
    message: str = ""          # "" when passed; otherwise what is wrong and where (never hidden test source)


@dataclass
class SubmissionResult:
    """Everything known about one student's submission of one lab."""

    student: str               # printable (non-UTF-8 bytes shown escaped)
    lab: str
    tests: list[TestResult] = field(default_factory=list)   # in the lab's order
    status: str = "ok"         # "ok", or the reason the submission as a whole could not be fully graded
    notes: list[str] = field(default_factory=list)          # e.g. "test cell 3_2 deleted; graded from your code"
    digest: str = ""           # sha256 of the submitted files, to know when a regrade is needed
    seconds: float = 0.0
    protections: list[str] = field(default_factory=list)    # protections that were OFF for this run
    recorded: dict[str, float] = field(default_factory=dict)  # what the judges measured (references, for build)

    @property
    def unsafe(self) -> str:
        """"" when every protection held; else the banner every report of this result carries."""
        if not self.protections:
            return ""
        names = ", ".join(p.split(":", 1)[0] for p in self.protections)
        return (f"UNSAFE: graded with --unsafe-no-sandbox: student code ran without {names}; "
                "this grade is not trustworthy")

    @property
    def refused(self) -> bool:
        """The grader refused to run it (a protection was missing): nothing was graded, it is graded next run."""
        return self.status.startswith("refused:")

    @property
    def total(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_total(self) -> float:
        return sum(t.max_score for t in self.tests)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total": self.total, "max_total": self.max_total}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubmissionResult":
        tests = [TestResult(**t) for t in data.get("tests", [])]
        fields_ = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "tests"}
        return cls(tests=tests, **fields_)
