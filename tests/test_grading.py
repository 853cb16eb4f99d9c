"""Tests for course.grading: the CSV and table, and clear errors for bad folders."""
from __future__ import annotations

import csv

import pytest

from course.grading import GradeRow, _submitted_dir, format_table, write_csv
from course.pipeline import PipelineError


def _rows():
    maxes = {"3_1": 2.0, "3_2": 3.0, "3_10": 1.0}
    return [GradeRow("ann", "lab3", {"3_1": 2.0, "3_2": 3.0, "3_10": 1.0}, maxes),
            GradeRow("bob", "lab3", {"3_1": 2.0, "3_2": 0.0, "3_10": 0.0}, maxes, status="error: boom")]


def test_csv_has_points_per_task_in_lab_order(tmp_path) -> None:
    path = write_csv(_rows(), tmp_path / "g.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["student", "lab", "3_1", "3_2", "3_10", "total", "max", "status"]  # 3_10 after 3_2
    assert rows[1] == ["ann", "lab3", "2", "3", "1", "6", "6", "ok"]
    assert rows[2] == ["bob", "lab3", "2", "0", "0", "2", "6", "error: boom"]


def test_table_shows_earned_over_max() -> None:
    table = format_table(_rows())
    assert "3/3" in table and "0/3" in table and "6/6" in table and "2/6" in table and "error: boom" in table


def test_submission_folder_errors(tmp_path) -> None:
    with pytest.raises(PipelineError, match="no such folder"):
        _submitted_dir(tmp_path / "nope")
    (tmp_path / "submitted").mkdir()
    assert _submitted_dir(tmp_path) == (tmp_path / "submitted").resolve()


def test_failure_reason_is_the_telling_line() -> None:
    from course.grading import _reason

    log = ("[AutogradeApp | INFO] Converting notebook\nTraceback (most recent call last):\n"
           "nbformat.reader.NotJSONError: Notebook does not appear to be JSON\n"
           "[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors")
    assert _reason(log) == "nbformat.reader.NotJSONError: Notebook does not appear to be JSON"


@pytest.mark.slow
def test_a_hung_cell_and_a_deleted_test_cost_only_their_points(course_copy, tmp_path, monkeypatch) -> None:
    import shutil

    import nbformat

    from course.grading import grade

    lab = "lab3_mlp_mnist"
    sample = course_copy / "autograder" / "samples" / "submitted" / "correct" / lab
    folder = tmp_path / "submitted"
    for student in ("loops", "deleted"):
        shutil.copytree(sample, folder / student / lab)
    path = folder / "loops" / lab / f"{lab}.ipynb"
    nb = nbformat.read(path, 4)
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "3_1_code").source = \
        "while True:\n    pass"
    nbformat.write(nb, path)
    path = folder / "deleted" / lab / f"{lab}.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "3_2"]
    nbformat.write(nb, path)

    monkeypatch.setenv("COURSE_CELL_TIMEOUT", "20")
    rows = {r.student: r for r in grade(course_copy, tmp_path, log=lambda *_: None)}
    assert "timed out in 3_1_code" in rows["loops"].status and rows["loops"].scores["3_1"] == 0
    deleted = rows["deleted"]
    assert "test cells deleted, 0 points: 3_2" in deleted.status
    assert deleted.scores["3_2"] == 0 and deleted.scores["3_1"] == 2 and deleted.scores["3_6_below_1_8"] == 1


@pytest.mark.slow
def test_a_failed_regrade_does_not_keep_the_previous_scores(course_copy, tmp_path) -> None:
    import shutil

    from course.grading import grade

    lab = "lab3_mlp_mnist"
    sub = tmp_path / "submitted" / "ann" / lab
    shutil.copytree(course_copy / "autograder" / "samples" / "submitted" / "correct" / lab, sub)
    first = grade(course_copy, tmp_path, log=lambda *_: None)[0]
    assert first.total == first.max_total == 14, first
    (sub / f"{lab}.ipynb").write_text('{"cells": [')  # the resubmission is corrupt
    second = grade(course_copy, tmp_path, log=lambda *_: None)[0]
    assert second.total == 0 and "is not a valid notebook" in second.status, second
