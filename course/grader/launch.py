"""How a grading session's runner process is started: the interface the sandbox implements.

The engine never starts student code itself; it asks a :class:`Launcher` for a process. ``PlainLauncher``
starts it as an ordinary child process (tests of the judges, machines without any isolation);
``course.grader.sandbox.Sandbox`` starts it isolated (namespaces, cgroups, an unprivileged user).
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Protection", "Launcher", "PlainLauncher"]


@dataclass(frozen=True)
class Protection:
    """One protection and whether it is in force here: ``Protection("network", False, "unshare missing")``."""

    name: str
    active: bool
    detail: str = ""


class Launcher(Protocol):
    """Starts one process tree for one submission, and ends all of it."""

    def popen(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        """Start ``argv`` with stdin, stdout and stderr as pipes (binary), in ``cwd``, with exactly ``env``."""
        ...

    def kill(self) -> None:
        """Kill every process started through this launcher, children and grandchildren included."""
        ...

    def post_mortem(self) -> str | None:
        """Why the last process died, when the launcher knows better than its exit code (e.g. the memory cap)."""
        ...

    def protections(self) -> list[Protection]:
        """What is in force, and what is not, on this machine."""
        ...


class PlainLauncher:
    """No isolation: a child process in a session of its own, killed as a process group."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []

    def popen(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self._procs.append(proc)
        return proc

    def kill(self) -> None:
        for proc in self._procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._procs.clear()

    def post_mortem(self) -> str | None:
        return None

    def protections(self) -> list[Protection]:
        return [Protection("sandbox", False, "plain child process: no isolation")]
