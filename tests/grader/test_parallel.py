"""Grading in parallel on one machine: the same grades as one at a time, one writer, and a dead grader costs one row.

The fake engine (``fake_engine.grade_one``) runs in child processes (``python -m course.grader.one``), as the
real engine does with ``--workers N``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_engine import LAB, POINTS, grade_one, student_notebook, write_submission

from course.grader.batch import grade_folder
from course.grader.results import SubmissionResult

FULL = sum(POINTS.values())


def class_of(folder: Path, n: int = 6) -> Path:
    """``n`` students, every third one wrong on 9.2, one whose notebook makes the engine raise."""
    for k in range(n):
        ok = ("9_1_code",) if k % 3 == 2 else ("9_1_code", "9_2_code")
        write_submission(folder, f"s{k:02d}", student_notebook(ok=ok))
    write_submission(folder, "raiser", student_notebook(extra="RAISE"))
    return folder


def _grade(root: Path, folder: Path, out: Path, **kw) -> list[SubmissionResult]:
    kw.setdefault("grade_one", grade_one)
    kw.setdefault("gradebook", False)
    kw.setdefault("log", lambda line: None)
    return grade_folder(root, folder, results_dir=out / "results", csv_path=out / "grades.csv",
                        feedback_dir=out / "feedback", **kw)


def comparable(out: Path) -> dict:
    """What a run leaves behind, without what may differ between runs (times, generation stamps)."""
    doc = json.loads((out / "results" / "grades.json").read_text())
    for r in doc["results"]:
        r.pop("seconds")
    feedback = {p.relative_to(out / "feedback").as_posix(): p.read_text() for p in (out / "feedback").rglob("*.html")}
    return {"csv": (out / "grades.csv").read_text(), "results": doc["results"], "feedback": feedback}


def gradebook_scores(db_url: str) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return {(s.student.id, g.name): g.score for s in gb.assignment_submissions(LAB) for nb in s.notebooks
                for g in nb.grades}


def test_two_workers_give_exactly_the_serial_grades_and_gradebook(course_root, tmp_path, monkeypatch, calls,
                                                                   db_url) -> None:
    import shutil

    monkeypatch.setenv("FAKE_DELAY", "2")           # longer than a child's start-up: two of them must overlap
    monkeypatch.setenv("FAKE_SPANS", str(tmp_path / "spans.txt"))
    folder = class_of(tmp_path / "in", n=4)
    shutil.copy(db_url.removeprefix("sqlite:///"), tmp_path / "serial.db")
    serial = _grade(course_root, folder, tmp_path / "serial", db_url=f"sqlite:///{tmp_path / 'serial.db'}",
                    gradebook=True, autograded_dir=tmp_path / "ag1")
    (tmp_path / "spans.txt").unlink()
    parallel = _grade(course_root, folder, tmp_path / "parallel", workers=2, db_url=db_url, gradebook=True,
                      autograded_dir=tmp_path / "ag2")

    assert [(r.student, r.total, r.status) for r in parallel] == [(r.student, r.total, r.status) for r in serial]
    assert {r.student: r.total for r in parallel} == {**{f"s{k:02d}": FULL if k % 3 != 2 else 2.0 for k in range(4)},
                                                     "raiser": 0.0}
    assert comparable(tmp_path / "parallel") == comparable(tmp_path / "serial")
    assert gradebook_scores(db_url) == gradebook_scores(f"sqlite:///{tmp_path / 'serial.db'}")
    assert len(gradebook_scores(db_url)) == 5 * len(POINTS)
    # It really ran two at a time (and never more), each in a process other than this one.
    spans = [tuple(map(float, ln.split())) for ln in (tmp_path / "spans.txt").read_text().splitlines()]
    assert len(spans) == 4                       # the raiser raises before it records a span
    events = sorted([(s[0], 1) for s in spans] + [(s[1], -1) for s in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2
    import os
    # Two grading processes, children of this one, each kept for the submissions of its worker thread.
    assert len({int(s[2]) for s in spans}) == 2 and {int(s[3]) for s in spans} == {os.getpid()}
    assert {int(s[4]) for s in spans} == {max(1, (os.cpu_count() or 1) // 2)}     # each its share of the cores
    assert sorted(calls()).count(f"s00/{LAB}") == 2     # once per run: nothing graded twice within a run


def test_a_grading_process_that_dies_or_hangs_costs_its_own_row(course_root, tmp_path, monkeypatch) -> None:
    # More than a child needs to start, even on a loaded machine (torch's import alone can take seconds).
    monkeypatch.setenv("COURSE_GRADER_GRACE", "25")
    folder = class_of(tmp_path / "in", n=3)
    write_submission(folder, "dier", student_notebook(extra="DIE"))
    write_submission(folder, "hanger", student_notebook(extra="HANG"))
    results = {r.student: r for r in _grade(course_root, folder, tmp_path, workers=2, timeout=1)}
    assert results["dier"].total == 0 and "exited with code 9" in results["dier"].status
    assert "ran 26 s and was stopped" in results["hanger"].status
    for r in (results["dier"], results["hanger"]):
        assert [t.grade_id for t in r.tests] == list(POINTS)
        assert all(t.message.startswith("not graded: the grading process") for t in r.tests)
    assert results["s00"].total == FULL and results["s02"].total == 2.0


def test_workers_must_be_positive(course_root, tmp_path) -> None:
    from course import cli

    write_submission(tmp_path / "in", "ann", student_notebook())
    assert cli.main(["--root", str(course_root), "grade", str(tmp_path / "in"), "--workers", "0"]) == 2


def test_a_function_other_processes_cannot_import_is_graded_here(course_root, tmp_path) -> None:
    lines: list[str] = []
    folder = class_of(tmp_path / "in", n=2)
    results = _grade(course_root, folder, tmp_path, workers=2, log=lines.append,
                     grade_one=lambda *a, **k: grade_one(*a, **k))
    assert [r.total for r in results] == [0.0, FULL, FULL]
    assert any("cannot run in another process" in ln for ln in lines)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_summary_says_what_happened(course_root, tmp_path, workers) -> None:
    lines: list[str] = []
    folder = class_of(tmp_path / "in", n=2)
    _grade(course_root, folder, tmp_path, workers=workers, log=lines.append)
    _grade(course_root, folder, tmp_path, workers=workers, log=lines.append)
    summaries = [ln for ln in lines if ln.startswith("grade: 3 submission(s):")]
    assert summaries[0].startswith("grade: 3 submission(s): 3 graded, 0 up to date, 1 with errors;")
    assert summaries[1].startswith("grade: 3 submission(s): 0 graded, 3 up to date, 1 with errors;")


@pytest.mark.slow
def test_the_real_engine_grades_the_same_with_two_workers(tmp_path) -> None:
    """Lab 2's three samples and Lab 3's partial one, with the sandboxed engine and the real judges: one at a
    time in this process, then two at a time in child processes (each with one torch thread instead of two)."""
    import shutil

    from course.data import DataNotFoundError
    from course.grader.toolkit import mnist

    root = Path(__file__).resolve().parents[2]
    try:
        mnist()
    except DataNotFoundError as exc:
        pytest.skip(f"no MNIST copy: {exc}")
    samples = root / "autograder" / "samples" / "submitted"
    for who in ("correct", "partial", "untouched"):
        shutil.copytree(samples / who / "lab2_backprop", tmp_path / "in" / who / "lab2_backprop")
    shutil.copytree(samples / "partial" / "lab3_mlp_mnist", tmp_path / "in" / "partial" / "lab3_mlp_mnist")
    serial = _grade(root, tmp_path / "in", tmp_path / "serial", grade_one=None)
    parallel = _grade(root, tmp_path / "in", tmp_path / "parallel", workers=2, grade_one=None)
    assert comparable(tmp_path / "parallel") == comparable(tmp_path / "serial")
    totals = {(r.student, r.lab): r.total for r in parallel}
    assert totals[("correct", "lab2_backprop")] == 17 and totals[("untouched", "lab2_backprop")] == 0
    assert 0 < totals[("partial", "lab3_mlp_mnist")] < 14
    assert [(r.student, r.lab, r.total) for r in parallel] == [(r.student, r.lab, r.total) for r in serial]
