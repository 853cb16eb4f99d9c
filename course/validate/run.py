"""Running a notebook as the autograder does (fast mode, a scratch copy of its folder) for ``course validate``."""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..mode import grading_env
from .analyse import (analyse_tests, check_cell, check_files, check_results, find_reference, identify_lab,
                      missing_modules, nbgrader_meta)
from .report import Report, Stop, ValidationError, format_report

__all__ = ["validate", "main"]


def validate(notebook: str | os.PathLike, *, lab: str | None = None, timeout: int = 300,
             root: str | os.PathLike | None = None,
             log: Callable[[str], None] | None = None) -> Report:
    """Run ``notebook`` in fast mode in a scratch copy of its folder and report what would cost points.

    Raises :class:`ValidationError` for usage problems (exit status 2 on the command line).
    """
    path = Path(notebook)
    if not path.is_file():
        raise ValidationError(f"{path}: no such notebook" + (" (it is a folder)" if path.is_dir() else ""))
    missing = missing_modules()
    if missing:
        raise ValidationError(f"running a notebook needs {', '.join(missing)}, which this Python lacks: "
                              f"pip install {' '.join(missing)}  (JupyterLab and Colab have them)")
    from nbformat.v4 import new_code_cell

    # Here, not at the top: nbformat, which it needs, is not part of a student's install (checked just above).
    from ..notebooks import NotebookError, describe_cell, execute_notebook, load_notebook, scratch_copy

    the_lab, naming = identify_lab(path, lab)
    try:
        nb = load_notebook(path)
    except NotebookError as exc:
        raise ValidationError(str(exc)) from None
    report = Report(path, the_lab)
    if naming:
        report.problems.append(naming)
    expected = None
    ref_path = find_reference(the_lab, path, root)
    if ref_path is not None:
        with contextlib.suppress(NotebookError):
            ref = load_notebook(ref_path)
            expected = {str(nbgrader_meta(c)["grade_id"]): float(nbgrader_meta(c).get("points", 0) or 0)
                        for c in ref.cells if c.get("cell_type") == "code" and nbgrader_meta(c).get("grade")}
    if expected is None:
        report.notes.append(f"no course checkout with {the_lab.id} found, so deleted test cells cannot be told "
                            "(pass --root COURSE_CHECKOUT to check them)")

    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
    folder = path.resolve().parent
    for name, builder in the_lab.checkpoints.items():
        if (folder / name).is_file():
            run.cells.append(new_code_cell(check_cell(name, builder, folder / name)))

    if log:
        log(f"course validate: {the_lab.id} ({the_lab.title}) — running {path} in fast mode in a scratch copy "
            f"of its folder (at most {timeout} s per cell)...")
    t0 = time.perf_counter()
    with scratch_copy(folder) as tmp:
        try:
            _, result = execute_notebook(run, tmp, env=grading_env(), timeout=timeout)
        except RuntimeError as exc:      # no kernel could be started
            raise ValidationError(str(exc)) from None
    stop = Stop(*result.stopped) if result.stopped else None
    report.seconds = time.perf_counter() - t0
    if stop is not None:
        where = (describe_cell(stop.index, run.cells[stop.index]) if 0 <= stop.index < len(nb.cells)
                 else "the check of the saved files")
        report.problems.append(f"{where} — {stop.reason}; the cells after it did not run")
    report.tests = analyse_tests(run, expected, stop)
    if not report.tests:
        report.notes.append("this notebook has no graded test cells")
    report.files = check_files(the_lab, folder, check_results(run), stop)
    return report


def main(notebook: str, *, lab: str | None = None, timeout: int = 300, root: str | None = None) -> int:
    """``course validate``: print the report; 0 all clear, 1 something would cost points, 2 usage error."""
    try:
        if timeout < 1:
            raise ValidationError(f"--timeout must be at least 1 second, not {timeout}")
        report = validate(notebook, lab=lab, timeout=timeout, root=root, log=lambda s: print(s, flush=True))
    except ValidationError as exc:
        print(f"course validate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course validate: interrupted", file=sys.stderr)
        return 130
    print(format_report(report))
    return report.exit_code
