"""Tests for course.notebooks: loading, nbgrader metadata validation, stub stamping, execution."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.notebooks import (NotebookError, execute_notebook, grade_cells, load_notebook, metadata_problems,
                              stamp_task_ids)


def _cell(src: str, gid: str | None, *, points=None, solution=False):
    c = new_code_cell(src)
    if gid is not None:
        c.metadata["nbgrader"] = {"grade": points is not None, "solution": solution, "locked": False,
                                  "grade_id": gid, "schema_version": 3}
        if points is not None:
            c.metadata["nbgrader"]["points"] = points
    return c


def _good():
    return new_notebook(cells=[
        new_markdown_cell("# lab"),
        _cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", "9_1_code", solution=True),
        _cell("assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 2\n### END HIDDEN TESTS", "9_1", points=2),
    ])


def test_good_notebook_has_no_problems() -> None:
    assert metadata_problems(_good()) == []
    assert list(grade_cells(_good())) == ["9_1"]


@pytest.mark.parametrize("mutate,needle", [
    (lambda nb: nb.cells[2].metadata.nbgrader.update(grade_id="9_1_code"), "duplicate grade_id '9_1_code' (first used in cell 1)"),
    (lambda nb: nb.cells[2].metadata.nbgrader.pop("points"), "needs a positive 'points' value, has None"),
    (lambda nb: nb.cells[2].metadata.nbgrader.update(points=0), "positive 'points'"),
    (lambda nb: nb.cells[2].metadata.nbgrader.update(grade_id="9.1"), "may only hold letters"),
    (lambda nb: nb.cells[2].metadata.nbgrader.update(grade_id="tests"), "should start with its task id"),
    (lambda nb: nb.cells[1].metadata.pop("nbgrader"), "no nbgrader metadata"),
    (lambda nb: setattr(nb.cells[1], "source", "### BEGIN SOLUTION\nx = 1"), "unbalanced BEGIN/END SOLUTION"),
])
def test_metadata_problems_name_the_cell(mutate, needle) -> None:
    nb = _good()
    mutate(nb)
    problems = metadata_problems(nb)
    assert any(needle in p for p in problems), problems
    assert all(p.startswith("cell ") for p in problems)


def test_stamp_task_ids() -> None:
    nb = _good()
    nb.cells[1].source = "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    stamp_task_ids(nb)
    assert 'raise NotImplementedError("Task 9.1: your code here")' in nb.cells[1].source
    assert nb.cells[2].source == _good().cells[2].source


def test_corrupt_notebook_gives_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [ this is not json')
    with pytest.raises(NotebookError, match="bad.ipynb is not a valid notebook"):
        load_notebook(bad)
    with pytest.raises(NotebookError, match="no such notebook"):
        load_notebook(tmp_path / "missing.ipynb")


@pytest.mark.slow
def test_execute_reports_failed_graded_cells(tmp_path) -> None:
    nb = _good()
    nb.cells[1].source = "def f():\n    return 2"
    _, result = execute_notebook(nb, tmp_path, timeout=60)
    assert "9_1" in result.failed_grades and "AssertionError" in result.failed_grades["9_1"]
    _, result = execute_notebook(_good(), tmp_path, timeout=60)
    assert result.ok and result.passed_grades == ["9_1"]
    nbformat.validate(nb)


def test_summary_names_the_first_failing_cell_and_counts_the_rest() -> None:
    from course.notebooks import ExecutionResult

    result = ExecutionResult(errors={7: "NameError: name 'MLP' is not defined", 3: "DataNotFoundError: MNIST data not found",
                                     9: "NameError: name 'data' is not defined"},
                             where={3: "cell 3: data = mnist_splits(seed=0)", 7: "cell 7 (grade_id '3_1'): torch.manual_seed(0)",
                                    9: "cell 9: x"})
    assert result.summary() == ("cell 3: data = mnist_splits(seed=0): DataNotFoundError: MNIST data not found "
                                "(2 later cells failed too)")
    assert ";" not in result.summary()
    assert ExecutionResult().summary() == "no errors"
    assert ExecutionResult(errors={-1: "CellTimeoutError: x"}).summary() == "the kernel: CellTimeoutError: x"


@pytest.mark.slow
def test_execution_reports_where_the_first_error_is(tmp_path) -> None:
    nb = _good()
    nb.cells[1].source = "def f():\n    raise ValueError('boom')"
    nb.cells.insert(1, new_code_cell("import nosuchmodule_xyz"))
    _, result = execute_notebook(nb, tmp_path, timeout=60)
    assert result.summary().startswith("cell 1: import nosuchmodule_xyz: ModuleNotFoundError"), result.summary()
    assert "(1 later cell failed too)" in result.summary()
