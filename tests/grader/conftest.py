"""Fixtures of the grader's tests: a tiny course (``fake_engine.make_course``) and a counter of engine calls."""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))   # fake_engine, for tests and their subprocesses

import fake_engine  # noqa: E402


@pytest.fixture
def course_root(tmp_path: Path) -> Path:
    """A course checkout holding one lab, ``lab9_mini`` (no gradebook yet)."""
    return fake_engine.make_course(tmp_path / "course")


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The fake engine's calls, as ``["student/lab", ...]``: read them with ``calls()``."""
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("FAKE_CALLS", str(path))

    def read() -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [json.loads(s) + "/" + lab for s, lab in (ln.rsplit("/", 1) for ln in lines)]
    return read


def teach(db_url: str) -> None:
    """Tell a gradebook what nbgrader's generate_assignment would about lab9_mini (fast, without nbgrader)."""
    from nbgrader.api import Gradebook

    from course.grader.gradebook import tools_on_path

    tools_on_path()
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(fake_engine.LAB)
        gb.update_or_create_notebook(fake_engine.LAB, fake_engine.LAB)
        for gid, points in fake_engine.POINTS.items():
            gb.update_or_create_grade_cell(gid, fake_engine.LAB, fake_engine.LAB, max_score=points, cell_type="code")
        for sid in ("9_1_code", "9_2_code"):
            gb.update_or_create_solution_cell(sid, fake_engine.LAB, fake_engine.LAB)


@pytest.fixture(scope="session")
def taught_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gradebook that knows lab9_mini (made once: a new gradebook runs `alembic`, which takes seconds)."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    teach(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, taught_db: Path) -> str:
    """A fresh copy of the taught gradebook."""
    shutil.copy(taught_db, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"
