"""Tests for the `course` command line, including the README's main job, `course demo`."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import nbformat
import pytest

LAB = "lab3_mlp_mnist"


def _course(*args, cwd=None, timeout=1800):
    return subprocess.run([sys.executable, "-m", "course.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ})


def test_help_lists_the_commands() -> None:
    out = _course("--help").stdout
    for cmd in ("build", "check", "grade", "demo", "solve"):
        assert cmd in out


def test_grade_of_a_missing_folder_is_a_clear_error(repo_root, tmp_path) -> None:
    proc = _course("--root", str(repo_root), "grade", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "no such folder of submissions" in proc.stderr


def test_outside_a_checkout_is_a_clear_error(tmp_path) -> None:
    proc = _course("build", cwd=tmp_path)
    assert proc.returncode == 2 and "not inside a course checkout" in proc.stderr


@pytest.mark.slow
def test_demo_grades_samples_full_partial_zero_and_survives_a_broken_one(course_copy, repo_root) -> None:
    # One extra submission that is not even JSON must not stop the others from being graded.
    broken = course_copy / "autograder" / "samples" / "submitted" / "broken" / LAB
    broken.mkdir(parents=True)
    (broken / f"{LAB}.ipynb").write_text('{"cells": [')
    proc = _course("--root", str(course_copy), "demo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {r["student"]: r for r in csv.DictReader((course_copy / "autograder" / "grades.csv").open())}
    assert set(rows) == {"broken", "correct", "partial", "untouched"}
    full = float(rows["correct"]["max"])
    assert full == 14
    assert float(rows["correct"]["total"]) == full, rows["correct"]
    assert float(rows["untouched"]["total"]) == 0, rows["untouched"]
    assert float(rows["broken"]["total"]) == 0 and "is not a valid notebook" in rows["broken"]["status"]
    partial = rows["partial"]
    assert 0 < float(partial["total"]) < full
    # The partial sample's bugs: no zero_grad (3.2), accuracy returned as error (3.3), no 3.6.
    assert partial["3_1"] == "2" and partial["3_2"] == "0" and partial["3_3"] == "0"
    assert partial["3_6_below_2_2"] == "0"
    assert "correct" in proc.stdout and "total" in proc.stdout  # the printed table
    # The build inside the demo reproduces the committed student notebook exactly.
    made = nbformat.read(course_copy / "notebooks" / LAB / f"{LAB}.ipynb", 4)
    committed = nbformat.read(repo_root / "notebooks" / LAB / f"{LAB}.ipynb", 4)
    assert [c.source for c in made.cells] == [c.source for c in committed.cells]
