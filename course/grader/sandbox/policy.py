"""Grading fails closed: a grade is given only where every protection holds.

:func:`launcher` is how the engine gets its runner's launcher: the :class:`~.launcher.Sandbox` when all eight
protections hold, else :class:`SandboxRefused`, naming each missing protection and its fix — unless the
instructor asked for ``--unsafe-no-sandbox`` (``COURSE_UNSAFE_NO_SANDBOX=1`` in the grading processes). Then the
sandbox runs with what it has (or, without bubblewrap, a plain child process), and :func:`banner` is what every
terminal line, row, feedback page and report about it carries.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..launch import Launcher, PlainLauncher, Protection
from .launcher import Sandbox
from .limits import limits_from_env

__all__ = ["SandboxRefused", "UNSAFE_ENV", "UNSAFE_OPTION", "unsafe_requested", "unsafe", "launcher", "missing",
           "refusal", "banner", "check_here", "describe"]

UNSAFE_ENV = "COURSE_UNSAFE_NO_SANDBOX"
UNSAFE_OPTION = "--unsafe-no-sandbox"


class SandboxRefused(RuntimeError):
    """Grading would run student code without every protection; the message lists what is missing and how to fix it."""

    def __init__(self, missing_: Sequence[Protection], where: str = "") -> None:
        self.missing = list(missing_)
        super().__init__(refusal(self.missing, where))


def unsafe_requested() -> bool:
    return os.environ.get(UNSAFE_ENV, "") == "1"


@contextlib.contextmanager
def unsafe(on: bool = True) -> Iterator[None]:
    """Grade without a complete sandbox for the duration (the grading processes started meanwhile inherit it)."""
    before = os.environ.get(UNSAFE_ENV)
    if on:
        os.environ[UNSAFE_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(UNSAFE_ENV, None)
        else:
            os.environ[UNSAFE_ENV] = before


def sandbox(readonly: Sequence[Path] = (), **limits) -> Sandbox:
    cell = float(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
    return Sandbox(readonly, **{**limits_from_env(), **limits}, cell_timeout=cell)


def missing(box: Sandbox) -> list[Protection]:
    return [p for p in box.protections() if not p.active]


def launcher(readonly: Sequence[Path] = (), **limits) -> Launcher:
    """The launcher a grading run must use: the complete sandbox, or (only when unsafe was asked for) what there is."""
    box = sandbox(readonly, **limits)
    gaps = missing(box)
    if not gaps:
        return box
    if not unsafe_requested():
        raise SandboxRefused(gaps)
    return box if box.usable else PlainLauncher()


def check_here() -> tuple[str, list[Protection]]:
    """(the one-line summary, the missing protections) on this machine, for this user."""
    box = sandbox()
    return box.summary(), missing(box)


def refusal(gaps: Sequence[Protection], where: str = "") -> str:
    lines = [f"grading refused{' on ' + where if where else ''}: {len(gaps)} of 8 protections are missing, so student "
             "code could read the solutions or rewrite the judges and gradebook:"]
    lines += [f"  - {p.name}: {p.detail}" for p in gaps]
    lines.append(f"Fix what is missing (above), or grade on a Linux machine where it holds. Only for code you trust "
                 f"(never students' work), `{UNSAFE_OPTION}` grades anyway, and every report says so.")
    return "\n".join(lines)


def banner(gaps: Sequence[Protection | str]) -> str:
    names = [p.name if isinstance(p, Protection) else str(p).split(":", 1)[0] for p in gaps]
    return (f"UNSAFE: graded with {UNSAFE_OPTION}: student code ran without " +
            (", ".join(names) if names else "the sandbox") + "; these grades are not trustworthy")


def describe(protections: Sequence[Protection]) -> str:
    """Several lines for a log: what guards the student's code here, and what does not."""
    off = [p for p in protections if not p.active]
    head = ("sandbox: all protections in force" if not off else
            "sandbox: no isolation" if len(off) == len(protections) else
            f"sandbox: {len(off)} of {len(protections)} protections OFF")
    lines = [head]
    for p in protections:
        lines.append(f"  [{'on ' if p.active else 'OFF'}] {p.name}" + (f": {p.detail}" if p.detail else ""))
    return "\n".join(lines)
