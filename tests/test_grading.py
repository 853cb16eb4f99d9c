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


def test_csv_has_points_per_task_in_task_order(tmp_path) -> None:
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
