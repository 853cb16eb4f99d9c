"""Grading a folder: bad input never crashes the batch, grades are never lost, a killed batch resumes."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from fake_engine import LAB, POINTS, SECRET, bytes_folder_or_skip, grade_one, student_notebook, write_submission

from course.grader.batch import grade_folder
from course.grader.intake import Caps
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import load_results
from course.checkout import PipelineError

FULL = sum(POINTS.values())


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return {f"{r['student']}/{r['lab']}": r for r in csv.DictReader(fh)}


def _grade(root: Path, folder: Path, tmp_path: Path, **kw) -> list[SubmissionResult]:
    kw.setdefault("grade_one", grade_one)
    kw.setdefault("gradebook", False)
    kw.setdefault("log", lambda line: None)
    return grade_folder(root, folder, results_dir=tmp_path / "results", csv_path=tmp_path / "grades.csv", **kw)


def _v3_notebook() -> str:
    """A notebook as IPython 2 saved it (nbformat 3, worksheets), with the answer to 9.1."""
    meta = {"nbgrader": {"grade": False, "grade_id": "9_1_code", "solution": True, "locked": False,
                         "schema_version": 3, "task": False}}
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": LAB},
                       "worksheets": [{"metadata": {}, "cells": [
                           {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Lab 9"]},
                           {"cell_type": "code", "collapsed": False, "input": ["def f(x):\n", "    return x + 1  # OK"],
                            "language": "python", "metadata": meta, "outputs": [], "prompt_number": 3}]}]})


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    """A folder of submissions as students really hand them in."""
    folder = tmp_path / "incoming" / "submitted"
    write_submission(folder, "correct", student_notebook())
    write_submission(folder, "partial", student_notebook(ok=("9_1_code",)))
    write_submission(folder, "badjson", '{"cells": [{"cell_type": "code", "source": "print(1)"')
    write_submission(folder, "empty", b"")
    (write_submission(folder, "missing", None) / "answers.py").write_text("def f(x): return x + 1\n")
    write_submission(folder, "renamed", student_notebook(), name="Copy of lab9_mini.ipynb")
    write_submission(folder, "oldformat", _v3_notebook())
    wrong_kernel = student_notebook()
    wrong_kernel.metadata["kernelspec"] = {"display_name": "Julia 1.9", "language": "julia", "name": "julia-1.9"}
    write_submission(folder, "julia", wrong_kernel)
    write_submission(folder, "crasher", student_notebook(extra="RAISE"))
    # Links out of the submission to the instructor's files: their content must never reach the scratch copy.
    planted = tmp_path / "instructor"
    (planted / "references").mkdir(parents=True)
    (planted / "gradebook.db").write_bytes(SECRET)
    (planted / "references" / f"{LAB}.json").write_bytes(SECRET)
    mallory = write_submission(folder, "mallory", student_notebook())
    (mallory / "gradebook.db").symlink_to(planted / "gradebook.db")
    (mallory / "references").symlink_to(planted / "references")
    big = write_submission(folder, "big", student_notebook())
    (big / "weights.pt").write_bytes(b"\0" * 200_000)
    write_submission(folder, "correct", student_notebook(), lab="lab42_nope")
    (folder / "flat").mkdir()                                       # the notebook without its lab folder
    (folder / "flat" / f"{LAB}.ipynb").write_text(nbformat.writes(student_notebook()))
    return tmp_path / "incoming"


def test_every_kind_of_bad_submission_is_a_row_and_none_stops_the_batch(course_root, submissions, tmp_path,
                                                                         calls) -> None:
    lines: list[str] = []
    results = _grade(course_root, submissions, tmp_path, caps=Caps(file_bytes=100_000), log=lines.append)
    by = {f"{r.student}/{r.lab}": r for r in results}
    assert len(results) == 13 and len(by) == 13
    assert by[f"correct/{LAB}"].total == FULL and by[f"correct/{LAB}"].status == "ok"
    assert by[f"partial/{LAB}"].total == 2 and by[f"partial/{LAB}"].tests[1].message == "9.2: wrong answer"
    assert by[f"badjson/{LAB}"].status.startswith(
        "error: lab9_mini.ipynb is not a valid notebook: not valid JSON (line 1, column 54")
    assert by[f"empty/{LAB}"].status == "error: lab9_mini.ipynb is not a valid notebook: the file is empty (0 bytes)"
    assert by[f"missing/{LAB}"].status == "error: no notebook: lab9_mini.ipynb is missing from the submission"
    renamed = by[f"renamed/{LAB}"]
    assert renamed.total == FULL and "graded Copy of lab9_mini.ipynb instead" in renamed.notes[0]
    assert by[f"oldformat/{LAB}"].total == 2 and "converted to nbformat 4" in by[f"oldformat/{LAB}"].notes[0]
    assert by[f"julia/{LAB}"].total == FULL and "'Julia 1.9' is ignored" in by[f"julia/{LAB}"].notes[0]
    assert by[f"crasher/{LAB}"].status == "error: RuntimeError: boom from the engine"
    assert by[f"crasher/{LAB}"].total == 0 and len(by[f"crasher/{LAB}"].tests) == 3
    mallory = by[f"mallory/{LAB}"]
    assert mallory.total == FULL and not [n for n in mallory.notes if "LEAK" in n]
    assert {"skipped gradebook.db: a symbolic link (links are never followed)",
            "skipped references: a symbolic link (links are never followed)"} <= set(mallory.notes)
    assert by[f"big/{LAB}"].total == FULL and "weights.pt" in by[f"big/{LAB}"].notes[0]
    assert by["correct/lab42_nope"].status == "unknown lab 'lab42_nope'" and not by["correct/lab42_nope"].tests
    assert by["flat/"].status == "error: no lab folder: expected <student>/<lab>/<lab>.ipynb"
    # Broken submissions never reach the engine; everything else does, once.
    assert sorted(calls()) == sorted(f"{s}/{LAB}" for s in ("correct", "partial", "renamed", "oldformat", "julia",
                                                             "crasher", "mallory", "big"))
    # Every submission is a row of grades.csv, with a reason for every lost point.
    rows = _csv(tmp_path / "grades.csv")
    assert set(rows) == set(by)
    assert rows[f"partial/{LAB}"]["reasons"] == "9_2: 9.2: wrong answer; 9_2_extra: 9.2: wrong answer"
    assert rows[f"empty/{LAB}"]["total"] == "0" and rows[f"empty/{LAB}"]["max"] == "6"
    assert rows[f"empty/{LAB}"]["reasons"].startswith("9_1: lab9_mini.ipynb is not a valid notebook: the file is empty")
    assert len(json.loads((tmp_path / "results" / "grades.json").read_text())["results"]) == 13
    # One status line per submission, then the table.
    assert sum(1 for ln in lines if ln.startswith("grade [")) == 13
    assert any("correct    lab9_mini" in ln or ln.startswith("student") for ln in lines)


def test_whatever_the_engine_returns_every_grade_id_gets_a_verdict_within_its_points(course_root, tmp_path) -> None:
    folder = tmp_path / "in"
    for name in ("none", "odd", "exit"):
        write_submission(folder, name, student_notebook())

    def engine(root, lab, path, *, student, timeout):
        if student == "none":
            return None
        if student == "exit":
            raise SystemExit(3)
        return SubmissionResult(student, lab, [Verdict("9_1", 99.0, 2.0), Verdict("9_2", math.nan, 3.0, "nan")])
    by = {r.student: r for r in _grade(course_root, folder, tmp_path, grade_one=engine)}
    assert by["none"].status == "error: TypeError: the grader returned NoneType, not a SubmissionResult"
    assert by["exit"].status == "error: SystemExit: 3" and by["exit"].total == 0
    odd = by["odd"]
    assert [(t.grade_id, t.score, t.max_score) for t in odd.tests] == [("9_1", 2.0, 2.0), ("9_2", 0.0, 3.0),
                                                                       ("9_2_extra", 0.0, 1.0)]
    assert odd.tests[2].message == "not graded: the grader gave no verdict"


def test_resume_skips_unchanged_submissions_and_force_regrades(course_root, tmp_path, calls) -> None:
    folder = tmp_path / "in"
    for name in ("ann", "bob", "cat"):
        write_submission(folder, name, student_notebook())
    _grade(course_root, folder, tmp_path)
    assert len(calls()) == 3
    lines: list[str] = []
    again = _grade(course_root, folder, tmp_path, log=lines.append)
    assert len(calls()) == 3 and [r.total for r in again] == [FULL] * 3
    assert sum("up to date, not regraded" in ln for ln in lines) == 3
    # bob resubmits a notebook that is not even JSON: regraded, and none of his earlier points survive.
    (folder / "bob" / LAB / f"{LAB}.ipynb").write_text('{"cells": [')
    by = {r.student: r for r in _grade(course_root, folder, tmp_path)}
    assert len(calls()) == 3 and by["bob"].total == 0 and "is not a valid notebook" in by["bob"].status
    assert _csv(tmp_path / "grades.csv")[f"bob/{LAB}"]["total"] == "0"
    (folder / "cat" / LAB / "extra.txt").write_text("a new file")
    _grade(course_root, folder, tmp_path)
    assert calls()[3:] == [f"cat/{LAB}"]
    _grade(course_root, folder, tmp_path, force=True)
    assert sorted(calls()[4:]) == [f"ann/{LAB}", f"cat/{LAB}"]          # bob's notebook is still unreadable


def test_a_student_folder_name_that_is_not_utf8(course_root, tmp_path, db_url) -> None:
    folder = tmp_path / "in"
    raw = b"m\xfcller\xff"
    bytes_folder_or_skip(folder, raw)
    write_submission(folder, raw, student_notebook(ok=("9_1_code",)))
    [result] = _grade(course_root, folder, tmp_path, gradebook=True, db_url=db_url,
                      autograded_dir=tmp_path / "autograded")
    assert result.student == "m\\xfcller\\xff" and result.total == 2
    [stored] = (tmp_path / "results" / LAB).iterdir()
    assert stored.name.startswith("m_xfcller_xff-") and stored.name.isascii()
    assert f"m\\xfcller\\xff/{LAB}" in _csv(tmp_path / "grades.csv")
    assert (tmp_path / "autograded" / "m\\xfcller\\xff" / LAB / f"{LAB}.ipynb").is_file()


def test_results_reach_the_gradebook_and_autograded_notebooks(course_root, submissions, tmp_path, db_url) -> None:
    from nbgrader.api import Gradebook

    # nbgrader's collect leaves a timestamp.txt; the formgrader lists a submission as autograded when it matches.
    (submissions / "submitted" / "correct" / LAB / "timestamp.txt").write_text("2024-03-01 12:00:00.000000 UTC\n")
    (submissions / "submitted" / "partial" / LAB / "timestamp.txt").write_text("the day before the deadline")
    _grade(course_root, submissions, tmp_path, gradebook=True, db_url=db_url, autograded_dir=tmp_path / "ag")
    with Gradebook(db_url) as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(LAB)}
        times = {s.student.id: s.timestamp for s in gb.assignment_submissions(LAB)}
    assert scores["correct"] == FULL and scores["partial"] == 2 and scores["empty"] == 0
    assert str(times["correct"]) == "2024-03-01 12:00:00" and times["partial"] is None
    assert (tmp_path / "ag" / "correct" / LAB / "timestamp.txt").read_text().startswith("2024-03-01")
    assert "lab42_nope" not in {a.name for a in Gradebook(db_url).assignments}
    empty = nbformat.read(tmp_path / "ag" / "empty" / LAB / f"{LAB}.ipynb", 4)
    assert "the file is empty" in empty.cells[0].outputs[0].text
    assert all(json.loads(p.read_text())["exported"] for p in (tmp_path / "results" / LAB).iterdir())


def test_a_garbled_gradebook_is_reported_and_the_batch_finishes(course_root, submissions, tmp_path, calls,
                                                                 taught_db) -> None:
    db = tmp_path / "gradebook.db"
    db.write_bytes(os.urandom(8192))
    lines: list[str] = []
    results = _grade(course_root, submissions, tmp_path, gradebook=True, db_url=f"sqlite:///{db}",
                     autograded_dir=tmp_path / "ag", log=lines.append)
    assert len(results) == 13 and len(_csv(tmp_path / "grades.csv")) == 13
    reports = [ln for ln in lines if "could not be written" in ln]
    assert len(reports) == 1 and reports[0].startswith(f"the gradebook at {db} could not be written: ")
    assert reports[0].endswith(f"grades are in {tmp_path / 'grades.csv'}")
    # With the gradebook repaired, a rerun regrades nothing and puts every stored grade into it.
    shutil.copy(taught_db, db)
    n = len(calls())
    _grade(course_root, submissions, tmp_path, gradebook=True, db_url=f"sqlite:///{db}",
           autograded_dir=tmp_path / "ag")
    assert len(calls()) == n
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        assert len(gb.assignment_submissions(LAB)) == 11


def test_kill_9_midway_then_resume(course_root, tmp_path, calls) -> None:
    folder = tmp_path / "in"
    students = [f"s{i:02d}" for i in range(12)]
    for name in students:
        write_submission(folder, name, student_notebook(ok=("9_1_code",)))
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(Path(__file__).resolve().parent)!r}, {str(Path(__file__).resolve().parents[2])!r}]
        from pathlib import Path
        from fake_engine import grade_one
        from course.grader.batch import grade_folder
        grade_folder(Path({str(course_root)!r}), Path({str(folder)!r}), grade_one=grade_one, gradebook=False,
                     results_dir=Path({str(tmp_path / "results")!r}), csv_path=Path({str(tmp_path / "grades.csv")!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "FAKE_DELAY": "0.25"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(calls()) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    started = len(calls())
    assert 5 <= started < len(students), started
    finished, problems = load_results(tmp_path / "results")
    assert not problems and started - 1 <= len(finished) <= started      # at most the one in hand is lost
    assert not (tmp_path / "grades.csv").exists()

    results = _grade(course_root, folder, tmp_path)
    regraded = calls()[started:]
    assert sorted(regraded) == sorted(f"{s}/{LAB}" for s in students if s not in {r.student for r in finished})
    assert [r.total for r in results] == [2.0] * len(students)
    rows = _csv(tmp_path / "grades.csv")
    assert sorted(rows) == sorted(f"{s}/{LAB}" for s in students)
    assert not [p for p in (tmp_path / "results").rglob("*") if p.name.endswith(".tmp")]
    for path in (tmp_path / "results" / LAB).iterdir():
        json.loads(path.read_text())


def test_the_cli_grades_resumes_and_forces(course_root, submissions, tmp_path, monkeypatch, calls, db_url) -> None:
    from course import cli
    from course.grader import one

    monkeypatch.setattr(one, "load_engine", lambda spec: grade_one)
    monkeypatch.setenv("COURSE_DB_URL", db_url)
    monkeypatch.setenv("COURSE_AUTOGRADED", str(tmp_path / "ag"))
    args = ["--root", str(course_root), "grade", str(submissions), "--results", str(tmp_path / "r"),
            "--csv", str(tmp_path / "out.csv")]
    assert cli.main(args) == 0                                     # broken submissions are rows, not failures
    assert len(_csv(tmp_path / "out.csv")) == 13 and (tmp_path / "r" / "grades.json").is_file()
    n = len(calls())
    assert cli.main(args) == 0 and len(calls()) == n
    assert cli.main([*args, "--force"]) == 0 and len(calls()) == 2 * n
    assert cli.main([*args, "--lab", "lab0_none"]) == 2


def test_unknown_labs_and_empty_folders_are_clear_errors(course_root, tmp_path) -> None:
    write_submission(tmp_path / "in", "ann", student_notebook())
    with pytest.raises(PipelineError, match="no such lab: lab0"):
        _grade(course_root, tmp_path / "in", tmp_path, labs=["lab0"])
    with pytest.raises(PipelineError, match="no such folder of submissions"):
        _grade(course_root, tmp_path / "nowhere", tmp_path)


@pytest.mark.slow
def test_two_workers_grade_everything_once(course_root, submissions, tmp_path, calls) -> None:
    results = _grade(course_root, submissions, tmp_path, workers=2)
    assert len(results) == 13 and len(calls()) == 8
    assert {r.student: r.total for r in results if r.lab == LAB}["correct"] == FULL
    assert len(_csv(tmp_path / "grades.csv")) == 13


def test_the_grader_key_covers_everything_that_decides_a_grade(course_root, tmp_path) -> None:
    """A stored result is reused only while the solution, the released notebook, every judge file and shared
    helper, the references and the engine's own code are unchanged."""
    import shutil

    import course
    from course.grader.store import grader_key
    from fake_engine import LAB

    package = tmp_path / "course-package"
    shutil.copytree(Path(course.__file__).resolve().parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    key = lambda: grader_key(course_root, LAB, package=package)  # noqa: E731
    judges = course_root / "autograder" / "judges"
    judges.mkdir(parents=True, exist_ok=True)
    first = key()
    assert key() == first, "the key is a pure function of the files"
    changes = [judges / "_toolkit.py", package / "grader" / "engine.py", package / "grader" / "sandbox" / "view.py",
               package / "submission.py", course_root / "autograder" / "references" / f"{LAB}.json",
               course_root / "notebooks" / LAB / f"{LAB}.ipynb", judges / f"{LAB}.py"]
    seen = {first}
    for path in changes:
        path.parent.mkdir(parents=True, exist_ok=True)
        before = path.read_bytes() if path.exists() else None
        path.write_bytes((before or b"") + b"\n# changed\n")
        changed = key()
        assert changed not in seen, f"changing {path.relative_to(tmp_path)} left the key as it was"
        seen.add(changed)
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
        assert key() == first


def test_submissions_with_weights_beside_them_are_graded_first(course_root, tmp_path, calls) -> None:
    """Longest first (re-measuring saved weights is the slow part), so no long submission starts last."""
    folder = tmp_path / "incoming"
    for student in ("ann", "bob", "cyd", "dee"):
        write_submission(folder, student, student_notebook())
    (folder / "cyd" / LAB / "weights.pt").write_bytes(b"\0" * 300_000)
    (folder / "bob" / LAB / "weights.pt").write_bytes(b"\0" * 100_000)
    (folder / "dee" / LAB / "big.pt").symlink_to(folder / "cyd" / LAB / "weights.pt")   # a link counts nothing
    results = _grade(course_root, folder, tmp_path)
    assert calls() == [f"cyd/{LAB}", f"bob/{LAB}", f"ann/{LAB}", f"dee/{LAB}"]
    assert [r.student for r in results] == ["ann", "bob", "cyd", "dee"]        # rows still in the folder's order
    assert all(r.total == FULL for r in results)
