"""``course validate NOTEBOOK``: the student's last check before handing in.

It runs the notebook as the autograder does (fast mode, in a scratch copy of the notebook's
folder, so none of the student's files change) and prints one row per graded test cell:
``passed``, ``failed: <first line of the message>``, ``not attempted`` (the task's stub still
raises ``NotImplementedError``), ``missing — test cell deleted, 0 points`` or ``not run``. Then it
checks each file the lab asks for (:mod:`course.labs`): present beside the notebook, readable
with ``weights_only=True``, fitting the student's own architecture (loaded inside the executed
kernel, where the student's builder is defined) and trained in full mode.

Exit status: 0 when nothing found would cost points, 1 when something would, 2 for a usage
problem (no such file, a corrupt notebook, an unknown lab, a missing package).

Light on purpose: importing this module imports neither Jupyter nor nbgrader. Running it needs
``nbformat``, ``nbclient`` and ``ipykernel`` (every JupyterLab and Colab has them), never nbgrader.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .labs import LAB_IDS, Lab, lab_info

__all__ = [
    "ValidationError", "TestRow", "FileRow", "Stop", "Report", "REQUIRED_MODULES",
    "missing_modules", "identify_lab", "find_reference", "analyse_tests", "check_files",
    "validate", "format_report", "main",
]

#: What running a notebook needs; a student install may lack them (nbgrader is never needed).
REQUIRED_MODULES = ("nbformat", "nbclient", "ipykernel")
_MARKER = "COURSE-VALIDATE-FILE "
_TASK = re.compile(r"^(\d+)_(\d+)")
_TASK_IN_MESSAGE = re.compile(r"Task (\d+\.\d+)")
_SKIP = {".ipynb_checkpoints", "__pycache__", ".git", ".venv"}

Notebook = Any  # an nbformat.NotebookNode; nbformat is imported only when a notebook is run


class ValidationError(Exception):
    """A usage problem (no such notebook, corrupt JSON, unknown lab, missing package): exit status 2."""


@dataclass
class TestRow:
    """One graded test cell: its grade id, task ('3.1'), points, status and detail."""

    grade_id: str
    task: str
    points: float
    status: str  # passed | failed | not attempted | missing | not run
    detail: str = ""

    @property
    def costs_points(self) -> bool:
        return self.status != "passed"

    def label(self) -> str:
        """The status column: 'passed', 'failed: AssertionError: ...', 'missing — test cell deleted, 0 points'."""
        if self.status == "missing":
            return "missing — test cell deleted, 0 points"
        if self.status == "failed":
            return f"failed: {self.detail}"
        return f"{self.status} ({self.detail})" if self.detail else self.status


@dataclass
class FileRow:
    """One file the lab asks for: ok, missing, unreadable, misfit, fast (trained in fast mode) or unchecked."""

    name: str
    status: str
    detail: str

    @property
    def costs_points(self) -> bool:
        return self.status != "ok"


@dataclass
class Stop:
    """Why the run stopped early: the cell (index in the notebook) that timed out or killed the kernel."""

    index: int
    reason: str  # "timed out after 300 s" | "the kernel died"


@dataclass
class Report:
    """Everything ``course validate`` found about one notebook."""

    notebook: Path
    lab: Lab
    tests: list[TestRow] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # costs points, not tied to one test or file
    notes: list[str] = field(default_factory=list)  # worth knowing, costs nothing
    seconds: float = 0.0

    @property
    def cost_count(self) -> int:
        """How many things would cost points."""
        return (sum(r.costs_points for r in self.tests) + sum(f.costs_points for f in self.files)
                + len(self.problems))

    @property
    def exit_code(self) -> int:
        return 1 if self.cost_count else 0


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


def _nbgrader(cell: Mapping) -> Mapping:
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


def _first_line(text: str, limit: int = 160) -> str:
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
        meta, err = _nbgrader(cell), _error(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and _unimplemented(err):
            unattempted.setdefault(_task(str(meta.get("grade_id", ""))), err)

    rows: dict[str, TestRow] = {}
    # The last non-test cell that raised: (index, its error, the stub's error that caused it, if one did).
    # A NameError inherits the cause of the failure before it: one stub leaves a chain of undefined names.
    last: tuple[int, tuple[str, str], tuple[str, str] | None] | None = None
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
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
            row.status, row.detail = "failed", _first_line(f"{err[0]}: {err[1]}")
            if err[0] == "NameError" and last is not None:
                row.detail += f" (cell {last[0]} failed before it: {last[1][0]})"

    if not expected:
        return list(rows.values())
    ordered = [rows.pop(gid) if gid in rows else TestRow(gid, _task(gid), float(points), "missing")
               for gid, points in expected.items()]
    return ordered + list(rows.values())  # test cells the release does not have (e.g. a copied cell)


def _check_cell(name: str, builder: str, path: Path) -> str:
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
        f"    print({_MARKER!r} + json.dumps(out))\n"
        "_course_validate_check()\n"
        "del _course_validate_check\n"
    )


def _check_results(nb: Notebook) -> dict[str, dict]:
    """The marker lines the check cells printed, by file name."""
    found: dict[str, dict] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in str(out.get("text", "")).splitlines():
                if line.startswith(_MARKER):
                    with contextlib.suppress(ValueError):
                        blob = json.loads(line[len(_MARKER):])
                        found[blob["file"]] = blob
    return found


def _readable(path: Path) -> tuple[dict | None, str]:
    """(checkpoint metadata, '') or (None, why it cannot be read with weights_only=True)."""
    from .submission import CheckpointError, checkpoint_info  # torch: only when a file is checked

    try:
        return checkpoint_info(path), ""
    except CheckpointError as exc:
        return None, _first_line(str(exc), 240)


def check_files(lab: Lab, folder: Path, fits: Mapping[str, dict], stop: Stop | None = None) -> list[FileRow]:
    """One :class:`FileRow` per file ``lab`` asks for, in ``folder`` (the student's, not the scratch copy).

    ``fits`` holds what the check cells printed inside the kernel (see :func:`_check_cell`).
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
                detail = f"does not fit {builder}(): {_first_line(fit.get('error', ''), 240)}"
            rows.append(FileRow(name, "misfit", detail))
        elif meta.get("fast"):
            rows.append(FileRow(name, "fast", f"trained in fast mode (saved {meta.get('saved')}): run the notebook in "
                                "full mode, without COURSE_FAST, so that it saves the weights that get graded"))
        else:
            rows.append(FileRow(name, "ok", f"OK — loads with weights_only=True into {builder}() "
                                f"({fit.get('parameters', 0):,} parameters, full mode, saved {meta.get('saved')})"))
    return rows


@contextlib.contextmanager
def _scratch(folder: Path) -> Iterator[Path]:
    """A temporary copy of ``folder``: no hidden folders or caches, no mounted drives, links kept as links."""
    with tempfile.TemporaryDirectory(prefix="course-validate-") as tmp:
        for entry in folder.iterdir():
            if entry.name.startswith(".") or entry.name in _SKIP:
                continue
            dst = Path(tmp) / entry.name
            try:
                if entry.is_symlink():
                    os.symlink(os.readlink(entry), dst)
                elif entry.is_dir():
                    if not os.path.ismount(entry):  # e.g. Colab's /content/drive
                        shutil.copytree(entry, dst, symlinks=True, ignore=shutil.ignore_patterns(*_SKIP))
                else:
                    shutil.copy2(entry, dst)
            except OSError as exc:
                print(f"course validate: did not copy {entry} ({exc})", file=sys.stderr)
        yield Path(tmp)


def _execute(nb: Notebook, cwd: Path, env: Mapping[str, str], timeout: int) -> Stop | None:
    """Run every cell of ``nb`` in place (errors do not stop the run); where it stopped, if it did."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    current = {"index": -1}

    def started(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"], on_cell_execute=started,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=dict(env))
    except CellTimeoutError:
        return Stop(current["index"], f"timed out after {timeout} s")
    except DeadKernelError:
        return Stop(current["index"], "killed the kernel (out of memory? a crash?)")
    except NoSuchKernel as exc:
        raise ValidationError(f"no python3 Jupyter kernel ({exc}): pip install ipykernel") from None
    except (RuntimeError, OSError) as exc:  # the kernel did not start
        raise ValidationError(f"could not start a Jupyter kernel ({type(exc).__name__}: {exc})") from None
    return None


def _env() -> dict[str, str]:
    env = {**os.environ, "COURSE_FAST": "1", "MPLBACKEND": "Agg"}
    for name in ("COURSE_DATA", "COURSE_CACHE"):  # the kernel runs in a temporary folder
        if env.get(name, "").strip():
            env[name] = str(Path(env[name]).expanduser().resolve())
    return env


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
    from .notebooks import NotebookError, describe_cell, load_notebook  # nbformat: only now

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
            expected = {str(_nbgrader(c)["grade_id"]): float(_nbgrader(c).get("points", 0) or 0)
                        for c in ref.cells if c.get("cell_type") == "code" and _nbgrader(c).get("grade")}
    if expected is None:
        report.notes.append(f"no course checkout with {the_lab.id} found, so deleted test cells cannot be told "
                            "(pass --root COURSE_CHECKOUT to check them)")

    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
    folder = path.resolve().parent
    from nbformat.v4 import new_code_cell

    for name, builder in the_lab.checkpoints.items():
        if (folder / name).is_file():
            run.cells.append(new_code_cell(_check_cell(name, builder, folder / name)))

    if log:
        log(f"course validate: {the_lab.id} ({the_lab.title}) — running {path} in fast mode in a scratch copy "
            f"of its folder (at most {timeout} s per cell)...")
    t0 = time.perf_counter()
    with _scratch(folder) as tmp:
        stop = _execute(run, tmp, _env(), timeout)
    report.seconds = time.perf_counter() - t0
    if stop is not None:
        where = (describe_cell(stop.index, run.cells[stop.index]) if 0 <= stop.index < len(nb.cells)
                 else "the check of the saved files")
        report.problems.append(f"{where} — {stop.reason}; the cells after it did not run")
    report.tests = analyse_tests(run, expected, stop)
    if not report.tests:
        report.notes.append("this notebook has no graded test cells")
    report.files = check_files(the_lab, folder, _check_results(run), stop)
    return report


def _fmt_points(points: float) -> str:
    return f"{points:g}"


def format_report(report: Report) -> str:
    """The printed table: one row per test, one per required file, and a summary."""
    lines = [f"{report.lab.id}: ran in {report.seconds:.0f} s (fast mode)", ""]
    head = ("task", "test", "points", "status")
    rows = [(r.task, r.grade_id, _fmt_points(r.points), r.label()) for r in report.tests]
    w = [max(len(x[k]) for x in [head, *rows]) for k in range(3)]
    for task, gid, pts, status in [head, *rows]:
        lines.append(f"{task:<{w[0]}}  {gid:<{w[1]}}  {pts:>{w[2]}}  {status}")
    if report.files:
        width = max(len("file"), *(len(f.name) for f in report.files))
        lines += ["", f"{'file':<{width}}  status"]
        lines += [f"{f.name:<{width}}  {f.detail}" for f in report.files]
    total = sum(r.points for r in report.tests)
    ok = sum(r.points for r in report.tests if not r.costs_points)
    lines += ["", f"visible tests: {_fmt_points(ok)} of {_fmt_points(total)} points pass. The autograder adds hidden "
              "tests, so passing the visible ones is not a guarantee of these points."]
    lines += [f"problem: {p}" for p in report.problems]
    lines += [f"note: {n}" for n in report.notes]
    if report.cost_count:
        lines.append(f"{report.cost_count} thing(s) above would cost points: fix them and run course validate again.")
    else:
        handed = ", ".join([report.lab.notebook, *report.lab.checkpoints])
        lines.append(f"nothing found that would cost points: hand in {handed}.")
    return "\n".join(lines)


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
