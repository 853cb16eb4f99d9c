"""Grading a folder of submissions: ``course grade DIR``.

For each ``<student>/<lab>/``: skip it when its stored result is up to date → take it in (a scratch copy, the
notebook read) and grade it with the engine, here, in child processes or on a Dask cluster (:mod:`.pools`) → as
each result arrives, this process alone stores it atomically and writes it to nbgrader's gradebook, an autograded
notebook and a feedback page. At the end ``grades.csv`` and ``grades.json`` are regenerated from every stored
result, so they are the same whatever order the results arrived in.

Nothing a submission holds can stop the batch: every failure becomes that submission's result ("error: ...",
0 points), and a batch killed midway loses only the submission it was grading; run it again to resume.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import course

from ..checkout import PipelineError, lab_ids, solution_digest
from .intake import (Caps, Submission, copy_submission, digest, find_submissions, load_submission_notebook,
                     safe_name, scratch_folder, submission_timestamp)
from .one import _first_line
from .results import SubmissionResult, TestResult
from .pools import DaskPool, Done, InProcess, Task, make_pool
from .sandbox import UNSAFE_OPTION, SandboxRefused, banner
from .sandbox import unsafe as unsafe_grading
from .store import needs_grading, read_result, remove_stale_temporaries, result_path, write_result

__all__ = ["GradeOne", "grade_folder", "lab_max_scores", "grader_key"]


class GradeOne(Protocol):
    """The engine's entry point: ``course.grader.engine.grade_submission``."""

    def __call__(self, root: Path, lab: str, folder: Path, *, student: str, timeout: float) -> SubmissionResult: ...


def lab_max_scores(root: Path, lab: str) -> dict[str, float]:
    """Points per grade id, in notebook order, from the solution's graded cells (``nbgrader.points``)."""
    from ..notebooks import grade_cells, load_notebook

    nb = load_notebook(Path(root) / "solutions" / lab / f"{lab}.ipynb")
    return {gid: float(c.metadata.nbgrader.get("points", 0)) for gid, c in grade_cells(nb).items()}


def grader_key(root: Path, lab: str, *, package: Path | None = None) -> str:
    """Fingerprint of everything that decides ``lab``'s grades: a change regrades everyone.

    The solution's cells, the released notebook (it says which cells are tests), every judge file and shared judge
    helper in ``autograder/judges/``, the lab's recorded reference results, and the ``course`` package itself (the
    engine, the runner, the sandbox, and the helpers the judges call in the runner).
    """
    root = Path(root)
    h = hashlib.sha256(solution_digest(root, lab).encode())
    released = root / "notebooks" / lab / f"{lab}.ipynb"
    files = [released, root / "autograder" / "references" / f"{lab}.json"]
    judges = root / "autograder" / "judges"
    files += [judges / f"{lab}.py"]        # absent or not, it is part of the key
    files += sorted(p for p in judges.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    package = Path(package or Path(course.__file__).resolve().parent)
    files += sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        h.update(str(path.relative_to(package.parent if path.is_relative_to(package) else root)).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<absent>")
        h.update(b"\0")
    return h.hexdigest()[:16]


# The grader's scratch folders (``/tmp/course-grade-x1y2/submission/``, ``course-fresh-...``): a path quoted in a
# message or note (a traceback, "no checkpoint at ...") is shown relative to the submission, so that the same
# submission gets the same words however and wherever it was graded, and the grader's layout is not shown.
_SCRATCH = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/course-[\w-]+/(?:submission/)?")


def _scrub(text: str) -> str:
    return _SCRATCH.sub("", text)


def _complete(result: SubmissionResult, sub: Submission, max_scores: dict[str, float], fingerprint: str,
              notes: list[str]) -> SubmissionResult:
    """Who, what, and a verdict (within 0..max) for every grade id of the lab, whatever the engine returned;
    scratch paths taken out of its words."""
    result.student, result.lab, result.digest = sub.student, sub.lab, fingerprint
    given = {t.grade_id: t for t in result.tests}
    tests = []
    for gid, points in max_scores.items():
        t = given.pop(gid, None) or TestResult(gid, 0.0, points, "not graded: the grader gave no verdict")
        score = float(t.score) if isinstance(t.score, (int, float)) and math.isfinite(t.score) else 0.0
        tests.append(TestResult(gid, min(max(score, 0.0), points), points, _scrub(str(t.message or ""))))
    result.tests = tests + list(given.values())
    result.notes = list(dict.fromkeys(_scrub(n) for n in [*notes, *result.notes]))
    result.status = _scrub(result.status)
    return result


def grade_folder(root: Path, folder: Path, *, labs: Sequence[str] | None = None, force: bool = False,
                 workers: int = 1, scheduler: str | None = None, timeout: float = 900.0,
                 results_dir: Path | None = None, csv_path: Path | None = None, json_path: Path | None = None,
                 db_url: str | None = None, gradebook: bool = True, autograded_dir: Path | None = None,
                 feedback_dir: Path | None = None, grade_one: GradeOne | None = None, caps: Caps = Caps(),
                 unsafe: bool = False, log: Callable[[str], None] = print) -> list[SubmissionResult]:
    """Grade every ``<student>/<lab>/`` under ``folder`` (or ``folder/submitted``); this batch's results.

    ``workers`` > 1 grades that many submissions at once in child processes; ``scheduler`` (``tcp://host:port``)
    grades them on a Dask cluster instead. Either way this process alone writes what follows from a result, in
    the order results arrive: the stored result (``results_dir``, default ``autograder/results``), the
    gradebook, the autograded notebook and the feedback page (``feedback_dir``, default
    ``autograder/feedback_html``). Up-to-date results are not regraded unless ``force``. ``grades.csv``
    (``csv_path``, default ``autograder/grades.csv``) and ``grades.json`` (default ``<results_dir>/grades.json``)
    are regenerated from all stored results at the end. ``grade_one`` replaces the engine (tests; it must be an
    importable function for workers > 1 or a scheduler); ``gradebook=False`` skips the gradebook and autograded
    notebooks.

    Before any submission is touched, the sandbox is checked where grading will run (here, or on every Dask
    worker): when a protection is missing there, :class:`~course.grader.sandbox.SandboxRefused` says which and how
    to fix it, unless ``unsafe`` (``--unsafe-no-sandbox``): then every line, row and page about it says so.
    """
    root = Path(root).resolve()
    results_dir = Path(results_dir or root / "autograder" / "results").resolve()
    csv_path = Path(csv_path or root / "autograder" / "grades.csv").resolve()
    autograded_dir = Path(autograded_dir or os.environ.get("COURSE_AUTOGRADED") or root / "autograder" / "autograded")
    feedback_dir = Path(feedback_dir or root / "autograder" / "feedback_html").resolve()
    known = lab_ids(root)
    if labs:
        unknown = [lab for lab in labs if lab not in known]
        if unknown:
            raise PipelineError(f"no such lab: {', '.join(unknown)} (labs: {', '.join(known)})")
    pool = _pool(workers, scheduler, grade_one, log)
    # A stand-in engine (tests, benchmarks) runs no student code: only the real engine's sandbox is checked.
    gaps = _sandbox_in_force(pool, unsafe, log) if grade_one is None else []
    with unsafe_grading(bool(gaps)):
        return _grade(root, folder, labs, known, force, pool, timeout, results_dir, csv_path, json_path, db_url,
                      gradebook, autograded_dir, feedback_dir, grade_one, caps, gaps, log)


def _pool(workers: int, scheduler: str | None, grade_one: GradeOne | None, log: Callable[[str], None]):
    if grade_one is not None and (workers > 1 or scheduler) and not _nameable(grade_one):
        log("grade: this grading function cannot run in another process; grading in this process")
        return InProcess()
    return make_pool(workers, scheduler)


def _sandbox_in_force(pool, unsafe: bool, log: Callable[[str], None]) -> list:
    """Say what protects the student's code where it will be graded; refuse when something is missing (not unsafe)."""
    statuses = pool.sandbox()
    gaps = [g for _, _, missing in statuses for g in missing]
    for where, summary, _ in statuses:
        log(f"grade: {summary}" + (f" on {where}" if where else ""))
    if gaps and not unsafe:
        where = ", ".join(w for w, _, missing in statuses if missing and w)
        raise SandboxRefused(list(dict.fromkeys(gaps)), where=where)
    if gaps:
        log("grade: " + banner(list(dict.fromkeys(gaps))))
    elif unsafe:
        log(f"grade: {UNSAFE_OPTION} given, but every protection holds here: graded in the sandbox")
    return list(dict.fromkeys(gaps))


def _grade(root, folder, labs, known, force, pool, timeout, results_dir, csv_path, json_path, db_url, gradebook,
           autograded_dir, feedback_dir, grade_one, caps, gaps, log) -> list[SubmissionResult]:
    from tqdm.auto import tqdm

    from .feedback import write_feedback
    from .gradebook import GradebookWriter, write_autograded
    from .report import format_table, regenerate

    subs = [s for s in find_submissions(Path(folder)) if not labs or s.lab in labs]
    if not subs:
        raise PipelineError(f"{folder}: no submissions of {', '.join(labs or [])}")
    remove_stale_temporaries(results_dir)
    maxes = {lab: lab_max_scores(root, lab) for lab in sorted({s.lab for s in subs if s.lab in known})}
    keys = {lab: grader_key(root, lab) for lab in maxes}
    writer = GradebookWriter(root, db_url, csv_path=csv_path, log=log) if gradebook else None

    bar = tqdm(total=len(subs), unit="submission", disable=None, dynamic_ncols=True, file=sys.stderr)
    emit = bar.write if log is print and not bar.disable else log
    if writer is not None:
        writer.log = emit
    results: dict[int, SubmissionResult] = {}
    t0, graded = time.monotonic(), 0
    counts = {"graded": 0, "up to date": 0, "errors": 0, "lost by the grader": 0}

    def export(result: SubmissionResult, nb: Any, path: Path, sub: Submission) -> None:
        """Feedback page, gradebook and autograded notebook; the stored result says when the last two have it."""
        try:
            write_feedback(result, feedback_dir)
        except Exception as exc:  # noqa: BLE001 - the grade is stored; feedback can be made again
            emit(f"grade: {result.student}/{result.lab}: no feedback page: {_first_line(exc)}")
        stamp = submission_timestamp(sub.path)
        if writer is None or not writer.write(result, stamp):
            return
        try:
            write_autograded(root, result, nb, autograded_dir, stamp)
        except Exception as exc:  # noqa: BLE001
            emit(f"grade: {result.student}/{result.lab}: no autograded notebook: {_first_line(exc)}")
            return
        write_result(path, result, exported=True, grader_key=keys.get(result.lab, ""))

    def done(i: int, result: SubmissionResult, what: str) -> None:
        results[i] = result
        if result.status != "ok":
            counts["errors"] += 1
        bar.update(1)
        eta = ""
        if graded and len(results) < len(subs):
            left = (time.monotonic() - t0) / graded * (len(subs) - len(results))
            eta = f", about {left:.0f} s to go" if left < 120 else f", about {left / 60:.0f} min to go"
        emit(f"grade [{len(results)}/{len(subs)}{eta}] {result.student}/{result.lab}: "
             f"{result.total:g}/{result.max_total:g} ({' '.join(result.status.split())[:160]}){what}")

    tasks: list[Task] = []
    where: dict[int, tuple[Submission, Path, str]] = {}
    for i, sub in enumerate(subs):
        if sub.lab not in maxes or sub.problem:
            lab_folder = sub.lab if sub.lab in maxes else safe_name(sub.lab_raw)
            result = SubmissionResult(sub.student, sub.lab, status=f"unknown lab {sub.lab!r}")
            if sub.problem:
                result.status = f"error: {sub.problem}"
                result.tests = [TestResult(g, 0.0, p, sub.problem) for g, p in maxes.get(sub.lab, {}).items()]
            write_result(result_path(results_dir, lab_folder, sub.safe_student), result)
            done(i, result, "")
            continue
        path = result_path(results_dir, sub.lab, sub.safe_student)
        fingerprint = digest(sub.path, caps)
        if not needs_grading(path, fingerprint, force, grader_key=keys[sub.lab]):
            stored = read_result(path)
            if not stored.exported and writer is not None:      # graded, but not yet in the gradebook
                try:
                    with scratch_folder() as tmp:
                        copy_submission(sub.path, tmp / "s", caps)
                        export(stored.result, load_submission_notebook(tmp / "s", sub.lab).nb, path, sub)
                except OSError as exc:
                    emit(f"grade: {sub.student}/{sub.lab}: not exported: {_first_line(exc)}")
            counts["up to date"] += 1
            done(i, stored.result, " — up to date, not regraded")
            continue
        where[i] = (sub, path, fingerprint)
        tasks.append(Task(i, root, sub.lab, sub.student, sub.path, timeout, caps, keys[sub.lab], grade_one))

    def finish(d: Done) -> None:
        nonlocal graded
        graded += 1
        sub, path, fingerprint = where[d.index]
        result = _complete(d.result, sub, maxes[sub.lab], fingerprint, d.notes)
        transient = d.transient or result.refused
        write_result(path, result, grader_key=keys[sub.lab], transient=transient)
        if transient:
            counts["lost by the grader"] += 1
        else:
            counts["graded"] += 1
            export(result, d.nb, path, sub)
        done(d.index, result, f" in {result.seconds:.0f} s" + (f" on {d.where}" if isinstance(pool, DaskPool) and d.where else ""))

    if tasks and (len(tasks) > 1 or isinstance(pool, DaskPool)):
        emit(f"grade: {len(tasks)} submission(s) to grade, {pool.description}")
    for d in pool.run(tasks):
        finish(d)
    bar.close()

    ordered = [results[i] for i in range(len(subs))]
    _, problems = regenerate(results_dir, csv_path, json_path, known)
    for problem in problems:
        log(f"grade: left out of the reports: {problem}")
    log(format_table(ordered, known))
    if writer is not None and writer.broken:
        log("grade: the gradebook was not written (see above); grades.csv and grades.json have every grade")
    took = time.monotonic() - t0
    per = f", {took / counts['graded']:.1f} s per graded submission" if counts["graded"] else ""
    log(f"grade: {len(ordered)} submission(s): {counts['graded']} graded, {counts['up to date']} up to date, "
        f"{counts['errors']} with errors" + (f", {counts['lost by the grader']} lost by the grader (graded again "
                                            "on the next run)" if counts["lost by the grader"] else "")
        + f"; {took:.0f} s in all{per}")
    if gaps:
        log("grade: " + banner(gaps))
    log(f"grades written to {csv_path} ({len(ordered)} submission(s) in this batch; all stored results in "
        f"{results_dir}); feedback pages in {feedback_dir}")
    return ordered


def _nameable(fn: object) -> bool:
    from .one import engine_spec

    try:
        engine_spec(fn)  # type: ignore[arg-type]
        return True
    except ValueError:
        return False
