"""A fast stand-in for ``course.grader.engine.grade_submission``, and builders of a tiny course and its submissions.

Importable by name (tests, spawned worker processes, and the kill -9 subprocess add this folder to sys.path).

The mini lab ``lab9_mini`` has tests 9_1 (2 points, answered in cell 9_1_code), 9_2 (3 points) and
9_2_extra (1 point), both answered in 9_2_code. The fake engine gives a test full points when the student's
answer cell holds ``# OK``, raises when the notebook holds ``RAISE``, sleeps ``FAKE_DELAY`` seconds, appends
``<student>/<lab>`` to the file ``FAKE_CALLS`` for every call (and ``<start> <end> <pid> <parent pid> <OMP_NUM_THREADS>`` to ``FAKE_SPANS``
when it is set), and notes any file holding ``SECRET``. A notebook holding ``DIE`` ends the grading process
(``os._exit(9)``), one holding ``HANG`` never returns: only for tests that grade in child processes.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.grader.results import SubmissionResult, TestResult

LAB = "lab9_mini"
SECRET = b"SECRET-REFERENCE-ANSWERS-42"
HIDDEN = "HIDDEN-TEST-SOURCE-7"
REPO = Path(__file__).resolve().parents[2]
POINTS = {"9_1": 2.0, "9_2": 3.0, "9_2_extra": 1.0}


def _meta(gid: str, *, grade: bool = False, solution: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": gid, "locked": not solution, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def solution_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(cells=[
        new_markdown_cell("# Lab 9: a tiny lab for the grader's tests"),
        new_code_cell("import math"),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION",
                      metadata=_meta("9_1_code", solution=True)),
        new_code_cell("assert f(1) == 2\nprint('visible test 9.1')\n### BEGIN HIDDEN TESTS\n"
                      f"assert f(41) == 42  # {HIDDEN}\n### END HIDDEN TESTS",
                      metadata=_meta("9_1", grade=True, points=2)),
        new_code_cell("def g(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_meta("9_2_code", solution=True)),
        new_code_cell(f"assert g(2) == 4\n### BEGIN HIDDEN TESTS\nassert g(5) == 10  # {HIDDEN}\n### END HIDDEN TESTS",
                      metadata=_meta("9_2", grade=True, points=3)),
        new_code_cell("assert g(0) == 0", metadata=_meta("9_2_extra", grade=True, points=1)),
    ], metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def release_notebook() -> nbformat.NotebookNode:
    """What nbgrader's generate_assignment makes of the solution: stubs, hidden tests removed."""
    nb = solution_notebook()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            head = cell.source.split("\n")[0]
            cell.source = f"{head}\n    # YOUR CODE HERE\n    raise NotImplementedError()"
        cell.source = "\n".join(ln for ln in cell.source.split("### BEGIN HIDDEN TESTS")[0].splitlines()).strip()
    return nb


def make_course(root: Path) -> Path:
    """A course checkout with one lab, ``lab9_mini``: config, pyproject, solution and release notebooks."""
    (root / "autograder").mkdir(parents=True)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "autograder" / "nbgrader_config.py")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for folder, nb in (("solutions", solution_notebook()), ("notebooks", release_notebook())):
        (root / folder / LAB).mkdir(parents=True)
        nbformat.write(nb, root / folder / LAB / f"{LAB}.ipynb")
    return root


def student_notebook(ok: tuple[str, ...] = ("9_1_code", "9_2_code"), extra: str = "") -> nbformat.NotebookNode:
    """The release notebook answered: cells in ``ok`` correctly (marked ``# OK``), the others left as stubs."""
    nb = release_notebook()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ok:
            head = cell.source.split("\n")[0]
            cell.source = f"{head}\n    return x + 1  # OK" if gid == "9_1_code" else f"{head}\n    return 2 * x  # OK"
    if extra:
        nb.cells.append(new_code_cell(extra))
    return nb


def write_submission(folder: Path, student: str | bytes, nb: nbformat.NotebookNode | bytes | str | None,
                     name: str = f"{LAB}.ipynb", lab: str = LAB) -> Path:
    """``folder/<student>/<lab>/<name>`` holding ``nb`` (a notebook, or raw bytes/text); the lab folder."""
    base = os.path.join(os.fsencode(folder), os.fsencode(student), os.fsencode(lab))
    os.makedirs(base, exist_ok=True)
    path = Path(os.fsdecode(base))
    if nb is None:
        return path
    if isinstance(nb, (bytes, str)):
        data = nb.encode() if isinstance(nb, str) else nb
    else:
        data = nbformat.writes(nb).encode()
    (path / name).write_bytes(data)
    return path


def grade_one(root: Path, lab: str, folder: Path, *, student: str, timeout: float) -> SubmissionResult:
    """The fake engine (see the module's docstring)."""
    calls = os.environ.get("FAKE_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(student) + "/" + lab + "\n")
    start = time.time()
    time.sleep(float(os.environ.get("FAKE_DELAY", "0")))
    notes = []
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink() and SECRET in path.read_bytes():
            notes.append(f"LEAK: {path.name} holds the secret")
    nb = nbformat.read(Path(folder) / f"{lab}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    if "RAISE" in text:
        raise RuntimeError("boom from the engine\nsecond line")
    if "DIE" in text:
        os._exit(9)
    while "HANG" in text:
        time.sleep(1)
    spans = os.environ.get("FAKE_SPANS")
    if spans:
        with open(spans, "a", encoding="utf-8") as fh:
            fh.write(f"{start} {time.time()} {os.getpid()} {os.getppid()} {os.environ.get('OMP_NUM_THREADS', '-')}\n")
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    tests = []
    for gid, points in POINTS.items():
        cell = "9_1_code" if gid == "9_1" else "9_2_code"
        ok = "# OK" in answers.get(cell, "")
        tests.append(TestResult(gid, points if ok else 0.0, points, "" if ok else f"{gid[0]}.{gid[2]}: wrong answer"))
    return SubmissionResult(student, lab, tests, notes=notes, seconds=0.01)


def bytes_folder_or_skip(folder: Path, name: bytes) -> None:
    """Make ``folder/<name>``; skip the test when the file system refuses a name that is not UTF-8."""
    import pytest

    try:
        os.makedirs(os.path.join(os.fsencode(folder), name))
    except OSError as exc:
        pytest.skip(f"this file system refuses non-UTF-8 names: {exc}")


def set_env(name: str, value: str) -> None:
    """Set a variable in this process's environment (for ``client.run`` on Dask workers: a bound method of
    ``os.environ`` would be pickled with a copy of the mapping, and set nothing there)."""
    os.environ[name] = value
