"""What the mutation corpora of the judges share: a solution notebook's code cells by key and variants of them,
cases and their verdicts, and a lab's kernel that holds the solution's notebook state, in which one case at a time
replaces cells and is judged exactly as the engine judges a submission.

Cells are addressed by key: an nbgrader ``grade_id`` for cells that have one, else ``"<previous grade_id>+<k>"``
for the k-th plain code cell after it (``"start+<k>"`` before the first one).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from course.data import data_root
from course.grader.engine import judge_one, prepare_datasets
from course.grader.judge import Context, load_judges, load_reference
from course.grader.launch import PlainLauncher
from course.grader.session import FreshKernels, Session, runner_env

ROOT = Path(__file__).resolve().parents[2]

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

    def replace_def(self, key: str, name: str, new: str) -> str:
        """The cell ``key`` with its top-level ``def``/``class`` ``name`` replaced by ``new``."""
        cell = self.source(key)
        lines = cell.splitlines()
        for node in ast.parse(cell).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
                return "\n".join(lines[:start] + src(new).splitlines() + lines[node.end_lineno:])
        raise ValueError(f"cell {key} defines no {name}")

    @classmethod
    def of(cls, lab: str) -> "Notebook":
        """The solution notebook of ``lab``."""
        return cls(ROOT / "solutions" / lab / f"{lab}.ipynb")

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


def reference_file(lab: str, name: str) -> Path:
    """A file the reference solution saved in full mode (``course solve``), kept as a fixture."""
    return ROOT / "autograder" / "references" / lab / name


@dataclasses.dataclass(frozen=True)
class LabSpec:
    """What a lab's corpus needs of its kernel.

    ``state``: the cells run, in order, to build the notebook state the judges read; ``fresh``: the definitions a
    second runner runs (after the setup cell) when a judge re-measures a saved checkpoint, none when the lab has no
    checkpoint; ``handed_in``: files handed in beside the notebook (name → the reference file); ``datasets``: the
    data sets are decoded into the grader's cache first, as the engine does.
    """

    lab: str
    state: tuple[str, ...]
    fresh: tuple[str, ...] = ()
    handed_in: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    datasets: bool = False
    cell_timeout: float = 300
    budget: float = 900


class LabSession:
    """One runner (the engine's kernel, without the sandbox that tests/grader/test_sandbox.py covers) holding the
    solution's notebook state of one lab, in fast mode."""

    def __init__(self, spec: LabSpec, nb: Notebook, work: Path, submission: Path) -> None:
        self.spec, self.nb = spec, nb
        for name, path in spec.handed_in.items():
            shutil.copy(path, submission / name)
            shutil.copy(path, work / name)
        caches = prepare_datasets(spec.lab, data_root()) if spec.datasets else []
        env = runner_env(work, data_root() if spec.datasets or spec.handed_in else None, caches)
        self.session = Session([nb.source(k) for k in spec.state], work, env, PlainLauncher,
                               cell_timeout=spec.cell_timeout)
        self.session.run(time.monotonic() + spec.budget)
        assert not self.session.failures, self.session.failures
        record = ROOT / "autograder" / "references" / f"{spec.lab}.json"
        self.shared = Context(kernel=None, ref=load_reference(ROOT, spec.lab), lab=spec.lab, fast=True,
                              submission=submission,
                              reference_values=json.loads(record.read_text())["results"] if record.exists() else {})
        self.judges = load_judges(ROOT, spec.lab)

    def judge(self, case: "Case", *, must_run: bool | None = None) -> dict[str, Any]:
        """Replace the case's cells (and run again the ones it names), run its judges as the engine does, then put
        the solution's cells back. A correct variant must run without an error (``must_run``, default: for OK
        cases): one that does not even define its names would leave the solution's in place and pass for nothing."""
        nb, session = self.nb, self.session
        deadline = time.monotonic() + 600
        if session.kernel is None or session.kernel.dead:
            session.revive(deadline)
        replaced = {key: (source if source is not None else nb.source(key)) for key, source in case.rerun}
        replaced[case.answer] = case.source
        order = [k for k in self.spec.state if k in replaced] + ([case.answer] if case.answer not in self.spec.state
                                                                 else [])
        for key in order:
            error = session.kernel.run_cell(replaced[key], timeout=self.spec.cell_timeout)
            if key == case.answer and (must_run if must_run is not None else not case.buggy):
                assert error is None, f"{case.id}: the replacement cell raised {error}"
        fresh = None
        if self.spec.fresh:
            cells = [nb.source(self.spec.state[0])] + [replaced.get(k, nb.source(k)) for k in self.spec.fresh]
            fresh = FreshKernels(Session(cells, session.workdir, session.env, PlainLauncher,
                                         ran=list(range(len(cells)))), self.shared.submission, PlainLauncher, 120,
                                 deadline)
        answers = {key: replaced.get(key, nb.source(key)) for key in nb.keys if "+" not in key and key != "start"}
        shared = dataclasses.replace(self.shared, cache={}, verdicts={}, fast_checkpoints={}, notes=[], recorded={},
                                     fresh_kernel=fresh, cells=answers)
        try:
            verdicts = {}
            for gid in case.graded:
                verdict = judge_one(gid, 1.0, self.judges, session, shared, deadline, list(range(len(self.spec.state))))
                shared.record(gid, verdict.score == verdict.max_score)
                verdicts[gid] = verdict
        finally:
            if fresh is not None:
                fresh.close_all()
            if session.kernel is None or session.kernel.dead:
                session.revive(deadline)
            for key in order:
                session.kernel.run_cell(nb.source(key), timeout=self.spec.cell_timeout)
        self.last_notes = shared.notes
        return verdicts

    def judge_cell(self, key: str, source: str, tests: tuple[str, ...]) -> dict[str, Any]:
        """Judge ``tests`` with cell ``key`` replaced by ``source`` (run whether it raises or not)."""
        return self.judge(Case("", "edit", source, "", cell=key, tests=tests), must_run=False)

    def close(self) -> None:
        self.session.close()
