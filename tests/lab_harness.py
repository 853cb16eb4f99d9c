"""A solution notebook's code cells by key, and variants of them, for the mutation corpora of the judges.

Cells are addressed by key: an nbgrader ``grade_id`` for cells that have one, else ``"<previous grade_id>+<k>"``
for the k-th plain code cell after it (``"start+<k>"`` before the first one).
"""
from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*(?:\n|\Z)", re.S | re.M)


class Notebook:
    """The code cells of one notebook, by key, in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        nb = nbformat.read(self.path, as_version=4)
        self.keys: list[str] = []
        self.graded: set[str] = set()
        self._sources: dict[str, str] = {}
        previous, k = "start", 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id"):
                key = previous = meta["grade_id"]
                k = 0
                if meta.get("grade"):
                    self.graded.add(key)
            else:
                k += 1
                key = f"{previous}+{k}"
            self.keys.append(key)
            self._sources[key] = cell.source

    def source(self, key: str) -> str:
        return self._sources[key]

    def patched(self, key: str, *edits: tuple[str, str]) -> str:
        """The source of ``key`` with each ``(old, new)`` applied; ``old`` must occur exactly once."""
        src = self.source(key)
        for old, new in edits:
            n = src.count(old)
            if n != 1:
                raise ValueError(f"cell {key}: {old!r} occurs {n} times, expected once (did the solution change?)")
            src = src.replace(old, new)
        return src

    def stub(self, key: str) -> str:
        """``key`` as students receive it: every solution region replaced by ``raise NotImplementedError()``."""
        src, n = _SOLUTION.subn(r"\1# YOUR CODE HERE\n\1raise NotImplementedError()\n", self.source(key))
        if n == 0:
            raise ValueError(f"cell {key} has no ### BEGIN SOLUTION region")
        return src



def assert_full_marks(verdicts: Mapping[str, Any]) -> None:
    """Every judge gave full marks (the solution, or a correct answer written another way)."""
    failed = {g: v.message for g, v in verdicts.items() if v.score != v.max_score}
    assert not failed, failed


def assert_verdict(case: Any, verdicts: Mapping[str, Any]) -> None:
    """A BUG case (``case.match`` a regex) must lose points with a message naming its cause; an OK case
    (``case.match`` None) must lose none."""
    lost = [v for v in verdicts.values() if v.score < v.max_score]
    if case.match is not None:
        assert lost, f"{case.id}: this buggy answer gets full marks on {', '.join(verdicts)}"
        messages = "\n".join(v.message for v in lost)   # a case graded by several ids: one of them names it
        assert re.search(case.match, messages, re.S), (
            f"{case.id}: {lost[0].grade_id} loses its points, but the message does not point at the cause "
            f"(expected /{case.match}/):\n{messages}")
    else:
        assert not lost, f"{case.id}: this correct answer loses points on {lost[0].grade_id}:\n{lost[0].message}"


@dataclasses.dataclass(frozen=True)
class Case:
    """One variant of an answer cell in a lab's mutation corpus."""

    task: str            # "1.2"
    name: str            # readable id
    source: str          # the replacement cell
    match: str | None    # BUG: a regex the failure message must contain; None for an OK variant
    cell: str = ""       # the cell replaced (default: the task's answer cell, "<task>_code")
    tests: tuple[str, ...] = ()   # the grade ids judged (default: the task's own)
    rerun: tuple = ()    # (cell, source or None) pairs run again before judging

    @property
    def buggy(self) -> bool:
        return self.match is not None

    @property
    def answer(self) -> str:
        return self.cell or self.task.replace(".", "_") + "_code"

    @property
    def graded(self) -> tuple[str, ...]:
        return self.tests or (self.task.replace(".", "_"),)

    @property
    def id(self) -> str:
        return f"{self.task}-{'bug' if self.buggy else 'ok'}-{self.name}"


def bug(task: str, name: str, source: str, match: str, **kw) -> Case:
    return Case(task, name, source, match, **kw)


def ok(task: str, name: str, source: str, **kw) -> Case:
    return Case(task, name, source, None, **kw)


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def with_tests(cases: Iterable[Case], tests_of: Callable[[str], tuple[str, ...]]) -> list[Case]:
    """The cases, each judged by ``tests_of(task)`` unless it names its own grade ids."""
    return [c if c.tests else dataclasses.replace(c, tests=tuple(tests_of(c.task))) for c in cases]


def run_case(lab: Any, nb: Notebook, answer_key: str, source: str, tests: tuple[str, ...]) -> dict:
    """Replace one cell in ``lab.session``'s kernel, run the given judges as the engine does (the judges see the
    replaced cell's source in ``ctx.cells``), then put the solution's cell back."""
    import time

    from course.grader.engine import _judge_one

    session = lab.session
    deadline = time.monotonic() + 600
    if session.kernel is None or session.kernel.dead:
        session.revive(deadline)
    session.kernel.run_cell(source, timeout=120)   # an error here is what a student's run would show, not a verdict
    shared = dataclasses.replace(lab.shared, cache={}, notes=[], recorded={},
                                 cells={**lab.shared.cells, answer_key: source})
    try:
        verdicts = {}
        for gid in tests:
            v = _judge_one(gid, 1.0, lab.judges, session, shared, deadline, list(range(len(lab.keys))))
            shared.cache[("passed", gid)] = v.score == v.max_score
            verdicts[gid] = v
    finally:
        if session.kernel is None or session.kernel.dead:
            session.revive(deadline)
        session.kernel.run_cell(nb.source(answer_key), timeout=120)
    return verdicts
