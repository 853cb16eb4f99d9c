"""Shared fixtures: the repository root, real MNIST, and a scratch copy of the course."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from course.startup import skip_unused_format_checkers

skip_unused_format_checkers()   # before the tests import nbformat: 3.5 s of every test process (course/startup.py)

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("MPLBACKEND", "Agg")
if "COURSE_DATA" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["COURSE_DATA"] = str(ROOT.parent / "shared" / "data")
# The README runs `COURSE_DATA=../shared/data python -m pytest`: relative to where pytest started, made absolute
# here, before any test changes directory or starts a kernel elsewhere.
from course.paths import absolute_paths  # noqa: E402
from newcomer import run_demo  # noqa: E402

absolute_paths()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def readme_demo(tmp_path_factory):
    """The README's demo block, run verbatim once per session in a newcomer's clone (see ``newcomer.py``)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    if not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("needs ../shared/data beside the checkout, as the README assumes")
    return run_demo(tmp_path_factory.mktemp("newcomer"))


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
    skip_everywhere = {".git", "__pycache__", ".pytest_cache", ".venv", "build", "dist", ".ipynb_checkpoints",
                       "test-artifacts"}
    # nbgrader's working folders and the gradebook, but not the samples' own submitted/ folder.
    skip_in_autograder = {"submitted", "autograded", "feedback", "feedback_html", "report", "gradebook.db", "grades.csv",
                          "results", ".demo"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {n for n in names if n in skip_everywhere or n.endswith(".egg-info")}
        if here == ROOT:
            skipped |= {"data"} & set(names)
        if here == ROOT / "autograder":
            skipped |= skip_in_autograder & set(names)
        return skipped

    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst
