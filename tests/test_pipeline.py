"""Tests for course.pipeline: build, check (drift, solutions pass, stubs fail), metadata errors."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from course.checkout import PipelineError, lab_ids
from course.check import check
from course.pipeline import build

LAB = "lab3_mlp_mnist"


def _nb(root, folder):
    return root / folder / LAB / f"{LAB}.ipynb"


def test_labs_are_discovered_in_course_order(repo_root) -> None:
    assert LAB in lab_ids(repo_root)


def test_build_refuses_bad_metadata_and_names_the_cell(course_copy) -> None:
    path = _nb(course_copy, "solutions")
    nb = nbformat.read(path, 4)
    graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    graded[1].metadata.nbgrader["grade_id"] = graded[0].metadata.nbgrader["grade_id"]
    graded[2].metadata.nbgrader.pop("points")
    nbformat.write(nb, path)
    with pytest.raises(PipelineError) as err:
        build(course_copy, [LAB], log=lambda *_: None)
    msg = str(err.value)
    assert "duplicate grade_id '3_1'" in msg and "needs a positive 'points' value" in msg
    assert "cell " in msg


@pytest.mark.slow
def test_check_passes_on_the_repository(readme_demo) -> None:
    """`course check` on the repository, as the README's demo block ran it (once for the session) in a fresh clone."""
    text = readme_demo.output
    assert re.search(r"check: \d+ ok, 0 problem\(s\)", text), text[-3000:]
    for lab in ("lab1_linear", "lab2_backprop", LAB, "lab4_positional_encoding", "lab5_cnn_resnet"):
        assert f"check: ok   {lab}: notebooks/ matches its solution" in text
        assert re.search(rf"check: ok   {lab}: solution runs in fast mode, \d+ graded tests pass", text)
        assert re.search(rf"check: ok   {lab}: the judges give the solution full marks", text)
    assert f"check: ok   {LAB}: untouched student notebook fails all 9 graded tests" in text


@pytest.mark.slow
def test_check_finds_drift_and_free_points(course_copy) -> None:
    student = _nb(course_copy, "notebooks")
    nb = nbformat.read(student, 4)
    nb.cells[1].source += "\n# edited by hand"
    nbformat.write(nb, student)
    # A judge that passes on the untouched stub hands out free points.
    judges = course_copy / "autograder" / "judges" / f"{LAB}.py"
    text = judges.read_text()
    judges.write_text(text.replace("def mlp(ctx: Context) -> None:\n", "def mlp(ctx: Context) -> None:\n    return\n", 1))
    report = check(course_copy, [LAB], solutions=False, log=lambda *_: None)
    problems = "\n".join(report.problems)
    assert "differs from what `course build` makes" in problems
    assert "untouched student notebook earns points on ['3_1']" in problems


@pytest.mark.slow
def test_build_regenerates_notebooks_and_references(course_copy, repo_root) -> None:
    _nb(course_copy, "notebooks").unlink()
    refs = course_copy / "autograder" / "references" / f"{LAB}.json"
    refs.unlink()
    build(course_copy, [LAB], log=lambda *_: None)
    fresh = nbformat.read(_nb(course_copy, "notebooks"), 4)
    committed = nbformat.read(_nb(repo_root, "notebooks"), 4)
    assert [c.source for c in fresh.cells] == [c.source for c in committed.cells]  # builds reproduce
    text = _nb(course_copy, "notebooks").read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert 'NotImplementedError(\\"Task 3.2: your code here\\")' in text
    data = json.loads(refs.read_text())
    assert data["lab"] == LAB and data["seed"] == 0 and data["fast_mode"] is True and data["torch"]
    assert 0 < data["results"]["3.5/test_error"] < 0.3
