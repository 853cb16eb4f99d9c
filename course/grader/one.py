"""One submission in a process of its own: ``python -m course.grader.one``.

Parallel grading (``course grade --workers N``) and every Dask task run this program once per submission, so a
grader that crashes, leaks or hangs costs that submission only, and what runs on a cluster node is exactly what
runs on the instructor's machine. The program reads a copied submission folder, grades it with the engine (the
sandboxed runner and the judges) and writes the result as JSON, atomically, to ``--out``.

:func:`grade_copied` is the same step in the calling process (``--workers 1``); :func:`run_one` starts the program
and turns whatever happens to it (a crash, a hang, no output) into that submission's result.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .results import SubmissionResult, TestResult

__all__ = ["grade_copied", "engine_spec", "load_engine", "run_one", "main", "GRACE_S"]

# Seconds the program may run past the submission's own time limit before it is killed (the engine stops a
# submission at its limit; this only catches a grader that hangs itself). COURSE_GRADER_GRACE overrides it.
GRACE_S = 120.0


def _first_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _zero(root: Path, lab: str, student: str, status: str, why: str) -> SubmissionResult:
    from .batch import lab_max_scores

    try:
        points = lab_max_scores(root, lab)
    except Exception:  # noqa: BLE001 - the caller completes missing grade ids from its own copy of the points
        points = {}
    return SubmissionResult(student, lab, [TestResult(g, 0.0, p, why) for g, p in points.items()], status=status)


def engine_spec(grade_one: Callable[..., Any] | None) -> str | None:
    """``module:function`` naming ``grade_one`` for another process; None for the default engine.

    ``ValueError`` when it cannot be named (a lambda, a local function): another process could not import it.
    """
    if grade_one is None:
        return None
    module, name = getattr(grade_one, "__module__", None), getattr(grade_one, "__qualname__", "")
    if not module or "<" in name:
        raise ValueError(f"{grade_one!r} cannot be run in another process: it has no importable name")
    return f"{module}:{name}"


def load_engine(spec: str | None) -> Callable[..., SubmissionResult]:
    """The grading function named by :func:`engine_spec` (the sandboxed engine when ``spec`` is None)."""
    if not spec:
        from .engine import grade_submission

        return grade_submission
    module, _, name = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def grade_copied(root: Path, lab: str, folder: Path, *, student: str, timeout: float,
                 grade_one: Callable[..., SubmissionResult] | None = None) -> SubmissionResult:
    """Grade the submission copied into ``folder`` (a scratch copy: the runner may write in it).

    The notebook is read with :func:`~course.grader.intake.load_submission_notebook` (a broken one becomes a
    result with its reason), then graded. Never raises for anything the submission holds.
    """
    import nbformat

    from .intake import load_submission_notebook

    root, folder = Path(root), Path(folder)
    try:
        loaded = load_submission_notebook(folder, lab)
        if loaded.nb is None:
            result = _zero(root, lab, student, f"error: {loaded.reason}", loaded.reason)
        else:
            if loaded.changed:
                nbformat.write(loaded.nb, folder / f"{lab}.ipynb")
            engine = grade_one or load_engine(None)
            result = engine(root, lab, folder, student=student, timeout=timeout)
            if not isinstance(result, SubmissionResult):
                raise TypeError(f"the grader returned {type(result).__name__}, not a SubmissionResult")
        result.notes = list(dict.fromkeys([*loaded.notes, *result.notes]))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one submission's failure is its own
        result = _zero(root, lab, student, f"error: {_first_line(exc)}", f"not graded: {_first_line(exc)}")
    return result


def _child_env(threads: int | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # The grader's own modules (and, in tests, a stand-in engine) must import as they do here.
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *env.get("PYTHONPATH", "").split(os.pathsep)]))
    if threads:
        # N graders on N cores: each one's torch (the judges' reference runs) gets its share, not every core.
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.update(extra or {})
    return env


def run_one(root: Path, lab: str, folder: Path, *, student: str, timeout: float, engine: str | None = None,
            threads: int | None = None, env: Mapping[str, str] | None = None,
            grace: float | None = None) -> SubmissionResult:
    """Grade ``folder`` in a child process (this module as a program); never raises for what happens to it.

    The child is killed (its whole process group) when it runs ``grace`` seconds past ``timeout``; a child that
    dies or writes no result gives a result whose status says so, with the last line it wrote to stderr.
    """
    t0 = time.monotonic()
    grace = float(os.environ.get("COURSE_GRADER_GRACE", GRACE_S)) if grace is None else grace
    with tempfile.TemporaryDirectory(prefix="course-one-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "course.grader.one", "--root", str(root), "--lab", lab, "--student", student,
               "--timeout", str(timeout), "--out", str(out), "--parent", str(os.getpid()), str(folder)]
        if engine:
            cmd += ["--engine", engine]
        err_path = Path(tmp) / "stderr.txt"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    env=_child_env(threads, env), start_new_session=True)
            try:
                code = proc.wait(timeout=timeout + grace)
                why = f"the grading process exited with code {code}"
            except subprocess.TimeoutExpired:
                why = f"the grading process ran {timeout + grace:.0f} s and was stopped"
                code = None
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if code == 0 and out.is_file():
            try:
                return SubmissionResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
            except (ValueError, TypeError) as exc:
                why = f"the grading process wrote an unreadable result ({_first_line(exc)})"
        tail = [ln.strip() for ln in err_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        if tail:
            why += f": {tail[-1][:300]}"
    result = _zero(Path(root), lab, student, f"error: {why}", f"not graded: {why}")
    result.seconds = time.monotonic() - t0
    return result


def _die_with(parent: int) -> None:
    """Die when the process that started us does (a Dask worker killed with SIGKILL leaves no grader behind)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:       # it died before the call above took effect
        os._exit(3)


def _skip_unused_format_checkers() -> None:
    """Keep jsonschema from loading ``rfc3987_syntax`` when nbformat imports it.

    That optional checker (of "iri" formats, which no notebook schema uses) builds its grammars at import time:
    about 4 s of every child's start-up here, against 0.5 s for the rest of nbformat's validator.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    from .store import atomic_write

    _skip_unused_format_checkers()
    p = argparse.ArgumentParser(prog="python -m course.grader.one", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the copied submission (the runner may write in it)")
    p.add_argument("--root", required=True)
    p.add_argument("--lab", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--out", required=True, help="where the result goes (JSON)")
    p.add_argument("--engine", help="module:function to grade with instead of the engine (tests)")
    p.add_argument("--parent", type=int, default=0, help="die with this process")
    args = p.parse_args(argv)
    _die_with(args.parent)
    result = grade_copied(Path(args.root), args.lab, Path(args.folder), student=args.student, timeout=args.timeout,
                          grade_one=load_engine(args.engine) if args.engine else None)
    atomic_write(Path(args.out), json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
