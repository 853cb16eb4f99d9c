"""A synthetic class for the class report's tests: ten lab 3 submissions and two of lab 1, and how they are stored."""
from __future__ import annotations

from pathlib import Path

from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import result_path, write_result

__all__ = ["LAB", "MAX", "LOSS", "ROWS", "TIME", "EVIL", "BROKEN", "synthetic_class", "store_class"]

LAB = "lab3_mlp_mnist"
MAX = {"3_1": 2.0, "3_2": 3.0, "3_4": 4.0, "3_6_below_2_2": 1.0}
LOSS = ("3.4: the training loss does not fall ({} → {} over {} epochs) — check that `opt.zero_grad()` is called "
        "each step")
ROWS = "3.2: row sums are {}, expected 1.0 — check `dim`"
TIME = "3.4: not graded: the submission's time limit was reached"
EVIL = "<script>alert('x')</script>"
BROKEN = "error: lab3_mlp_mnist.ipynb is not a valid notebook: not valid JSON (line 1, column 12: x)"


def _sub(student: str, seconds: float, lost: dict[str, tuple[float, str]] | None = None, **kw) -> SubmissionResult:
    """A lab 3 submission with full marks except ``lost``: grade id -> (score, message)."""
    lost = lost or {}
    tests = [Verdict(g, lost[g][0], m, lost[g][1]) if g in lost else Verdict(g, m, m) for g, m in MAX.items()]
    return SubmissionResult(student, LAB, tests, seconds=seconds, **kw)


def synthetic_class() -> list[SubmissionResult]:
    """Ten lab 3 submissions and two of lab 1: grouped failures, limits, an error, a hostile name."""
    return [
        _sub("s01", 30.0),
        _sub("s02", 40.0),
        _sub("s03", 50.0, notes=["skipped weights.pt: 400 MB, over the 300 MB cap for one file"]),
        _sub("s04", 60.0, {"3_4": (0.0, LOSS.format("2.30", "2.30", 3))}),
        _sub("s05", 70.0, {"3_4": (0.0, LOSS.format("2.29", "2.31", 5))},
             notes=["cell 5: BlockingIOError: [Errno 11] Resource temporarily unavailable"]),
        _sub("s06", 80.0, {"3_4": (1.0, LOSS.format("2.31", "2.30", 3)), "3_2": (0.0, ROWS.format("2.0"))}),
        _sub("s07", 90.0, {"3_2": (0.0, ROWS.format("0.5")), "3_4": (0.0, "3.4: accuracy 0.41 is below 0.90")}),
        _sub("slow", 900.0, {"3_4": (0.0, TIME), "3_6_below_2_2": (0.0, TIME)},
             notes=["cell 12: timed out after 180 s", "cell 13: not run: the submission's time limit was reached"]),
        _sub(f"mem{EVIL}", 120.0, {"3_4": (0.0, f"3.4: NameError: name 'model' is not defined; you printed {EVIL}")},
             notes=["cell 4: killed: memory limit of 4 GiB reached"]),
        _sub("broken", 2.0, {g: (0.0, BROKEN[len("error: "):]) for g in MAX}, status=BROKEN),
        SubmissionResult("s01", "lab1_linear", [Verdict("1_1", 1.0, 1.0)], seconds=10.0),
        SubmissionResult("s02", "lab1_linear", [Verdict("1_1", 0.0, 1.0, "1.1: the weights have shape (10, 3072), "
                                                                        "expected (3072, 10)")], seconds=20.0),
    ]


def store_class(folder: Path) -> Path:
    """The synthetic class stored in ``folder`` as `course grade` stores it, plus one unreadable file."""
    for i, r in enumerate(synthetic_class()):
        write_result(result_path(folder, r.lab, f"{i:02d}-student"), r)
    (folder / LAB / "zz-broken.json").write_text('{"format": 1, "resu', encoding="utf-8")
    return folder
