"""Reading a submission's lab notebook without ever crashing: a reason instead of an exception.

:func:`load_submission_notebook` reads ``<lab>.ipynb`` (or the submission's single other notebook, renamed), as
nbformat 4, and returns a :class:`LoadedNotebook`: the notebook, or the reason it cannot be graded (empty, not
UTF-8, not JSON, no cells, too new a format, ...), with notes on what was changed on the way: converted from an
older nbformat, cells repaired to follow the format, a non-Python kernel replaced by Python 3.

Both names are re-exported by :mod:`course.grader.intake`.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .names import printable_name

__all__ = ["LoadedNotebook", "load_submission_notebook"]


@dataclass
class LoadedNotebook:
    """The lab notebook of a submission (``nb``), or the ``reason`` it cannot be graded; ``notes`` either way.

    ``changed`` says that ``nb`` differs from the file (renamed, converted, kernel replaced): write it back.
    """

    nb: object | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    changed: bool = False


def load_submission_notebook(folder: Path, lab: str) -> LoadedNotebook:
    """Read ``folder/<lab>.ipynb`` (or the folder's single other notebook) as nbformat 4; never raises."""
    try:
        return _load(Path(folder), lab)
    except Exception as exc:  # noqa: BLE001 - a submission must never crash the batch
        return LoadedNotebook(reason=f"{lab}.ipynb could not be read ({type(exc).__name__}: {exc})")


def _load(folder: Path, lab: str) -> LoadedNotebook:
    out = LoadedNotebook()
    name = f"{lab}.ipynb"
    path = folder / name
    if not os.path.lexists(path):
        others = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(".ipynb")
                        and not p.name.startswith(".") and p.is_file() and not p.is_symlink())
        if not others:
            out.reason = f"no notebook: {name} is missing from the submission"
            return out
        if len(others) > 1:
            out.reason = (f"{name} is missing and the submission holds {len(others)} other notebooks "
                          f"({', '.join(printable_name(o) for o in others[:5])}): hand in one, named {name}")
            return out
        out.notes.append(f"{name} is missing: graded {printable_name(others[0])} instead (renamed to {name})")
        path, out.changed = folder / others[0], True
    shown = printable_name(path.name)
    if path.is_symlink() or not path.is_file():
        out.reason = f"{shown} is not a regular file"
        return out
    data = path.read_bytes()
    bad = f"{shown} is not a valid notebook"
    if not data.strip():
        out.reason = f"{bad}: the file is empty ({len(data)} bytes)"
        return out
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.reason = f"{bad}: not UTF-8 text (byte {exc.start})"
        return out
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        out.reason = f"{bad}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        return out
    except RecursionError:
        out.reason = f"{bad}: the JSON is nested too deeply"
        return out
    if not isinstance(raw, dict):
        out.reason = f"{bad}: the JSON is a {type(raw).__name__}, not a notebook"
        return out
    version = raw.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        out.reason = f"{bad}: it has no nbformat version"
        return out
    if version > 4:
        out.reason = f"{bad}: nbformat {version} is newer than the grader reads (4)"
        return out
    captured: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = nbformat.reads(text, as_version=4, capture_validation_error=captured)
        except Exception as exc:  # noqa: BLE001 - nbformat raises many types
            out.reason = f"{bad}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            return out
    if version < 4:
        out.notes.append(f"{shown} was in the old nbformat {version}: converted to nbformat 4")
        out.changed = True
    if not isinstance(nb.get("cells"), list) or not nb.cells:
        out.reason = f"{shown} has no cells"
        return out
    if captured.get("ValidationError") is not None and not _repair(nb):
        err = captured["ValidationError"]
        out.reason = f"{bad}: {str(getattr(err, 'message', err)).splitlines()[0][:200]}"
        return out
    if captured.get("ValidationError") is not None:
        out.notes.append(f"{shown} did not quite follow the notebook format: repaired")
        out.changed = True
    if _fix_kernelspec(nb, out.notes):
        out.changed = True
    out.nb = nb
    return out


def _repair(nb) -> bool:
    """Give every cell the fields the format requires; True when the notebook is then valid."""
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return False
        src = cell.get("source", "")
        cell["source"] = "".join(src) if isinstance(src, list) else src if isinstance(src, str) else ""
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nbformat.validate(nb)
        except Exception:  # noqa: BLE001
            return False
    return True


def _fix_kernelspec(nb, notes: list[str]) -> bool:
    """A notebook saved with another kernel (R, Julia, a custom Python env) is graded with Python 3."""
    spec = nb.metadata.get("kernelspec")
    if not isinstance(spec, dict):
        return False
    language = str(spec.get("language") or "python").lower()
    kname = str(spec.get("name") or "python3")
    if language == "python" and kname.startswith("python"):
        return False
    notes.append(f"the notebook's kernel {printable_name(str(spec.get('display_name') or kname))!r} is ignored: "
                 "graded with Python 3")
    nb.metadata["kernelspec"] = nbformat.NotebookNode(display_name="Python 3", language="python", name="python3")
    return True
