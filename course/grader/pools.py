"""Where submissions are graded: in this process, in child processes on this machine, or on a Dask cluster.

Every pool takes the same :class:`Task` list and yields a :class:`Done` per task as it finishes, in any order;
the batch (:mod:`course.grader.batch`) is the single writer of results, gradebook and feedback. Each pool takes
a submission in the same way (a capped scratch copy, the notebook read for the autograded copy before any student
code can touch it) and, but for the in-process one, grades it with the same program,
``python -m course.grader.one``, so a grader that crashes or hangs costs one submission only.

* :class:`InProcess` — ``--workers 1``: the engine in this process.
* :class:`Subprocesses` — ``--workers N``: N child processes at a time, each with its share of the cores.
* :class:`DaskPool` — ``--scheduler tcp://host:8786``: one Dask task per submission (see
  :mod:`course.grader.cluster`); a task lost with its worker is run again elsewhere by the scheduler.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from .cluster import connect, run_on_cluster, worker_sandboxes
from .one import GradingProcess, grade_copied
from .sandbox import check_here
from .tasks import Done, Task, engine_spec, failed_result, taken_in

__all__ = ["InProcess", "Subprocesses", "DaskPool", "make_pool", "local_sandbox"]


def _failed(task: Task, exc: BaseException, t0: float) -> Done:
    result = failed_result(task.root, task.lab, task.student, exc)
    result.seconds = time.monotonic() - t0
    return Done(task.index, result)


def local_sandbox() -> list[tuple[str, str, list]]:
    """[("", the one-line summary, the missing protections)] for grading on this machine as this user."""
    summary, gaps = check_here()
    return [("", summary, gaps)]


class InProcess:
    """One submission after the other, in this process (``--workers 1``)."""

    description = "in this process"

    def sandbox(self) -> list[tuple[str, str, list]]:
        return local_sandbox()

    def run(self, tasks: list[Task]) -> Iterator[Done]:
        for task in tasks:
            t0 = time.monotonic()
            try:
                with taken_in(task) as (folder, nb, notes):
                    result = grade_copied(task.root, task.lab, folder, student=task.student, timeout=task.timeout,
                                          grade_one=task.grade_one)
            except Exception as exc:  # noqa: BLE001 - e.g. the scratch disk is full: this submission's row says so
                yield _failed(task, exc, t0)
                continue
            result.seconds = result.seconds or time.monotonic() - t0
            yield Done(task.index, result, nb, notes, where="local")


class Subprocesses:
    """``workers`` submissions at a time, each handed to a grading process (``python -m course.grader.one``).

    Every worker thread keeps one :class:`~course.grader.one.GradingProcess`, which imports torch and the
    engine once; a process that dies or hangs costs its submission, and the next one gets a new process.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self.threads = max(1, (os.cpu_count() or 1) // self.workers)
        self.description = f"{self.workers} local grading processes ({self.threads} torch thread(s) each)"

    def sandbox(self) -> list[tuple[str, str, list]]:
        return local_sandbox()

    def run(self, tasks: list[Task]) -> Iterator[Done]:
        local = threading.local()
        made: list[GradingProcess] = []

        def one(task: Task) -> Done:
            t0 = time.monotonic()
            process = getattr(local, "process", None)
            if process is None:
                process = local.process = GradingProcess(threads=self.threads)
                made.append(process)
            try:
                with taken_in(task) as (folder, nb, notes):
                    result = process.grade(task.root, task.lab, folder, student=task.student, timeout=task.timeout,
                                           engine=engine_spec(task.grade_one))
            except Exception as exc:  # noqa: BLE001
                return _failed(task, exc, t0)
            result.seconds = result.seconds or time.monotonic() - t0
            return Done(task.index, result, nb, notes, where="local")

        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grade") as pool:
                futures = [pool.submit(one, task) for task in tasks]
                for future in as_completed(futures):
                    yield future.result()
        finally:
            for process in made:
                process.close()


class DaskPool:
    """One Dask task per submission on the cluster whose scheduler is at ``address`` (see ``cluster``)."""

    def __init__(self, address: str, *, connect_timeout: float = 30.0) -> None:
        self.address = address
        self.client = connect(address, timeout=connect_timeout)
        self.description = f"Dask scheduler {address}"

    def sandbox(self) -> list[tuple[str, str, list]]:
        """Each worker's sandbox, as its own grading processes would have it."""
        return worker_sandboxes(self.client)

    def run(self, tasks: list[Task]) -> Iterator[Done]:
        try:
            yield from run_on_cluster(self.client, tasks)
        finally:
            with contextlib.suppress(Exception):
                self.client.close()


def make_pool(workers: int = 1, scheduler: str | None = None) -> InProcess | Subprocesses | DaskPool:
    """The pool for ``--workers``/``--scheduler``: Dask when a scheduler is named, else processes here."""
    if scheduler:
        return DaskPool(scheduler)
    return Subprocesses(workers) if workers > 1 else InProcess()
