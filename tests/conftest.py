"""Shared fixtures: the repository root, real MNIST, and a scratch copy of the course."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("MPLBACKEND", "Agg")
if "COURSE_DATA" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["COURSE_DATA"] = str(ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST splits (skipped when no copy is reachable)."""
    from course.data import DataNotFoundError, mnist_splits

    try:
        return mnist_splits(download=False)
    except DataNotFoundError as exc:
        pytest.skip(f"no MNIST copy: {exc}")


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A scratch copy of the course (no git, no caches) that build/grade may write into."""
    dst = tmp_path / "course"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
        ".git", "data", "__pycache__", "*.egg-info", ".pytest_cache", "submitted", "autograded", "feedback",
        "gradebook.db", "grades.csv", ".venv", "build", "dist"))
    return dst
