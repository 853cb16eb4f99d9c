"""Reading an executed notebook the way the autograder would: which lab it is, which graded tests passed, failed or
were not attempted, and whether each file the lab asks for loads and fits the student's own architecture."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..labs import LAB_IDS, Lab, lab_info
from ..submission import CheckpointError, checkpoint_info
from .report import FileRow, Stop, TestRow, ValidationError

__all__ = ["REQUIRED_MODULES", "MARKER", "missing_modules", "identify_lab", "find_reference", "analyse_tests",
           "check_cell", "check_results", "check_files", "first_line", "nbgrader_meta"]

#: What running a notebook needs; a student install may lack them (nbgrader is never needed).
REQUIRED_MODULES = ("nbformat", "nbclient", "ipykernel")
MARKER = "COURSE-VALIDATE-FILE "
_TASK = re.compile(r"^(\d+)_(\d+)")
_TASK_IN_MESSAGE = re.compile(r"Task (\d+\.\d+)")

Notebook = Any  # an nbformat.NotebookNode; nbformat is imported only when a notebook is run


def missing_modules() -> list[str]:
    """The modules of :data:`REQUIRED_MODULES` this Python cannot import."""
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def identify_lab(notebook: Path, lab_id: str | None = None) -> tuple[Lab, str | None]:
    """The lab of ``notebook`` (by ``lab_id``, its file name, its folder, or a name that starts with
    a lab id such as 'lab3_mlp_mnist (1).ipynb'), and a problem to report when the file is not named
    the way the autograder looks for it."""
    if lab_id is not None:
        try:
            lab = lab_info(lab_id)
        except KeyError as exc:
            raise ValidationError(exc.args[0]) from None
    elif notebook.stem in LAB_IDS:
        lab = lab_info(notebook.stem)
    elif notebook.resolve().parent.name in LAB_IDS:
        lab = lab_info(notebook.resolve().parent.name)
    else:
        prefixed = sorted((i for i in LAB_IDS if notebook.stem.startswith(i)), key=len)
        if not prefixed:
            raise ValidationError(
                f"cannot tell which lab {notebook.name} is: name the notebook after its lab "
                f"({', '.join(i + '.ipynb' for i in LAB_IDS)}), keep it in a folder of that name, or pass --lab")
        lab = lab_info(prefixed[-1])
    naming = None
    if notebook.name != lab.notebook:
        naming = f"the autograder looks for {lab.notebook}: hand this notebook in under that name, not {notebook.name}"
    return lab, naming


def find_reference(lab: Lab, notebook: Path, root: str | os.PathLike | None = None) -> Path | None:
    """The released (else the source) notebook of ``lab`` in a course checkout, to tell deleted test cells.

    Looked for in ``root``, ``COURSE_ROOT``, and the folders above the notebook and the current folder.
    """
    starts = [Path(p) for p in (root, os.environ.get("COURSE_ROOT")) if p]
    starts += [*notebook.resolve().parents, Path.cwd().resolve(), *Path.cwd().resolve().parents]
    for base in starts:
        for kind in ("notebooks", "solutions"):
            candidate = base / kind / lab.id / lab.notebook
            if candidate.is_file():
                return candidate
    return None


def nbgrader_meta(cell: Mapping) -> Mapping:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _task(grade_id: str) -> str:
    match = _TASK.match(grade_id)
    return f"{match.group(1)}.{match.group(2)}" if match else grade_id


def _error(cell: Mapping) -> tuple[str, str] | None:
    """(ename, evalue) of the cell's error output, if it raised."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return str(out.get("ename", "")), str(out.get("evalue", ""))
    return None


def _unimplemented(err: tuple[str, str] | None) -> bool:
    """A stub's NotImplementedError, raised directly or quoted by a test that caught it."""
    return err is not None and (err[0] == "NotImplementedError" or "NotImplementedError" in err[1])


def first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _needs(err: tuple[str, str], task: str) -> str:
    """'needs task 3.2' when a stub of another task raised the NotImplementedError."""
    match = _TASK_IN_MESSAGE.search(err[1])
    return f"needs task {match.group(1)}" if match and match.group(1) != task else ""


def analyse_tests(nb: Notebook, expected: Mapping[str, float] | None = None,
                  stop: Stop | None = None) -> list[TestRow]:
    """One :class:`TestRow` per graded test cell of the executed ``nb``, plus one per deleted cell.

    ``expected`` maps the released notebook's test grade ids to their points, in order; ``stop``
    says where the run stopped early. A failing test counts as not attempted when it raised the
    stub's NotImplementedError (or quotes one), when a solution cell of its task did, or when it
    failed with a NameError right after a cell that did.
    """
    unattempted: dict[str, tuple[str, str]] = {}
    for cell in nb.cells:
        meta, err = nbgrader_meta(cell), _error(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and _unimplemented(err):
            unattempted.setdefault(_task(str(meta.get("grade_id", ""))), err)

    rows: dict[str, TestRow] = {}
    # The last non-test cell that raised: (index, its error, the stub's error that caused it, if one did).
    # A NameError inherits the cause of the failure before it: one stub leaves a chain of undefined names.
    last: tuple[int, tuple[str, str], tuple[str, str] | None] | None = None
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") != "code":
            continue
        err = _error(cell)
        if not meta.get("grade"):
            if err is not None:
                cause = err if _unimplemented(err) else (
                    last[2] if err[0] == "NameError" and last is not None else None)
                last = (i, err, cause)
            continue
        gid = str(meta.get("grade_id", f"cell_{i}"))
        row = TestRow(gid, _task(gid), float(meta.get("points", 0) or 0), "passed")
        rows[gid] = row
        if stop is not None and i == stop.index:
            row.status, row.detail = "failed", f"this cell {stop.reason}"
        elif stop is not None and i > stop.index:
            row.status, row.detail = "not run", f"the run stopped at cell {stop.index}, which {stop.reason}"
        elif err is None:
            continue
        elif _unimplemented(err):
            row.status, row.detail = "not attempted", _needs(err, row.task)
        elif row.task in unattempted:
            row.status = "not attempted"
        elif err[0] == "NameError" and last is not None and last[2] is not None:
            row.status, row.detail = "not attempted", _needs(last[2], row.task)
        else:
            row.status, row.detail = "failed", first_line(f"{err[0]}: {err[1]}")
            if err[0] == "NameError" and last is not None:
                row.detail += f" (cell {last[0]} failed before it: {last[1][0]})"

    if not expected:
        return list(rows.values())
    ordered = [rows.pop(gid) if gid in rows else TestRow(gid, _task(gid), float(points), "missing")
               for gid, points in expected.items()]
    return ordered + list(rows.values())  # test cells the release does not have (e.g. a copied cell)


def check_cell(name: str, builder: str, path: Path) -> str:
    """A code cell that loads ``path`` into the student's ``builder()`` and prints one marker line."""
    return (
        f"# course validate: does {name} fit {builder}()?\n"
        "def _course_validate_check():\n"
        "    import json, course\n"
        f"    out = {{'file': {name!r}}}\n"
        "    try:\n"
        f"        model = course.load_model({builder}, {str(path)!r})\n"
        "        out.update(ok=True, parameters=sum(p.numel() for p in model.parameters()))\n"
        "    except BaseException as exc:\n"
        "        out.update(ok=False, error=f'{type(exc).__name__}: {exc}',\n"
        "                   not_attempted=isinstance(exc, NotImplementedError))\n"
        f"    print({MARKER!r} + json.dumps(out))\n"
        "_course_validate_check()\n"
        "del _course_validate_check\n"
    )


def check_results(nb: Notebook) -> dict[str, dict]:
    """The marker lines the check cells printed, by file name."""
    found: dict[str, dict] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in str(out.get("text", "")).splitlines():
                if line.startswith(MARKER):
                    with contextlib.suppress(ValueError):
                        blob = json.loads(line[len(MARKER):])
                        found[blob["file"]] = blob
    return found


def _readable(path: Path) -> tuple[dict | None, str]:
    """(checkpoint metadata, '') or (None, why it cannot be read with weights_only=True)."""
    try:
        return checkpoint_info(path), ""
    except CheckpointError as exc:
        return None, first_line(str(exc), 240)


def check_files(lab: Lab, folder: Path, fits: Mapping[str, dict], stop: Stop | None = None) -> list[FileRow]:
    """One :class:`FileRow` per file ``lab`` asks for, in ``folder`` (the student's, not the scratch copy).

    ``fits`` holds what the check cells printed inside the kernel (see :func:`check_cell`).
    """
    rows = []
    for name, builder in lab.checkpoints.items():
        path = folder / name
        if not path.is_file():
            rows.append(FileRow(name, "missing", f"missing — run the notebook in full mode (it saves {name} with "
                                "course.save_model) and hand the file in beside the notebook"))
            continue
        meta, why = _readable(path)
        if meta is None:
            rows.append(FileRow(name, "unreadable", f"cannot be loaded with weights_only=True: {why}"))
            continue
        fit = fits.get(name)
        if fit is None:
            where = f"the run stopped at cell {stop.index}" if stop else "the check did not run"
            rows.append(FileRow(name, "unchecked", f"not checked against {builder}(): {where}"))
        elif not fit.get("ok"):
            if fit.get("not_attempted"):
                detail = f"cannot check it: {builder}() still raises NotImplementedError"
            else:
                detail = f"does not fit {builder}(): {first_line(fit.get('error', ''), 240)}"
            rows.append(FileRow(name, "misfit", detail))
        elif meta.get("fast"):
            rows.append(FileRow(name, "fast", f"trained in fast mode (saved {meta.get('saved')}): run the notebook in "
                                "full mode, without COURSE_FAST, so that it saves the weights that get graded"))
        else:
            rows.append(FileRow(name, "ok", f"OK — loads with weights_only=True into {builder}() "
                                f"({fit.get('parameters', 0):,} parameters, full mode, saved {meta.get('saved')})"))
    return rows
