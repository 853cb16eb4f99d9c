"""A runner session: the student's notebook run cell by cell in a sandboxed runner, restarted with the cells that
worked when one kills it; and :class:`FreshKernels`, the second runners a judge asks for.
"""
from __future__ import annotations

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

import course

from ..mode import grading_env
from .kernel import Kernel, KernelDied, KernelTimeout
from .launch import Launcher

__all__ = ["Session", "FreshKernels", "runner_env"]


def runner_env(workdir: Path, data_root: Path | None, caches: list[Path] = ()) -> dict[str, str]:
    """The runner's whole environment: nothing of the grader's (no paths to references, no secrets)."""
    env = grading_env(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        HOME=str(workdir), MPLCONFIGDIR=str(workdir / ".config" / "matplotlib"),
        IPYTHONDIR=str(workdir / ".config" / "ipython"), COURSE_CACHE=str(workdir / ".cache"),
        PYTHONDONTWRITEBYTECODE="1", LANG="C.UTF-8", COURSE_DEVICE="cpu", COURSE_DOWNLOAD="0")
    if data_root is not None:
        env["COURSE_DATA"] = str(data_root)
    if caches:
        env["COURSE_CACHE_READONLY"] = os.pathsep.join(str(c) for c in caches)
    # The runner imports the same `course` as the grader (the sandbox shows only that package folder), whether
    # it came from the current folder, PYTHONPATH or an editable install.
    env["PYTHONPATH"] = str(Path(course.__file__).resolve().parent.parent)
    return env


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


def _memory_cap(error: tuple[str, str]) -> bool:
    """Whether a cell's error is an allocation refused at the sandbox's memory cap (Python's or torch's)."""
    name, text = error
    return name == "MemoryError" or ("can't allocate memory" in text and "DefaultCPUAllocator" in text)


class FreshKernels:
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
