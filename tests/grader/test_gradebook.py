"""nbgrader's side: scores and messages in the gradebook, autograded notebooks without hidden tests, feedback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fake_engine import HIDDEN, LAB, POINTS, release_notebook, solution_notebook, student_notebook

from course.grader.gradebook import (GradebookWriter, autograded_notebook, ensure_assignment, verdict_line,
                                     write_autograded)
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict


def _result(student: str = "ann", ok: tuple[str, ...] = ("9_1",)) -> SubmissionResult:
    return SubmissionResult(student, LAB, [Verdict(g, p if g in ok else 0.0, p, "" if g in ok else f"{g}: wrong")
                                           for g, p in POINTS.items()], notes=["a note"])


def _scores(db_url: str, student: str) -> tuple[dict, dict]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_submission_notebook(LAB, LAB, student)
        return ({g.name: (g.auto_score, g.score, g.needs_manual_grade) for g in nb.grades},
                {c.name: c.auto_comment for c in nb.comments})


def _writer(root: Path, db_url: str, log: list[str]) -> GradebookWriter:
    return GradebookWriter(root, db_url, csv_path=root / "grades.csv", learn=lambda *a: None, log=log.append)


def test_scores_and_messages_reach_the_gradebook(tmp_path: Path, db_url: str) -> None:
    log: list[str] = []
    writer = _writer(tmp_path, db_url, log)
    assert writer.write(_result("ann", ok=("9_1",)))
    grades, comments = _scores(db_url, "ann")
    assert grades == {"9_1": (2.0, 2.0, False), "9_2": (0.0, 0.0, False), "9_2_extra": (0.0, 0.0, False)}
    assert comments == {"9_1_code": None,
                        "9_2_code": "✗ 9.2: 0/3 — 9_2: wrong\n✗ 9.2 (extra): 0/1 — 9_2_extra: wrong"}
    # A regrade updates the same submission.
    assert writer.write(_result("ann", ok=("9_1", "9_2", "9_2_extra")))
    grades, comments = _scores(db_url, "ann")
    assert {g: s[0] for g, s in grades.items()} == POINTS and set(comments.values()) == {None}
    assert not log


def test_a_manual_score_stands_and_is_flagged(tmp_path: Path, db_url: str) -> None:
    from nbgrader.api import Gradebook

    writer = _writer(tmp_path, db_url, [])
    writer.write(_result("bob", ok=()))
    with Gradebook(db_url) as gb:
        gb.find_grade("9_1", LAB, LAB, "bob").manual_score = 1.5
        gb.db.commit()
    writer.write(_result("bob", ok=("9_1",)))
    grades, _ = _scores(db_url, "bob")
    assert grades["9_1"] == (2.0, 1.5, True)


def test_a_garbled_gradebook_is_reported_once_and_the_writer_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "gradebook.db"
    db.write_bytes(os.urandom(4096))
    log: list[str] = []
    writer = _writer(tmp_path, f"sqlite:///{db}", log)
    assert not writer.write(_result("ann"))
    assert not writer.write(_result("bob"))
    assert len(log) == 1 and log[0].startswith(f"the gradebook at {db} could not be written: ")
    assert log[0].endswith(f"; grades are in {tmp_path / 'grades.csv'}")


def test_verdict_lines() -> None:
    assert verdict_line(Verdict("3_2", 3.0, 3.0)) == "✓ 3.2: 3/3"
    assert (verdict_line(Verdict("3_2", 0.0, 3.0, "3.2: the loss\ndoes not fall"))
            == "✗ 3.2: 0/3 — 3.2: the loss does not fall")
    assert verdict_line(Verdict("3_6_below_2_2", 0.0, 1.0)) == "✗ 3.6 (below_2_2): 0/1"


def _graded_cells(nb) -> dict:
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def test_the_autograded_notebook_shows_visible_tests_and_verdicts_never_hidden_tests() -> None:
    student = student_notebook(ok=("9_1_code",))
    # The student edited a visible test, deleted another, and copied a solution cell (duplicate grade id).
    tests = _graded_cells(student)
    tests["9_1"].source = "pass  # I made the test pass"
    student.cells.remove(tests["9_2_extra"])
    copy = nbformat.from_dict(dict(student.cells[2]))
    copy.metadata = nbformat.from_dict({"nbgrader": dict(student.cells[2].metadata.nbgrader)})
    student.cells.append(copy)
    student.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "made_up",
                                                                                     "grade": True, "points": 9}}))
    nb = autograded_notebook(release_notebook(), student, _result("ann", ok=("9_1",)))
    text = nbformat.writes(nb)
    assert HIDDEN not in text and "I made the test pass" not in text
    graded = _graded_cells(nb)
    visible = _graded_cells(release_notebook())
    assert list(graded) == ["9_1", "9_2", "9_2_extra"]                     # the deleted one is back, in place
    for gid, cell in graded.items():
        assert cell.source == visible[gid].source
        [out] = cell.outputs
        assert out.output_type == "stream"
    assert graded["9_1"].outputs[0].text == "✓ 9.1: 2/2\n"
    assert graded["9_2"].outputs[0].text == "✗ 9.2: 0/3 — 9_2: wrong\n"
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("9_1_code") == 1 and "made_up" not in ids
    assert "return x + 1  # OK" in text                                      # the student's own code is kept
    assert nb.cells[0].outputs[0].text.startswith("Autograder: 2/6 points\n")
    nbformat.validate(nb)
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_an_unreadable_notebook_gets_the_release_notebook_with_verdicts(tmp_path: Path) -> None:
    result = _result("ann", ok=())
    result.status = "error: lab9_mini.ipynb is not a valid notebook: the file is empty (0 bytes)"
    nb = autograded_notebook(release_notebook(), None, result)
    assert "status: error: lab9_mini.ipynb is not a valid notebook" in nb.cells[0].outputs[0].text
    assert list(_graded_cells(nb)) == ["9_1", "9_2", "9_2_extra"]


def test_write_autograded_places_the_notebook_for_nbgrader(tmp_path: Path, course_root: Path) -> None:
    out = tmp_path / "autograded"
    path = write_autograded(course_root, _result("j\\xf6rg"), student_notebook(), out)
    assert path == out / "j\\xf6rg" / LAB / f"{LAB}.ipynb" and nbformat.read(path, 4).cells
    (course_root / "notebooks" / LAB / f"{LAB}.ipynb").unlink()
    assert write_autograded(course_root, _result("ann"), student_notebook(), out) is None


@pytest.mark.slow
def test_nbgrader_learns_the_lab_and_generate_feedback_shows_messages_not_hidden_tests(
        course_root: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    log: list[str] = []
    writer = GradebookWriter(course_root, db_url, log=log.append)              # learns through generate_assignment
    result = _result("ann", ok=("9_1",))
    result.tests[1].message = "9.2: your code raised <script>alert(1)</script>"
    assert writer.write(result), log
    ensure_assignment(course_root, db_url, LAB, POINTS)                       # known now: nothing to do
    autograded, feedback = tmp_path / "autograded", tmp_path / "feedback"
    write_autograded(course_root, result, student_notebook(ok=("9_1_code",)), autograded)
    env = {**os.environ, "COURSE_DB_URL": db_url, "COURSE_AUTOGRADED": str(autograded),
           "COURSE_FEEDBACK": str(feedback), "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                      os.environ.get("PATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", LAB, "--force"],
                          cwd=course_root / "autograder", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = (feedback / "ann" / LAB / f"{LAB}.html").read_text(encoding="utf-8")
    assert "lab9_mini (Score: 2.0 / 6.0)" in html and "✓ 9.1: 2/2" in html and "visible test 9.1" in html
    assert "9_2_extra: wrong" in html and "your code raised &lt;script&gt;" in html
    assert "<script>alert" not in html                       # a message is text, even in nbgrader's Markdown comments
    assert HIDDEN not in html and HIDDEN in nbformat.writes(solution_notebook())
