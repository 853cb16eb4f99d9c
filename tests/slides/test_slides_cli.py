"""``course slides`` and the lecture side of ``course build`` / ``course check``, on a small course of its own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from toy_decks import cell, lecture, make_root

from course.slides.offline import network_references


def course(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course.cli", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout)


def runnable_lecture():
    """A lecture a kernel can run: a plot whose title says which mode it ran in."""
    nb = lecture()
    nb.cells[3].source = ("import matplotlib.pyplot as plt\nimport course\n"
                          "plt.plot([0, 1, 4]); plt.title('fast' if course.fast_mode() else 'full'); plt.show()")
    nb.cells[5].source = "print('mode:', 'fast' if course.fast_mode() else 'full')"
    return nb


def test_build_then_check_then_slides(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"lecture1_alpha": runnable_lecture(), "lecture2_beta": lecture()})
    done = course(root, "check", "--no-stubs")
    assert done.returncode == 1 and "lecture1_alpha: notebooks/lectures/lecture1_alpha.ipynb: its live-slides" in done.stdout
    done = course(root, "build")
    assert done.returncode == 0, done.stderr
    assert "build: lecture1_alpha: notebooks/lectures/lecture1_alpha.ipynb normalised" in done.stdout
    assert "build: lecture2_beta: notebooks/lectures/lecture2_beta.ipynb normalised" in done.stdout
    assert "lecture1_alpha.ipynb unchanged" in course(root, "build", "1").stdout
    done = course(root, "check", "--no-stubs")
    assert done.returncode == 0 and "lecture1_alpha: the lecture is as `course build` leaves it (4 slides" in done.stdout, \
        done.stdout + done.stderr
    done = course(root, "slides", "alpha", "--fast", "--out", str(tmp_path / "decks"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slides: lecture1_alpha: 4 slides, ran in fast mode in" in done.stdout
    html = (tmp_path / "decks" / "lecture1_alpha.html").read_text()
    assert network_references(html) == [] and "mode: fast" in html
    assert list((root / "notebooks" / "lectures").glob("*.html")) == [], "nothing written beside the lectures"


def test_slides_default_to_full_mode_into_an_ignored_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"lecture1_alpha": runnable_lecture()})
    assert course(root, "build").returncode == 0
    done = course(root, "slides", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ran in full mode" in done.stdout
    assert "mode: full" in (root / "notebooks" / "lectures" / "html" / "lecture1_alpha.html").read_text()


def test_a_lecture_that_fails_names_its_cell(tmp_path: Path) -> None:
    nb = runnable_lecture()
    nb.cells[5].source = "raise ValueError('the data set is missing')"
    root = make_root(tmp_path, {"lecture1_alpha": nb})
    assert course(root, "build").returncode == 0
    done = course(root, "slides", "1", "--fast", "--out", str(tmp_path / "decks"))
    assert done.returncode == 2 and not (tmp_path / "decks" / "lecture1_alpha.html").exists()
    assert "lecture1_alpha failed to run in fast mode: cell 5: raise ValueError" in done.stderr
    assert "ValueError: the data set is missing" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["slides", "gamma"], "'gamma' matches no lecture; the lectures are: lecture1_alpha, lecture2_beta (or 'all')"),
    (["build", "lab7_nothing"], "'lab7_nothing' matches no lecture"),
    (["slides", "2", "--saved"], "has no saved outputs"),
])
def test_bad_names_and_missing_files_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    root = make_root(tmp_path, {"lecture1_alpha": lecture(), "lecture2_beta": lecture()})
    done = course(root, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_source_is_reported_by_check_and_refused_by_build(tmp_path: Path) -> None:
    nb = lecture()
    nb.cells.append(cell("markdown", "## Forgot the metadata", None))
    root = make_root(tmp_path, {"lecture1_alpha": nb})
    done = course(root, "build")
    assert done.returncode == 2 and "cell 9: ## Forgot the metadata: no slide type" in done.stderr
    done = course(root, "check", "--no-stubs")
    assert done.returncode == 1 and "cell 9: ## Forgot the metadata: no slide type" in done.stdout
