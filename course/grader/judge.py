"""Judges: hidden tests as ordinary Python functions, run in the grader's process, one per grade id.

A lab's judges live in ``autograder/judges/<lab>.py``::

    from course.grader.judge import Fail, judge

    @judge("3_1")
    def mlp_forward(ctx):
        m = ctx.kernel.ns.MLP()                 # built in the sandbox, stays there
        out = ctx.kernel.fetch(m(x))            # only plain data comes back
        expected = ctx.ref.MLP ...              # the reference solution runs here
        if ...: raise Fail("3.1: ... — check ...")

Messages say what is wrong and where; they are shown to the student, the judge's code never is.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import torch

__all__ = ["Fail", "Judge", "judge", "load_judges", "load_reference", "Context", "close", "task_of", "quiet_stdout"]


class Fail(AssertionError):
    """A verdict: the submission loses this test's points, for the reason in the message."""


@dataclass(frozen=True)
class Judge:
    grade_id: str
    fn: Callable[["Context"], None]
    timeout: float = 120.0   # seconds for each request the judge makes to the student's kernel


_REGISTRY: list[Judge] | None = None


def judge(grade_id: str, *, timeout: float = 120.0) -> Callable:
    """Register the decorated function as the judge of ``grade_id``."""
    def register(fn: Callable[["Context"], None]) -> Callable[["Context"], None]:
        if _REGISTRY is not None:
            _REGISTRY.append(Judge(grade_id, fn, timeout))
        return fn
    return register


def _package(folder: Path) -> str:
    """The judges folder as a package of its own (one per checkout), so that a lab's judges can import the
    modules beside them (``from .lab2_graph import ...``)."""
    name = "course_judges_" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    if name not in sys.modules:
        package = types.ModuleType(name, f"the judges of {folder}")
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    return name


def load_judges(root: Path, lab: str) -> dict[str, Judge]:
    """The judges of ``lab``, by grade id, from ``root/autograder/judges/<lab>.py`` (run afresh each time)."""
    global _REGISTRY
    folder = root / "autograder" / "judges"
    path = folder / f"{lab}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no judges for {lab}")
    name = f"{_package(folder)}.{lab}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _REGISTRY = []
    try:
        spec.loader.exec_module(module)
        found = list(_REGISTRY)
    finally:
        _REGISTRY = None
    judges: dict[str, Judge] = {}
    for j in found:
        if j.grade_id in judges:
            raise ValueError(f"{path}: two judges for grade id {j.grade_id!r}")
        judges[j.grade_id] = j
    return judges


_REFERENCES: dict[tuple[str, str], SimpleNamespace] = {}


def load_reference(root: Path, lab: str) -> SimpleNamespace:
    """The reference solution's definitions, run here: its setup cell and its ``*_code`` answer cells.

    ``solutions/`` stays the only source of the labs; training cells do not run.
    """
    key = (str(root), lab)
    if key in _REFERENCES:
        return _REFERENCES[key]
    nb = nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    chosen = [code[0].source] + [
        c.source for c in code
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        and c.metadata.nbgrader.get("grade_id", "").endswith("_code")]
    ns: dict[str, Any] = {"__name__": f"reference_{lab}"}
    rng = torch.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        for source in chosen:
            exec(compile(source, f"<reference {lab}>", "exec"), ns)  # noqa: S102 - the instructor's own code
    torch.set_rng_state(rng)
    ref = SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})
    _REFERENCES[key] = ref
    return ref


@dataclass
class Context:
    """What a judge works with."""

    kernel: Any                       # course.grader.kernel.Kernel: the student's running notebook
    ref: SimpleNamespace              # the reference solution's definitions
    lab: str
    fast: bool
    submission: Path                  # the throw-away copy of the submitted files
    grade_id: str = ""
    #: fresh_kernel("build_best_model"): a new kernel, without data, that ran the notebook up to that definition
    fresh_kernel: Callable[[str], Any] | None = None
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)        # shared by the judges of one submission
    reference_values: dict[str, float] = field(default_factory=dict)   # autograder/references/<lab>.json

    recorded: dict[str, float] = field(default_factory=dict)           # what this run measured, for build
    #: the verdicts given so far in this submission, by grade id (the engine records each one)
    verdicts: dict[str, bool] = field(default_factory=dict)
    #: of each checkpoint re-measured so far: whether it was trained in fast mode
    fast_checkpoints: dict[str, bool] = field(default_factory=dict)
    #: the submission's cells that carry a grade id, by grade id: a judge may run one again on inputs of its own
    cells: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return task_of(self.grade_id)

    def record(self, grade_id: str, passed: bool) -> None:
        """The engine's note of a verdict, for the judges that come after it."""
        self.verdicts[grade_id] = passed

    def failed(self, *grade_ids: str) -> list[str]:
        """Those of ``grade_ids`` judged earlier in this submission that lost their points (an upstream task)."""
        return [g for g in grade_ids if self.verdicts.get(g) is False]

    def reference(self, key: str, measured: float) -> float | None:
        """The reference solution's recorded value of ``key`` (None if not recorded yet); notes ``measured``.

        ``course build`` grades the solution itself and stores what it measured as the references.
        """
        self.recorded[key] = float(measured)
        value = self.reference_values.get(key)
        return None if value is None else float(value)


def task_of(grade_id: str) -> str:
    """'3_5_results' -> '3.5'."""
    parts = grade_id.split("_")
    return ".".join(parts[:2]) if len(parts) >= 2 else grade_id


def close(a: Any, b: Any, *, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Numbers, or tensors of one shape, equal within tolerances (NaN never equal)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))
    try:
        return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)
    except (TypeError, ValueError):
        return False


def quiet_stdout() -> contextlib.AbstractContextManager:
    """Reference code prints progress; judges keep the grader's terminal clean."""
    return contextlib.redirect_stdout(io.StringIO())

