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

import math
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from ..checkout import PipelineError, lab_ids
from .feedback import write_feedback
from .gradebook import GradebookWriter, write_autograded
from .intake import (
    Caps,
    Submission,
    copy_submission,
    digest,
    find_submissions,
    load_submission_notebook,
    scratch_folder,
    submission_timestamp,
)
from .names import safe_name
from .pools import DaskPool, InProcess, make_pool
from .report import format_table, regenerate
from .results import SubmissionResult, TestResult
from .sandbox import UNSAFE_OPTION, SandboxRefused, banner
from .sandbox import unsafe as unsafe_grading
from .store import (
    grader_key,
    needs_grading,
    read_result,
    remove_stale_temporaries,
    result_path,
    write_result,
)
from .tasks import Done, Task, first_line, lab_max_scores, nameable

__all__ = ["GradeOne", "Outputs", "grade_folder"]


class GradeOne(Protocol):
    """The engine's entry point: ``course.grader.engine.grade_submission``."""

    def __call__(self, root: Path, lab: str, folder: Path, *, student: str, timeout: float) -> SubmissionResult: ...


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
    out = Outputs(results_dir, csv_path, json_path, feedback_dir, autograded_dir, db_url, gradebook)
    subs = [s for s in find_submissions(Path(folder)) if not labs or s.lab in labs]
    if not subs:
        raise PipelineError(f"{folder}: no submissions of {', '.join(labs or [])}")
    remove_stale_temporaries(results_dir)
    batch = _Batch(root, known, out, pool, caps, log)
    with unsafe_grading(bool(gaps)):
        tasks = batch.plan(subs, force, timeout, grade_one)
        if tasks and (len(tasks) > 1 or isinstance(pool, DaskPool)):
            batch.emit(f"grade: {len(tasks)} submission(s) to grade, {pool.description}")
        for done in pool.run(tasks):
            batch.finish(done)
    return batch.summarise(gaps)


def _bytes_beside_notebook(source: Path) -> int:
    """Bytes of the regular files handed in with the notebook (saved weights, mostly); 0 when unreadable."""
    total = 0
    try:
        for folder, _dirs, files in os.walk(source):          # symbolic links are neither followed nor counted
            for name in files:
                info = os.lstat(os.path.join(folder, name))
                if stat.S_ISREG(info.st_mode) and not name.endswith(".ipynb"):
                    total += info.st_size
    except OSError:
        return 0
    return total


def _pool(workers: int, scheduler: str | None, grade_one: GradeOne | None, log: Callable[[str], None]):
    if grade_one is not None and (workers > 1 or scheduler) and not nameable(grade_one):
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


@dataclass
class Outputs:
    """Where a batch writes: stored results, the CSV and JSON reports, feedback pages, the gradebook and its
    autograded notebooks (``gradebook=False``: neither of the last two)."""

    results_dir: Path
    csv_path: Path
    json_path: Path | None
    feedback_dir: Path
    autograded_dir: Path
    db_url: str | None
    gradebook: bool


class _Batch:
    """One run of :func:`grade_folder` once the sandbox is known to hold: plan, grade, export, summarise."""

    def __init__(self, root: Path, known: list[str], out: Outputs, pool, caps: Caps, log: Callable[[str], None]):
        self.root, self.known, self.out, self.pool, self.caps = root, known, out, pool, caps
        self.writer = GradebookWriter(root, out.db_url, csv_path=out.csv_path, log=log) if out.gradebook else None
        self.log = self.emit = log
        self.results: dict[int, SubmissionResult] = {}
        self.where: dict[int, tuple[Submission, Path, str]] = {}
        self.counts = {"graded": 0, "up to date": 0, "errors": 0, "lost by the grader": 0}
        self.t0 = time.monotonic()
        self.maxes: dict[str, dict[str, float]] = {}
        self.keys: dict[str, str] = {}
        self.subs: list[Submission] = []
        self.bar = None

    # -- what to grade ---------------------------------------------------------------------------------------
    def plan(self, subs: list[Submission], force: bool, timeout: float, grade_one) -> list[Task]:
        """The tasks to grade; rows for what cannot be graded and for what is up to date, written now."""
        self.subs = subs
        self.maxes = {lab: lab_max_scores(self.root, lab) for lab in sorted({s.lab for s in subs if s.lab in self.known})}
        self.keys = {lab: grader_key(self.root, lab) for lab in self.maxes}
        self.bar = tqdm(total=len(subs), unit="submission", disable=None, dynamic_ncols=True, file=sys.stderr)
        if self.log is print and not self.bar.disable:
            self.emit = self.bar.write
        if self.writer is not None:
            self.writer.log = self.emit
        tasks = []
        for i, sub in enumerate(subs):
            if sub.lab not in self.maxes or sub.problem:
                self._cannot_grade(i, sub)
                continue
            path = result_path(self.out.results_dir, sub.lab, sub.safe_student)
            fingerprint = digest(sub.path, self.caps)
            if not needs_grading(path, fingerprint, force, grader_key=self.keys[sub.lab]):
                self._up_to_date(i, sub, path)
                continue
            self.where[i] = (sub, path, fingerprint)
            tasks.append(Task(i, self.root, sub.lab, sub.student, sub.path, timeout, self.caps, self.keys[sub.lab],
                              grade_one))
        # Longest first: a submission with saved weights beside its notebook has them re-measured on a test set,
        # which takes several times as long as the rest, and one started last keeps a worker busy while the others
        # wait. Ties keep their order; results are filed by index, so the order changes no grade.
        tasks.sort(key=lambda task: -_bytes_beside_notebook(task.source))
        return tasks

    def _cannot_grade(self, i: int, sub: Submission) -> None:
        lab_folder = sub.lab if sub.lab in self.maxes else safe_name(sub.lab_raw)
        result = SubmissionResult(sub.student, sub.lab, status=f"unknown lab {sub.lab!r}")
        if sub.problem:
            result.status = f"error: {sub.problem}"
            result.tests = [TestResult(g, 0.0, p, sub.problem) for g, p in self.maxes.get(sub.lab, {}).items()]
        write_result(result_path(self.out.results_dir, lab_folder, sub.safe_student), result)
        self._done(i, result, "")

    def _up_to_date(self, i: int, sub: Submission, path: Path) -> None:
        stored = read_result(path)
        if not stored.exported and self.writer is not None:      # graded, but not yet in the gradebook
            try:
                with scratch_folder() as tmp:
                    copy_submission(sub.path, tmp / "s", self.caps)
                    self._export(stored.result, load_submission_notebook(tmp / "s", sub.lab).nb, path, sub)
            except OSError as exc:
                self.emit(f"grade: {sub.student}/{sub.lab}: not exported: {first_line(exc)}")
        self.counts["up to date"] += 1
        self._done(i, stored.result, " — up to date, not regraded")

    # -- as results arrive -----------------------------------------------------------------------------------
    def finish(self, d: Done) -> None:
        """Store a result the moment it arrives, then its gradebook row, autograded notebook and feedback page."""
        sub, path, fingerprint = self.where[d.index]
        result = _complete(d.result, sub, self.maxes[sub.lab], fingerprint, d.notes)
        transient = d.transient or result.refused
        write_result(path, result, grader_key=self.keys[sub.lab], transient=transient)
        if transient:
            self.counts["lost by the grader"] += 1
        else:
            self.counts["graded"] += 1
            self._export(result, d.nb, path, sub)
        on = f" on {d.where}" if isinstance(self.pool, DaskPool) and d.where else ""
        self._done(d.index, result, f" in {result.seconds:.0f} s{on}")

    def _export(self, result: SubmissionResult, nb: Any, path: Path, sub: Submission) -> None:
        """Feedback page, gradebook and autograded notebook; the stored result says when the last two have it."""
        try:
            write_feedback(result, self.out.feedback_dir)
        except Exception as exc:  # noqa: BLE001 - the grade is stored; feedback can be made again
            self.emit(f"grade: {result.student}/{result.lab}: no feedback page: {first_line(exc)}")
        stamp = submission_timestamp(sub.path)
        if self.writer is None or not self.writer.write(result, stamp):
            return
        try:
            write_autograded(self.root, result, nb, self.out.autograded_dir, stamp)
        except Exception as exc:  # noqa: BLE001
            self.emit(f"grade: {result.student}/{result.lab}: no autograded notebook: {first_line(exc)}")
            return
        write_result(path, result, exported=True, grader_key=self.keys.get(result.lab, ""))

    def _done(self, i: int, result: SubmissionResult, what: str) -> None:
        self.results[i] = result
        if result.status != "ok":
            self.counts["errors"] += 1
        self.bar.update(1)
        eta, graded, total = "", self.counts["graded"] + self.counts["lost by the grader"], len(self.subs)
        if graded and len(self.results) < total:
            left = (time.monotonic() - self.t0) / graded * (total - len(self.results))
            eta = f", about {left:.0f} s to go" if left < 120 else f", about {left / 60:.0f} min to go"
        self.emit(f"grade [{len(self.results)}/{total}{eta}] {result.student}/{result.lab}: "
                  f"{result.total:g}/{result.max_total:g} ({' '.join(result.status.split())[:160]}){what}")

    # -- the end ---------------------------------------------------------------------------------------------
    def summarise(self, gaps: list) -> list[SubmissionResult]:
        self.bar.close()
        out, log, counts = self.out, self.log, self.counts
        ordered = [self.results[i] for i in range(len(self.subs))]
        _, problems = regenerate(out.results_dir, out.csv_path, out.json_path, self.known)
        for problem in problems:
            log(f"grade: left out of the reports: {problem}")
        log(format_table(ordered, self.known))
        if self.writer is not None and self.writer.broken:
            log("grade: the gradebook was not written (see above); grades.csv and grades.json have every grade")
        took = time.monotonic() - self.t0
        per = f", {took / counts['graded']:.1f} s per graded submission" if counts["graded"] else ""
        lost = (f", {counts['lost by the grader']} lost by the grader (graded again on the next run)"
                if counts["lost by the grader"] else "")
        log(f"grade: {len(ordered)} submission(s): {counts['graded']} graded, {counts['up to date']} up to date, "
            f"{counts['errors']} with errors{lost}; {took:.0f} s in all{per}")
        if gaps:
            log("grade: " + banner(gaps))
        log(f"grades written to {out.csv_path} ({len(ordered)} submission(s) in this batch; all stored results in "
            f"{out.results_dir}); feedback pages in {out.feedback_dir}")
        return ordered
