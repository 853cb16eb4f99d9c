"""Grading a folder of submissions: ``course grade DIR``.

For each ``<student>/<lab>/``: take it in (a scratch copy, the notebook read) → skip it when its stored result is
up to date → grade it with the engine → store the result atomically → write it to nbgrader's gradebook and an
autograded notebook → next. At the end ``grades.csv`` and ``grades.json`` are regenerated from every stored result.

Nothing a submission holds can stop the batch: every failure becomes that submission's result ("error: ...",
0 points), and a batch killed midway loses only the submission it was grading; run it again to resume.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from .intake import (Caps, Submission, copy_submission, digest, find_submissions, load_submission_notebook,
                     safe_name, scratch_folder, submission_timestamp)
from .results import SubmissionResult, TestResult
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


def grader_key(root: Path, lab: str) -> str:
    """Fingerprint of what grades ``lab`` (the solution's cells, the judges): a change regrades everyone."""
    from ..pipeline import solution_digest

    h = hashlib.sha256(solution_digest(Path(root), lab).encode())
    judges = Path(root) / "autograder" / "judges" / f"{lab}.py"
    h.update(judges.read_bytes() if judges.is_file() else b"no judges")
    return h.hexdigest()[:16]


@dataclass
class _Job:
    root: Path
    sub: Submission
    lab: str
    max_scores: dict[str, float]
    path: Path
    digest: str
    key: str
    timeout: float
    grade_one: GradeOne | None
    caps: Caps


def _first_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _zero(job: _Job, status: str, why: str) -> SubmissionResult:
    return SubmissionResult(job.sub.student, job.lab, [TestResult(g, 0.0, p, why) for g, p in job.max_scores.items()],
                            status=status)


def _engine(root: Path, lab: str, folder: Path, *, student: str, timeout: float) -> SubmissionResult:
    from .engine import grade_submission

    return grade_submission(root, lab, folder, student=student, timeout=timeout)


def _grade(job: _Job) -> tuple[SubmissionResult, Any]:
    """Intake, engine, store: one submission, start to end. Never raises for anything the submission holds."""
    import nbformat

    t0 = time.monotonic()
    notes: list[str] = []
    nb = None
    try:
        with scratch_folder() as tmp:
            folder = tmp / "submission"
            notes += copy_submission(job.sub.path, folder, job.caps)
            loaded = load_submission_notebook(folder, job.lab)
            notes += loaded.notes
            nb = loaded.nb
            if nb is None:
                result = _zero(job, f"error: {loaded.reason}", loaded.reason)
            else:
                if loaded.changed:
                    nbformat.write(nb, folder / f"{job.lab}.ipynb")
                try:
                    result = (job.grade_one or _engine)(job.root, job.lab, folder, student=job.sub.student,
                                                        timeout=job.timeout)
                    if not isinstance(result, SubmissionResult):
                        raise TypeError(f"the grader returned {type(result).__name__}, not a SubmissionResult")
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - one submission's failure is its own
                    result = _zero(job, f"error: {_first_line(exc)}", f"not graded: {_first_line(exc)}")
    except Exception as exc:  # noqa: BLE001 - e.g. the scratch disk is full
        result = _zero(job, f"error: {_first_line(exc)}", f"not graded: {_first_line(exc)}")
    result = _complete(result, job, notes, time.monotonic() - t0)
    write_result(job.path, result, grader_key=job.key)
    return result, nb


def _complete(result: SubmissionResult, job: _Job, notes: list[str], seconds: float) -> SubmissionResult:
    """Who, what, and a verdict (within 0..max) for every grade id of the lab, whatever the engine returned."""
    result.student, result.lab, result.digest = job.sub.student, job.lab, job.digest
    given = {t.grade_id: t for t in result.tests}
    tests = []
    for gid, points in job.max_scores.items():
        t = given.pop(gid, None) or TestResult(gid, 0.0, points, "not graded: the grader gave no verdict")
        score = float(t.score) if isinstance(t.score, (int, float)) and math.isfinite(t.score) else 0.0
        tests.append(TestResult(gid, min(max(score, 0.0), points), points, str(t.message or "")))
    result.tests = tests + list(given.values())
    result.notes = list(dict.fromkeys([*notes, *result.notes]))
    result.seconds = result.seconds or seconds
    return result


def grade_folder(root: Path, folder: Path, *, labs: Sequence[str] | None = None, force: bool = False,
                 workers: int = 1, timeout: float = 900.0, results_dir: Path | None = None,
                 csv_path: Path | None = None, json_path: Path | None = None, db_url: str | None = None,
                 gradebook: bool = True, autograded_dir: Path | None = None, grade_one: GradeOne | None = None,
                 caps: Caps = Caps(), log: Callable[[str], None] = print) -> list[SubmissionResult]:
    """Grade every ``<student>/<lab>/`` under ``folder`` (or ``folder/submitted``); this batch's results.

    Results are stored in ``results_dir`` (default ``autograder/results``) as they come; up-to-date ones are not
    regraded unless ``force``. ``grades.csv`` (``csv_path``, default ``autograder/grades.csv``) and
    ``grades.json`` (default ``<results_dir>/grades.json``) are regenerated from all stored results at the end.
    ``grade_one`` replaces the engine (tests); ``gradebook=False`` skips the gradebook and autograded notebooks.
    """
    from tqdm.auto import tqdm

    from ..pipeline import PipelineError, lab_ids
    from .gradebook import GradebookWriter, write_autograded
    from .report import format_table, regenerate

    root = Path(root).resolve()
    results_dir = Path(results_dir or root / "autograder" / "results").resolve()
    csv_path = Path(csv_path or root / "autograder" / "grades.csv").resolve()
    autograded_dir = Path(autograded_dir or os.environ.get("COURSE_AUTOGRADED") or root / "autograder" / "autograded")
    known = lab_ids(root)
    if labs:
        unknown = [lab for lab in labs if lab not in known]
        if unknown:
            raise PipelineError(f"no such lab: {', '.join(unknown)} (labs: {', '.join(known)})")
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

    def export(result: SubmissionResult, nb: Any, path: Path, sub: Submission) -> None:
        """Gradebook and autograded notebook; the stored result says when both have it."""
        stamp = submission_timestamp(sub.path)
        if writer is None or not writer.write(result, stamp):
            return
        try:
            write_autograded(root, result, nb, autograded_dir, stamp)
        except Exception as exc:  # noqa: BLE001 - the grade is stored; feedback can be made again
            emit(f"grade: {result.student}/{result.lab}: no autograded notebook: {_first_line(exc)}")
            return
        write_result(path, result, exported=True, grader_key=keys.get(result.lab, ""))

    def done(i: int, result: SubmissionResult, what: str) -> None:
        results[i] = result
        bar.update(1)
        eta = ""
        if graded and len(results) < len(subs):
            left = (time.monotonic() - t0) / graded * (len(subs) - len(results))
            eta = f", about {left:.0f} s to go" if left < 120 else f", about {left / 60:.0f} min to go"
        emit(f"grade [{len(results)}/{len(subs)}{eta}] {result.student}/{result.lab}: "
             f"{result.total:g}/{result.max_total:g} ({' '.join(result.status.split())[:160]}){what}")

    jobs: dict[int, _Job] = {}
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
            done(i, stored.result, " — up to date, not regraded")
            continue
        jobs[i] = _Job(root, sub, sub.lab, maxes[sub.lab], path, fingerprint, keys[sub.lab], timeout, grade_one, caps)

    def finish(i: int, result: SubmissionResult, nb: Any) -> None:
        nonlocal graded
        graded += 1
        export(result, nb, jobs[i].path, jobs[i].sub)
        done(i, result, f" in {result.seconds:.0f} s")

    pending = dict(jobs)
    if workers > 1 and len(pending) > 1 and _picklable(grade_one):
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_grade, job): i for i, job in pending.items()}
                for future in as_completed(futures):
                    i = futures[future]
                    result, nb = future.result()
                    del pending[i]
                    finish(i, result, nb)
        except BrokenProcessPool:
            emit(f"grade: a grading worker died; grading the {len(pending)} remaining submission(s) one by one")
    for i, job in sorted(pending.items()):
        finish(i, *_grade(job))
    bar.close()

    ordered = [results[i] for i in range(len(subs))]
    _, problems = regenerate(results_dir, csv_path, json_path, known)
    for problem in problems:
        log(f"grade: left out of the reports: {problem}")
    log(format_table(ordered, known))
    if writer is not None and writer.broken:
        log("grade: the gradebook was not written (see above); grades.csv and grades.json have every grade")
    log(f"grades written to {csv_path} ({len(ordered)} submission(s) in this batch; all stored results in "
        f"{results_dir})")
    return ordered


def _picklable(fn: object) -> bool:
    try:
        pickle.dumps(fn)
        return True
    except Exception:  # noqa: BLE001
        return False
