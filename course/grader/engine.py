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
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .judge import Context, Fail, load_judges, load_reference, task_of
from .kernel import Kernel, KernelDied, KernelTimeout, RemoteError
from .cells import answer_sources, cells_to_run, released_notebook, test_sources
from .launch import Launcher
from .sandbox import launcher as sandbox_launcher
from .results import SubmissionResult, TestResult

__all__ = ["Session", "grade_submission", "prepare_datasets", "runner_env", "make_launcher", "max_scores"]


def make_launcher(readonly: list[Path]) -> Launcher:
    """The complete sandbox; :class:`~course.grader.sandbox.SandboxRefused` when a protection is missing, unless
    ``--unsafe-no-sandbox`` was asked for (``COURSE_UNSAFE_NO_SANDBOX=1``)."""
    return sandbox_launcher(readonly)


def prepare_datasets(lab: str, data_root: Path) -> list[Path]:
    """Decode the data sets ``lab`` loads into the grader's cache (once), and return the cache folders to show
    the sandbox read-only: without them every submission would decode CIFAR-10's JPEGs again (about 20 s)."""
    from ..data.locations import _cache_target
    from ..labs import lab_info

    try:
        datasets = lab_info(lab).datasets
    except KeyError:
        return []
    if "cifar10" in datasets:
        from .helpers import cifar10

        try:
            cifar10()
        except Exception:  # noqa: BLE001 - a missing data set is the notebook's error to report, not the grader's
            return []
    cache = _cache_target(data_root)
    return [cache] if datasets and cache != data_root and cache.is_dir() else []


def runner_env(workdir: Path, data_root: Path | None, caches: list[Path] = ()) -> dict[str, str]:
    """The runner's whole environment: nothing of the grader's (no paths to references, no secrets)."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(workdir), "MPLCONFIGDIR": str(workdir / ".config" / "matplotlib"),
        "IPYTHONDIR": str(workdir / ".config" / "ipython"), "COURSE_CACHE": str(workdir / ".cache"),
        "COURSE_FAST": "1", "COURSE_GRADING": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
        "COURSE_DEVICE": "cpu", "COURSE_DOWNLOAD": "0",
    }
    if data_root is not None:
        env["COURSE_DATA"] = str(data_root)
    if caches:
        env["COURSE_CACHE_READONLY"] = os.pathsep.join(str(c) for c in caches)
    # The runner imports the same `course` as the grader (the sandbox shows only that package folder), whether
    # it came from the current folder, PYTHONPATH or an editable install.
    import course

    env["PYTHONPATH"] = str(Path(course.__file__).resolve().parent.parent)
    return env


def max_scores(nb) -> dict[str, float]:
    """Points per graded cell, in notebook order."""
    from ..notebooks import grade_cells

    return {gid: float(c.metadata.nbgrader.get("points", 0)) for gid, c in grade_cells(nb).items()}


@dataclass
class Session:
    """A runner holding the student's notebook state, restarted (with replay) when it dies."""

    cells: list[str]
    workdir: Path
    env: dict[str, str]
    launcher_factory: Callable[[], Launcher]
    cell_timeout: float = 180.0
    kernel: Kernel | None = None
    ran: list[int] = field(default_factory=list)           # cells that ran to the end, replayed on restart
    failures: dict[int, str] = field(default_factory=dict)  # cell index -> what went wrong
    restarts: int = 0

    def _start(self) -> Kernel:
        return Kernel(self.launcher_factory(), self.workdir, self.env)

    def run(self, deadline: float, kernel: Kernel | None = None) -> None:
        """Run every cell once, in order (in ``kernel`` if one was started already)."""
        self.kernel = kernel if kernel is not None and not kernel.dead else self._start()
        for i, source in enumerate(self.cells):
            if time.monotonic() > deadline:
                self.failures[i] = "not run: the submission's time limit was reached"
                continue
            self._run_cell(i, source, deadline)

    def _run_cell(self, i: int, source: str, deadline: float) -> None:
        assert self.kernel is not None
        timeout = max(1.0, min(self.cell_timeout, deadline - time.monotonic()))
        try:
            error = self.kernel.run_cell(source, timeout=timeout)
        except KernelTimeout:
            self.failures[i] = f"timed out after {timeout:.0f} s"
            self.revive(deadline)
            return
        except KernelDied as exc:
            self.failures[i] = str(exc)
            self.revive(deadline)
            return
        if error is None:
            self.ran.append(i)
        elif _memory_cap(error):
            # Under RLIMIT_DATA the allocation fails instead of the process dying (as under a cgroup), and what
            # the cell took stays taken: start again from the cells that worked, as after an OOM kill.
            self.failures[i] = f"memory limit reached ({error[0]}{': ' + error[1] if error[1] else ''})"
            self.revive(deadline)
        else:
            self.failures[i] = f"{error[0]}: {error[1]}".rstrip(": ")

    def revive(self, deadline: float) -> Kernel:
        """A new runner with the cells that had worked run again."""
        if self.kernel is not None:
            self.kernel.close()
        self.restarts += 1
        if self.restarts > 6:
            raise KernelDied("the kernel died too often; grading stopped")
        self.kernel = self._start()
        for i in list(self.ran):
            if time.monotonic() > deadline:
                raise KernelDied("the submission's time limit was reached while restarting the kernel")
            try:
                error = self.kernel.run_cell(self.cells[i], timeout=max(1.0, min(self.cell_timeout,
                                                                                   deadline - time.monotonic())))
            except KernelDied as exc:
                self.ran.remove(i)
                self.failures[i] = f"{exc} (when run again after a restart)"
                return self.revive(deadline)
            if error is not None:
                self.ran.remove(i)
                self.failures[i] = f"{error[0]}: {error[1]} (when run again after a restart)"
        return self.kernel

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()


def grade_submission(root: Path, lab: str, folder: Path, *, student: str = "", timeout: float = 900.0,
                     data_root: Path | None = None, launcher_factory: Callable[[], Launcher] | None = None,
                     log: Callable[[str], None] | None = None) -> SubmissionResult:
    """Grade the submission copied into ``folder`` (a throw-away folder: the runner may write in it)."""
    from ..data import data_root as default_data_root
    from ..notebooks import NotebookError, load_notebook

    t0 = time.monotonic()
    deadline = t0 + timeout
    root, folder = Path(root).resolve(), Path(folder).resolve()
    solution = load_notebook(root / "solutions" / lab / f"{lab}.ipynb")
    points = max_scores(solution)
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
    present = max_scores(nb)
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
                         fresh_kernel=_fresh_kernels(session, pristine, fresh_factory, cell_timeout, deadline))
        if _checkpoints(lab):
            shared.fresh_kernel.prewarm()  # type: ignore[union-attr]
        try:
            session.run(deadline)
            for i, why in sorted(session.failures.items()):
                result.notes.append(f"cell {where[i]}: {why}")
            for gid, max_score in points.items():
                verdict = _judge_one(gid, max_score, judges, session, shared, deadline, where)
                shared.cache[("passed", gid)] = verdict.score == verdict.max_score
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


def _memory_cap(error: tuple[str, str]) -> bool:
    """Whether a cell's error is an allocation refused at the sandbox's memory cap (Python's or torch's)."""
    name, text = error
    return name == "MemoryError" or ("can't allocate memory" in text and "DefaultCPUAllocator" in text)


def _checkpoints(lab: str) -> list[str]:
    from ..labs import lab_info

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


class _fresh_kernels:
    """``ctx.fresh_kernel(builder)``: a kernel without data that ran the notebook up to ``def builder``.

    Only the cells that ran cleanly in the main session run again (a cell that crashed or hung there
    would do it again), in a runner of their own, restarted with replay like the main one.
    """

    def __init__(self, session: Session, pristine: Path, factory, cell_timeout: float, deadline: float) -> None:
        self.session, self.pristine, self.factory = session, pristine, factory
        self.cell_timeout, self.deadline = cell_timeout, deadline
        self.dirs: list[tempfile.TemporaryDirectory] = []
        self.sessions: list[Session] = []
        self._warm: tuple[Path, dict, Kernel] | None = None
        self._warming: threading.Thread | None = None

    def _prepare(self) -> tuple[Path, dict[str, str]]:
        tmp = tempfile.TemporaryDirectory(prefix="course-fresh-")
        self.dirs.append(tmp)
        cwd = Path(tmp.name)
        for f in self.pristine.iterdir():
            shutil.copy2(f, cwd / f.name)
        env = runner_env(cwd, None)
        env["COURSE_DATA"] = str(cwd / "no-data")   # the labels stay out of reach
        return cwd, env

    def prewarm(self) -> None:
        """Start one runner now, and let it import torch in the background while the main session works."""
        try:
            cwd, env = self._prepare()
            kernel = Kernel(self.factory(), cwd, env, handshake=False)   # started from this (the main) thread
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the time it would have saved
            return

        def warm() -> None:
            try:
                kernel.handshake()
                kernel.run_cell("import torch", timeout=120)
                self._warm = (cwd, env, kernel)
            except Exception:  # noqa: BLE001
                kernel.close()
        self._warming = threading.Thread(target=warm, daemon=True, name="fresh-kernel-warmup")
        self._warming.start()

    def __call__(self, builder: str) -> Kernel:
        kernel = None
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        if self._warm is not None:
            cwd, env, kernel = self._warm
            self._warm = None
        else:
            cwd, env = self._prepare()
        pattern = re.compile(rf"^\s*(def|class)\s+{re.escape(builder)}\b|^\s*{re.escape(builder)}\s*=", re.M)
        chosen = []
        for i in sorted(self.session.ran):
            chosen.append(self.session.cells[i])
            if pattern.search(self.session.cells[i]):
                break
        fresh = Session(chosen, cwd, env, self.factory, cell_timeout=self.cell_timeout)
        self.sessions.append(fresh)
        fresh.run(self.deadline, kernel=kernel)
        assert fresh.kernel is not None
        return fresh.kernel

    def close_all(self) -> None:
        if self._warming is not None:
            self._warming.join()
        if self._warm is not None:
            self._warm[2].close()
        for session in self.sessions:
            session.close()
        for tmp in self.dirs:
            tmp.cleanup()


def _first_failure(session: Session, where: list[int]) -> str:
    if not session.failures:
        return ""
    i = min(session.failures)
    return f" (the first cell that failed: cell {where[i]}: {session.failures[i]})"


def _judge_one(gid: str, max_score: float, judges, session: Session, shared: Context,
               deadline: float, where: list[int]) -> TestResult:
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
