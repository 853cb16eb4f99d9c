"""Grading one submission: run its notebook in a sandboxed runner, then let the lab's judges decide.

1. The notebook's code cells run in order, in fast mode, each with a time limit, in the sandbox (grading is
   refused where any of its protections is missing); the released notebook's graded test cells are skipped
   (they are the student's self-checks, and their outcome never counts).
2. A cell that kills the runner (a crash, ``os._exit``, the memory cap, a timeout) is noted, and the
   runner is restarted with the cells that had worked replayed, so one bad cell costs only what depends on it.
3. Each judge calls the student's code on its own inputs and compares, in this process, with the
   reference solution. A judge's failure costs its own grade id only.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..data import data_root as default_data_root
from ..data.locations import cache_target
from ..labs import lab_info
from ..notebooks import NotebookError, grade_points, load_notebook
from .cells import answer_sources, cells_to_run, released_notebook, test_sources
from .judge import Context, Fail, load_judges, load_reference, task_of
from .kernel import KernelDied, KernelTimeout, RemoteError
from .launch import Launcher
from .results import SubmissionResult, TestResult
from .sandbox import launcher as sandbox_launcher
from .session import FreshKernels, Session, runner_env
from .toolkit import cifar10

__all__ = ["grade_submission", "judge_one", "prepare_datasets", "make_launcher"]


def make_launcher(readonly: list[Path]) -> Launcher:
    """The complete sandbox; :class:`~course.grader.sandbox.SandboxRefused` when a protection is missing, unless
    ``--unsafe-no-sandbox`` was asked for (``COURSE_UNSAFE_NO_SANDBOX=1``)."""
    return sandbox_launcher(readonly)


def prepare_datasets(lab: str, data_root: Path) -> list[Path]:
    """Decode the data sets ``lab`` loads into the grader's cache (once), and return the cache folders to show
    the sandbox read-only: without them every submission would decode CIFAR-10's JPEGs again (about 20 s)."""
    try:
        datasets = lab_info(lab).datasets
    except KeyError:
        return []
    if "cifar10" in datasets:
        try:
            cifar10()
        except Exception:  # noqa: BLE001 - a missing data set is the notebook's error to report, not the grader's
            return []
    cache = cache_target(data_root)
    return [cache] if datasets and cache != data_root and cache.is_dir() else []


def grade_submission(root: Path, lab: str, folder: Path, *, student: str = "", timeout: float = 900.0,
                     data_root: Path | None = None, launcher_factory: Callable[[], Launcher] | None = None,
                     log: Callable[[str], None] | None = None) -> SubmissionResult:
    """Grade the submission copied into ``folder`` (a throw-away folder: the runner may write in it)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    root, folder = Path(root).resolve(), Path(folder).resolve()
    solution = load_notebook(root / "solutions" / lab / f"{lab}.ipynb")
    points = grade_points(solution)
    result = SubmissionResult(student=student, lab=lab)

    def zero(reason: str) -> SubmissionResult:
        result.tests = [TestResult(g, 0.0, p, reason) for g, p in points.items()]
        result.seconds = time.monotonic() - t0
        return result

    try:
        nb = load_notebook(folder / f"{lab}.ipynb")
    except NotebookError as exc:
        result.status = f"error: {exc}"
        return zero(str(exc))
    present = grade_points(nb)
    for gid in points:
        if gid not in present:
            result.notes.append(f"test cell {gid} is missing from the notebook; graded from your code")

    data = Path(data_root or default_data_root()).resolve()
    caches = prepare_datasets(lab, data)
    factory = launcher_factory or (lambda: make_launcher([data, *caches]))
    fresh_factory = launcher_factory or (lambda: make_launcher([]))
    released = released_notebook(root, lab)
    cells, where = cells_to_run(nb, test_sources(released))
    cell_timeout = float(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
    session = Session(cells, folder, runner_env(folder, data, caches), factory, cell_timeout=cell_timeout)
    judges = load_judges(root, lab)
    ref = load_reference(root, lab)
    # Refused here (SandboxRefused) when a protection is missing: before any student code runs.
    result.protections = [f"{p.name}: {p.detail}" for p in factory().protections() if not p.active]
    with tempfile.TemporaryDirectory(prefix="course-handed-in-") as handed_in:
        # The files graded from (checkpoints) as they were handed in, before the notebook runs and could replace them.
        pristine = Path(handed_in)
        for name in _checkpoints(lab):
            if (folder / name).is_file() and not (folder / name).is_symlink():
                shutil.copy2(folder / name, pristine / name)
        shared = Context(kernel=None, ref=ref, lab=lab, fast=True, submission=pristine,
                         reference_values=_reference_values(root, lab), cells=answer_sources(nb, released),
                         fresh_kernel=FreshKernels(session, pristine, fresh_factory, cell_timeout, deadline))
        if any(pristine.iterdir()):
            # Only weights handed in are re-measured: without them no judge asks for a fresh kernel, and warming
            # one anyway would spend a core that another grader working beside this one could use.
            shared.fresh_kernel.prewarm()  # type: ignore[union-attr]
        try:
            session.run(deadline)
            for i, why in sorted(session.failures.items()):
                result.notes.append(f"cell {where[i]}: {why}")
            for gid, max_score in points.items():
                verdict = judge_one(gid, max_score, judges, session, shared, deadline, where)
                shared.record(gid, verdict.score == verdict.max_score)
                result.tests.append(verdict)
        except KernelDied as exc:
            result.status = f"error: {exc}"
            done = {t.grade_id for t in result.tests}
            result.tests += [TestResult(g, 0.0, p, f"not graded: {exc}") for g, p in points.items() if g not in done]
        finally:
            session.close()
            shared.fresh_kernel.close_all()  # type: ignore[union-attr]
    result.notes += shared.notes
    result.recorded = dict(shared.recorded)  # type: ignore[attr-defined]
    result.seconds = time.monotonic() - t0
    return result


def _checkpoints(lab: str) -> list[str]:
    try:
        return list(lab_info(lab).checkpoints)
    except KeyError:
        return []


def _reference_values(root: Path, lab: str) -> dict[str, float]:
    path = root / "autograder" / "references" / f"{lab}.json"
    try:
        return {k: float(v) for k, v in json.loads(path.read_text()).get("results", {}).items() if v is not None}
    except (OSError, ValueError, AttributeError):
        return {}


def _first_failure(session: Session, where: list[int]) -> str:
    if not session.failures:
        return ""
    i = min(session.failures)
    return f" (the first cell that failed: cell {where[i]}: {session.failures[i]})"


def judge_one(gid: str, max_score: float, judges, session: Session, shared: Context,
              deadline: float, where: list[int]) -> TestResult:
    """The verdict of ``gid``'s judge on the notebook state of ``session`` (a failure costs this grade id only)."""
    task = task_of(gid)
    j = judges.get(gid)
    if j is None:
        return TestResult(gid, 0.0, max_score, f"{task}: no judge for {gid} (tell your instructor)")
    if time.monotonic() > deadline:
        return TestResult(gid, 0.0, max_score, f"{task}: not graded: the submission's time limit was reached")
    kernel = session.kernel if session.kernel and not session.kernel.dead else session.revive(deadline)
    kernel.call_timeout = max(1.0, min(j.timeout, deadline - time.monotonic()))
    ctx = dataclasses.replace(shared, kernel=kernel, grade_id=gid)
    try:
        j.fn(ctx)
    except Fail as exc:
        return TestResult(gid, 0.0, max_score, str(exc))
    except KernelTimeout:
        session.revive(deadline)
        return TestResult(gid, 0.0, max_score,
                          f"{task}: your code did not finish within {kernel.call_timeout:.0f} s on the hidden test")
    except KernelDied as exc:
        session.revive(deadline)
        return TestResult(gid, 0.0, max_score, f"{task}: the hidden test stopped your kernel: {exc}")
    except RemoteError as exc:
        if exc.ename == "NameError":
            return TestResult(gid, 0.0, max_score, f"{task}: {exc.evalue}{_first_failure(session, where)}")
        return TestResult(gid, 0.0, max_score, f"{task}: your code raised {exc} on the hidden test")
    except Exception as exc:  # noqa: BLE001 - a judge's own bug must not cost other tests
        return TestResult(gid, 0.0, max_score, f"{task}: the judge could not finish ({type(exc).__name__}: {exc}); "
                                               "tell your instructor")
    return TestResult(gid, max_score, max_score, "")
