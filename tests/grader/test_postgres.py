"""The gradebook in a real PostgreSQL server (``COURSE_DB_URL=postgresql://...``), written by a parallel batch.

The server is Debian's ``postgresql`` on a temporary data folder and port (``postgres_server``). Without it the
test skips and says why, except under CI, where ``.ci/run`` installs it: there it fails.
"""
from __future__ import annotations

import csv

import pytest
from ci_support import skip_or_fail
from fake_engine import LAB, POINTS, grade_one
from postgres_server import find_binaries, postgres_server
from test_parallel import class_of

from course.grader.batch import grade_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url():
    bindir, why = find_binaries()
    if bindir is None:
        skip_or_fail(why, "the PostgreSQL tests")
    pytest.importorskip("psycopg", reason="PostgreSQL gradebooks need psycopg (course[instructor])")
    with postgres_server() as url:
        yield url


def _rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_a_parallel_batch_grades_into_postgresql(course_root, tmp_path, monkeypatch, pg_url) -> None:
    from nbgrader.api import Gradebook

    monkeypatch.setenv("COURSE_DB_URL", pg_url)              # as an instructor sets it; no db_url argument
    folder = class_of(tmp_path / "in", n=5)
    lines: list[str] = []

    def grade(**kw):
        return grade_folder(course_root, folder, workers=2, grade_one=grade_one, results_dir=tmp_path / "r",
                            csv_path=tmp_path / "grades.csv", autograded_dir=tmp_path / "ag",
                            feedback_dir=tmp_path / "fb", log=lines.append, **kw)

    results = grade()
    assert not any("could not be written" in ln for ln in lines), "\n".join(lines)
    with open(tmp_path / "grades.csv", encoding="utf-8") as fh:
        expected = {(r["student"], g): float(r[g]) for r in csv.DictReader(fh) for g in POINTS}
    from course.grader.gradebook import with_driver

    with Gradebook(with_driver(pg_url)) as gb:               # nbgrader learned the lab there (generate_assignment)
        assert [g.name for g in gb.find_notebook(LAB, LAB).grade_cells] and gb.find_assignment(LAB)
        got = {(s.student.id, g.name): g.score for s in gb.assignment_submissions(LAB) for nb in s.notebooks
               for g in nb.grades}
    assert got == expected and len(got) == 6 * len(POINTS)
    assert {r.student: r.total for r in results}["s00"] == sum(POINTS.values())
    # It is PostgreSQL's own tables that hold them.
    assert _rows(pg_url, "SELECT count(*) FROM grade")[0][0] == 6 * len(POINTS)
    assert _rows(pg_url, "SELECT count(DISTINCT student_id) FROM submitted_assignment")[0][0] == 6

    grade(force=True)                                        # regraded: updated in place, nothing duplicated
    assert _rows(pg_url, "SELECT count(*) FROM grade")[0][0] == 6 * len(POINTS)
    assert _rows(pg_url, "SELECT count(*) FROM submitted_assignment")[0][0] == 6
    with Gradebook(with_driver(pg_url)) as gb:
        again = {(s.student.id, g.name): g.score for s in gb.assignment_submissions(LAB) for nb in s.notebooks
                 for g in nb.grades}
    assert again == expected


def test_an_unreachable_postgresql_is_reported_and_grades_stay_in_the_csv(course_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DB_URL", "postgresql://postgres@127.0.0.1:9/nowhere")
    lines: list[str] = []
    results = grade_folder(course_root, class_of(tmp_path / "in", n=2), grade_one=grade_one,
                           results_dir=tmp_path / "r", csv_path=tmp_path / "grades.csv",
                           autograded_dir=tmp_path / "ag", feedback_dir=tmp_path / "fb", log=lines.append)
    assert [r.total for r in results] == [0.0, 6.0, 6.0]
    assert sum("the gradebook at postgresql+psycopg://postgres@127.0.0.1:9/nowhere could not be written" in ln
               for ln in lines) == 1
    assert len((tmp_path / "grades.csv").read_text().splitlines()) == 4
