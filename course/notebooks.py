"""Reading, validating and executing lab notebooks (used by ``course build/check``).

One concern per function: load with a clear error, validate nbgrader metadata
naming the offending cell, execute in a scratch folder and report which graded
cells failed.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .paths import absolute_paths

__all__ = [
    "NotebookError", "load_notebook", "describe_cell", "metadata_problems", "grade_cells", "grade_points",
    "stamp_task_ids", "ExecutionResult", "execute_notebook", "scratch_copy",
]

_TASK = re.compile(r"^(\d+)_(\d+)")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")  # nbgrader's own rule: no dots
_STUB = "raise NotImplementedError()"
_SKIP = frozenset({".ipynb_checkpoints", "__pycache__", ".git", ".venv"})


class NotebookError(ValueError):
    """A notebook is unreadable or its nbgrader metadata is broken."""


def load_notebook(path: str | os.PathLike) -> NotebookNode:
    """Read a notebook, turning JSON/schema errors into one message that names the file."""
    path = Path(path)
    if not path.exists():
        raise NotebookError(f"{path}: no such notebook")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for a corrupt file
        raise NotebookError(f"{path} is not a valid notebook ({type(exc).__name__}: {exc}); "
                            "restore it from version control or re-download it") from exc


def describe_cell(index: int, cell: NotebookNode) -> str:
    """'cell 12 (grade_id '3_2'): def train_epoch(...' for error messages."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    first = next((line.strip() for line in cell.get("source", "").splitlines() if line.strip()), "<empty>")
    gid = f" (grade_id {meta['grade_id']!r})" if meta.get("grade_id") else ""
    return f"cell {index}{gid}: {first[:60]}"


def metadata_problems(nb: NotebookNode) -> list[str]:
    """Every nbgrader metadata problem in a source notebook, each naming its cell."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        src = cell.get("source", "")
        where = describe_cell(i, cell)
        has_solution = "### BEGIN SOLUTION" in src
        has_hidden = "### BEGIN HIDDEN TESTS" in src
        if src.count("### BEGIN SOLUTION") != src.count("### END SOLUTION"):
            problems.append(f"{where}: unbalanced BEGIN/END SOLUTION markers")
        if src.count("### BEGIN HIDDEN TESTS") != src.count("### END HIDDEN TESTS"):
            problems.append(f"{where}: unbalanced BEGIN/END HIDDEN TESTS markers")
        if meta is None:
            if has_solution or has_hidden:
                problems.append(f"{where}: has solution/hidden-test markers but no nbgrader metadata, "
                                "so they would reach students")
            continue
        gid = meta.get("grade_id")
        if not gid:
            problems.append(f"{where}: nbgrader cell without a grade_id")
        elif not _GRADE_ID.match(gid):
            problems.append(f"{where}: grade_id {gid!r} may only hold letters, digits, _ and - (task 3.2 is '3_2')")
        elif gid in seen:
            problems.append(f"{where}: duplicate grade_id {gid!r} (first used in cell {seen[gid]})")
        else:
            seen[gid] = i
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
                problems.append(f"{where}: graded cell needs a positive 'points' value, has {points!r}")
        if has_solution and not meta.get("solution"):
            problems.append(f"{where}: has BEGIN SOLUTION but is not marked as a solution cell")
        if has_hidden and not meta.get("grade"):
            problems.append(f"{where}: hidden tests in a cell that is not graded")
        if meta.get("grade") and cell.cell_type == "code" and gid and not _TASK.match(gid):
            problems.append(f"{where}: test grade_id {gid!r} should start with its task id, e.g. '3_2' for task 3.2")
    return problems


def grade_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """The graded code cells (autograder tests) by grade_id."""
    return {
        c.metadata.nbgrader["grade_id"]: c
        for c in nb.cells
        if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def grade_points(nb: NotebookNode) -> dict[str, float]:
    """Points per graded cell, by grade id, in notebook order (``nbgrader.points``)."""
    return {gid: float(c.metadata.nbgrader.get("points", 0)) for gid, c in grade_cells(nb).items()}


def stamp_task_ids(nb: NotebookNode) -> NotebookNode:
    """Put the task id into each stub's NotImplementedError, as minitorch does.

    nbgrader has one stub for every cell; the grade_id of the answer cell
    ('3_2_code') tells which task a stub belongs to.
    """
    from nbgrader.utils import compute_checksum  # nbgrader is heavy; import on use

    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        match = _TASK.match(meta.get("grade_id", ""))
        if cell.cell_type != "code" or not meta.get("solution") or not match or _STUB not in cell.source:
            continue
        task = f"{match.group(1)}.{match.group(2)}"
        cell.source = cell.source.replace(_STUB, f'raise NotImplementedError("Task {task}: your code here")')
        if "checksum" in meta:
            meta["checksum"] = compute_checksum(cell)
    return nb


@dataclass
class ExecutionResult:
    """Which cells raised, by index, with the error line; and which graded cells failed."""

    errors: dict[int, str] = field(default_factory=dict)
    failed_grades: dict[str, str] = field(default_factory=dict)
    passed_grades: list[str] = field(default_factory=list)
    timed_out: bool = False
    #: (index of the cell, why) when the run stopped early: it timed out, or the kernel died.
    stopped: tuple[int, str] | None = None
    #: 'cell 12 (grade_id '3_2'): def train_epoch(...' for each cell in ``errors``.
    where: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.timed_out

    def summary(self) -> str:
        """The first error, with its cell and message, and how many cells failed after it.

        Later errors are most often consequences of the first (a NameError for what it failed to define),
        so they are counted, not listed.
        """
        if not self.errors:
            return "no errors"
        # A timeout or dead kernel (key -1) stops the run: it comes after every cell error already recorded.
        first = min((i for i in self.errors if i >= 0), default=-1)
        where = self.where.get(first, f"cell {first}" if first >= 0 else "the kernel")
        later = len(self.errors) - 1
        more = f" ({later} later cell{'s' if later != 1 else ''} failed too)" if later else ""
        return f"{where}: {self.errors[first]}{more}"


def execute_notebook(nb: NotebookNode, cwd: Path, *, env: Mapping[str, str] | None = None,
                     timeout: int = 300) -> tuple[NotebookNode, ExecutionResult]:
    """Run every cell (errors do not stop the run) in ``cwd`` with extra environment.

    A cell that times out or kills the kernel stops the run (``result.stopped``); a kernel that cannot start at
    all is a ``RuntimeError`` that says why.
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    result = ExecutionResult()
    current = {"index": -1}

    def started(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    # The kernel's own log level: its "running over TCP without encryption" warning is noise here.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"], on_cell_execute=started,
                            resources={"metadata": {"path": str(cwd)}})
    # The kernel starts in ``cwd``: relative paths it inherits must already be absolute.
    overrides = absolute_paths({k: v for k, v in os.environ.items() if k.startswith("COURSE_")} | dict(env or {}))
    # The kernel's own environment (not this process's): several notebooks may run at once, from threads.
    try:
        client.execute(env={**os.environ, **overrides})
    except (CellTimeoutError, DeadKernelError) as exc:
        result.timed_out = True
        result.errors[-1] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        result.stopped = (current["index"], f"timed out after {timeout} s" if isinstance(exc, CellTimeoutError)
                          else "killed the kernel (out of memory? a crash?)")
    except NoSuchKernel as exc:
        raise RuntimeError(f"no python3 Jupyter kernel ({exc}): pip install ipykernel") from None
    except (RuntimeError, OSError) as exc:  # the kernel did not start
        raise RuntimeError(f"could not start a Jupyter kernel ({type(exc).__name__}: {exc})") from None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        is_graded = cell.get("metadata", {}).get("nbgrader", {}).get("grade", False)
        if err is not None:
            result.errors[i] = f"{err['ename']}: {err['evalue']}".strip()[:500]
            result.where[i] = describe_cell(i, cell)
            if is_graded:
                result.failed_grades[gid] = result.errors[i]
        elif is_graded:
            result.passed_grades.append(gid)
    return nb, result


@contextlib.contextmanager
def scratch_copy(*folders: Path) -> Iterator[Path]:
    """A temporary folder holding the files of ``folders`` (later ones win): no hidden files or caches, no mounted
    drives (Colab's /content/drive), symbolic links kept as links."""
    with tempfile.TemporaryDirectory(prefix="course-") as tmp:
        for folder in folders:
            if not Path(folder).is_dir():
                continue
            for entry in Path(folder).iterdir():
                if entry.name.startswith(".") or entry.name in _SKIP:
                    continue
                dst = Path(tmp) / entry.name
                try:
                    if entry.is_symlink():
                        if dst.is_symlink() or dst.exists():
                            dst.unlink()
                        os.symlink(os.readlink(entry), dst)
                    elif entry.is_dir():
                        if not os.path.ismount(entry):
                            shutil.copytree(entry, dst, symlinks=True, dirs_exist_ok=True,
                                            ignore=shutil.ignore_patterns(*_SKIP))
                    else:
                        shutil.copy2(entry, dst)
                except OSError as exc:
                    print(f"course: did not copy {entry} ({exc})", file=sys.stderr)
        yield Path(tmp)
