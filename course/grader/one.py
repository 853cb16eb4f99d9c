"""One submission in a process of its own: ``python -m course.grader.one``.

Parallel grading (``course grade --workers N``) and every Dask task hand each submission to this program, never
grading it in their own process: a grader that crashes or hangs costs that submission only, and what runs on a
cluster node is exactly what runs on the instructor's machine. Given a copied submission folder, the program
grades it with the engine (the sandboxed runners and the judges) and writes the result as JSON, atomically.

* :class:`GradingProcess` keeps one such process (``--serve``) and hands it submission after submission, so that
  torch, the engine and the judges are imported once per process, not once per submission; whatever happens to
  it (a crash, a hang, no answer) becomes that submission's result, and the next one gets a new process.
* ``python -m course.grader.one FOLDER --root ... --lab ... --out ...``: one submission from a shell.
* :func:`grade_copied`: the same step in the calling process (``--workers 1``).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from ..startup import python_c
from .engine import grade_submission
from .intake import load_submission_notebook
from .results import SubmissionResult
from .sandbox import SandboxRefused
from .store import atomic_write
from .tasks import failed_result, first_line, refused_result, zero_result

__all__ = ["grade_copied", "load_engine", "GradingProcess", "serve", "main", "GRACE_S"]

# Seconds the program may run past the submission's own time limit before it is killed (the engine stops a
# submission at its limit; this only catches a grader that hangs itself). COURSE_GRADER_GRACE overrides it.
GRACE_S = 120.0


def load_engine(spec: str | None) -> Callable[..., SubmissionResult]:
    """The grading function named by :func:`~.tasks.engine_spec` (the sandboxed engine when ``spec`` is None)."""
    if not spec:
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
    root, folder = Path(root), Path(folder)
    try:
        loaded = load_submission_notebook(folder, lab)
        if loaded.nb is None:
            result = zero_result(root, lab, student, f"error: {loaded.reason}", loaded.reason)
        else:
            if loaded.changed:
                nbformat.write(loaded.nb, folder / f"{lab}.ipynb")
            engine = grade_one or load_engine(None)
            result = engine(root, lab, folder, student=student, timeout=timeout)
            if not isinstance(result, SubmissionResult):
                raise TypeError(f"the grader returned {type(result).__name__}, not a SubmissionResult")
        result.notes = list(dict.fromkeys([*loaded.notes, *result.notes]))
    except SandboxRefused as exc:     # the grader's machine, not the submission: nothing is graded
        result = refused_result(root, lab, student, exc)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one submission's failure is its own
        result = failed_result(root, lab, student, exc)
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


class GradingProcess:
    """A child process (this module with ``--serve``) that grades submissions one after another.

    It imports torch, the engine and the judges once, and keeps nothing of a submission but its result (student
    code only ever runs in the engine's sandboxed runners, started afresh for each submission). A request that
    kills it or runs ``grace`` seconds past its time limit costs that submission a result saying so; the next
    request starts a new process. :meth:`close` ends it.
    """

    def __init__(self, *, threads: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.threads, self.env = threads, dict(env or {})
        self.proc: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="course-grader-")
        self._err = Path(self._tmp.name) / "stderr.txt"

    def _start(self) -> subprocess.Popen:
        # ``python -m course.grader.one --serve ...``, without jsonschema's slow optional checker (see startup.py)
        cmd = [sys.executable, "-c", python_c("from course.grader.one import main; sys.exit(main())"), "--serve",
               "--parent", str(os.getpid())]
        with open(self._err, "ab") as err:
            return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                    env=_child_env(self.threads, self.env), start_new_session=True)

    def _stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        return proc.wait()

    def _last_error_line(self) -> str:
        try:
            lines = self._err.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = [ln.strip() for ln in lines if ln.strip()]
        return f": {tail[-1][:300]}" if tail else ""

    def grade(self, root: Path, lab: str, folder: Path, *, student: str, timeout: float,
              engine: str | None = None, grace: float | None = None) -> SubmissionResult:
        """Grade the copied submission ``folder``; never raises for what happens to the process."""
        t0 = time.monotonic()
        grace = float(os.environ.get("COURSE_GRADER_GRACE", GRACE_S)) if grace is None else grace
        out = Path(self._tmp.name) / "result.json"
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        self._err.write_bytes(b"")
        request = {"root": str(root), "lab": lab, "folder": str(folder), "student": student, "timeout": timeout,
                   "engine": engine, "out": str(out)}
        why = ""
        try:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout + grace)
            answer = self.proc.stdout.readline() if ready else None
        except OSError:                 # the process was gone before it could take the request
            answer = b""
        if answer is None:
            self._stop()
            why = f"the grading process ran {timeout + grace:.0f} s and was stopped"
        elif answer.strip() != b"done":
            code = self._stop()
            why = f"the grading process exited with code {code}{self._last_error_line()}"
        else:
            try:
                return SubmissionResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                why = f"the grading process wrote an unreadable result ({first_line(exc)})"
        result = zero_result(Path(root), lab, student, f"error: {why}", f"not graded: {why}")
        result.seconds = time.monotonic() - t0
        return result

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()          # end of requests: it exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._stop()
        self._tmp.cleanup()

    def __enter__(self) -> "GradingProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _die_with(parent: int) -> None:
    """Die when the process that started us does (a Dask worker killed with SIGKILL leaves no grader behind)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:       # it died before the call above took effect
        os._exit(3)


def serve() -> int:
    """``--serve``: grade the requests read from stdin (a JSON object a line), answering "done" on stdout each.

    The protocol keeps the real stdout to itself: whatever the engine or a judge prints goes to stderr.
    """
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        result = grade_copied(Path(req["root"]), req["lab"], Path(req["folder"]), student=req["student"],
                              timeout=float(req["timeout"]),
                              grade_one=load_engine(req["engine"]) if req.get("engine") else None)
        atomic_write(Path(req["out"]), json.dumps(result.as_dict(), ensure_ascii=False))
        answers.write("done\n")
        answers.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course.grader.one", description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", help="the copied submission (the runner may write in it)")
    p.add_argument("--serve", action="store_true", help="grade requests from stdin, one after another")
    p.add_argument("--root")
    p.add_argument("--lab")
    p.add_argument("--student", default="")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--out", help="where the result goes (JSON)")
    p.add_argument("--engine", help="module:function to grade with instead of the engine (tests)")
    p.add_argument("--parent", type=int, default=0, help="die with this process")
    args = p.parse_args(argv)
    _die_with(args.parent)
    if args.serve:
        return serve()
    if not (args.folder and args.root and args.lab and args.out):
        p.error("FOLDER, --root, --lab and --out are needed (or --serve)")
    result = grade_copied(Path(args.root), args.lab, Path(args.folder), student=args.student, timeout=args.timeout,
                          grade_one=load_engine(args.engine) if args.engine else None)
    atomic_write(Path(args.out), json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
