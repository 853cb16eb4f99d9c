"""Grading on Dask distributed: ``course grade DIR --scheduler tcp://host:8786``.

The instructor's machine (the *client*) takes each submission in, packs its capped scratch copy as a tar, and
sends it as one Dask task, :func:`grade_task`. On a worker, that task unpacks it into a temporary folder and hands
it to the sandboxed one-submission grader in a **child process** (``python -m course.grader.one --serve``, one
per worker thread, kept between tasks), never inside the worker's own process: a kernel, a crash or a leak of one
submission cannot take the worker with it, and the sandbox's cgroups and namespaces belong to that child, which
dies with the worker. The result comes back as plain data, and the client alone writes it (results, gradebook,
feedback).

A worker that dies (killed, OOM, its node lost) loses its running tasks; the scheduler gives them to another
worker (``distributed.scheduler.allowed-failures``, 3 by default). A task that still fails is stored as a
*transient* result: the next ``course grade`` grades it again.

Every worker needs the course checkout (``COURSE_ROOT``, else the client's path) at the same version as the
client: a task whose worker's solution or judges differ refuses to grade (the grader keys must match), and its
submission is graded again on the next run. ``COURSE_DATA`` on the worker, else the client's, is the data root.
"""
from __future__ import annotations

import io
import os
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..checkout import PipelineError
from ..data import data_root
from .engine import prepare_datasets
from .one import GradingProcess
from .results import SubmissionResult
from .sandbox import UNSAFE_ENV, SandboxRefused, check_here, unsafe_requested
from .store import grader_key
from .tasks import Done, engine_spec, failed_result, first_line, taken_in, zero_result

__all__ = ["connect", "pack_folder", "unpack_folder", "threads_by_host", "grade_task", "run_on_cluster",
           "GraderMismatch", "worker_sandbox", "worker_sandboxes"]


class GraderMismatch(RuntimeError):
    """The worker's course checkout would grade a lab differently from the client's."""


def connect(address: str, *, timeout: float = 30.0):
    """A ``distributed.Client`` for the scheduler at ``address``; ``PipelineError`` saying why when it fails."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise PipelineError("grading on Dask needs `distributed` (pip install 'course[instructor]')") from exc
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise PipelineError(f"cannot reach the Dask scheduler at {address} within {timeout:.0f} s ({exc}); "
                            "is `dask scheduler` running there, and is the port open?") from exc


def pack_folder(folder: Path) -> bytes:
    """The regular files and folders under ``folder`` as an uncompressed tar (a scratch copy holds no links)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buf.getvalue()


def unpack_folder(data: bytes, dest: Path) -> Path:
    """Unpack a :func:`pack_folder` tar into ``dest``: regular files and folders only, nothing outside ``dest``."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not target.is_relative_to(dest) or not (member.isfile() or member.isdir()):
                raise ValueError(f"a packed submission holds {member.name!r}, which is not a file inside it")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is None:
                raise ValueError(f"a packed submission's {member.name!r} cannot be read")
            with src, open(target, "wb") as out:
                while chunk := src.read(2 ** 20):
                    out.write(chunk)
    return dest


def _host(address: str) -> str:
    """'tcp://10.0.0.5:40123' -> '10.0.0.5'."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


def threads_by_host(client) -> dict[str, int]:
    """torch threads for each grading process, per host: the host's cores over its worker threads (slots).

    A worker alone cannot know how many other workers share its machine; without this, two single-threaded
    workers on two cores would each give their grader both cores.
    """
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        cores = client.run(os.cpu_count)
    except Exception:  # noqa: BLE001 - the workers fall back to their own guess
        return {}
    slots: dict[str, int] = {}
    cpus: dict[str, int] = {}
    for address, info in workers.items():
        host = info.get("host") or _host(address)
        slots[host] = slots.get(host, 0) + int(info.get("nthreads") or 1)
        cpus[host] = int(cores.get(address) or os.cpu_count() or 1)
    return {host: max(1, cpus[host] // slots[host]) for host in slots}


def _worker_threads(by_host: dict[str, int]) -> int:
    """torch threads for one grader here: ``COURSE_GRADER_THREADS``, else the client's share for this host, else
    this machine's cores over this worker's threads."""
    if os.environ.get("COURSE_GRADER_THREADS"):
        return max(1, int(os.environ["COURSE_GRADER_THREADS"]))
    try:
        from distributed import get_worker

        worker = get_worker()
        state = getattr(worker, "state", worker)
        slots = int(getattr(state, "nthreads", 1) or 1)
        host = _host(worker.address)
    except (ImportError, ValueError, AttributeError):
        slots, host = 1, ""
    return max(1, by_host.get(host) or (os.cpu_count() or 1) // slots)


_PROCESSES: dict[tuple, Any] = {}
_PROCESSES_LOCK = threading.Lock()


def _grading_process(threads: int, env: dict[str, str]):
    """This worker thread's grading process (one per thread and settings, kept between tasks)."""
    key = (threading.get_ident(), threads, tuple(sorted(env.items())))
    with _PROCESSES_LOCK:
        if key not in _PROCESSES:
            _PROCESSES[key] = GradingProcess(threads=threads, env=env)
        return _PROCESSES[key]


def worker_sandbox() -> tuple[str, str, list]:
    """Run on a worker: (its host, its sandbox's one-line summary, the protections missing there)."""
    summary, gaps = check_here()
    return socket.gethostname(), summary, gaps


def worker_sandboxes(client) -> list[tuple[str, str, list]]:
    """[(worker, summary, missing protections)] for every worker of the cluster."""
    answers = client.run(worker_sandbox)
    return [(f"{host} ({address})", summary, gaps) for address, (host, summary, gaps) in sorted(answers.items())]


def grade_task(payload: dict[str, Any]) -> dict[str, Any]:
    """The Dask task: grade one packed submission in a child process; the result as plain data.

    ``payload``: ``root``, ``lab``, ``student``, ``timeout``, ``key`` (the client's grader key of the lab),
    ``files`` (the :func:`pack_folder` tar), and optionally ``engine``, ``data`` (the client's data root),
    ``threads`` (:func:`threads_by_host`). Raises :class:`GraderMismatch` when this worker's checkout would grade
    differently.
    """
    root = Path(os.environ.get("COURSE_ROOT") or payload["root"]).resolve()
    lab = payload["lab"]
    here = socket.gethostname()
    try:
        key = grader_key(root, lab)
    except OSError as exc:
        raise GraderMismatch(f"worker {here}: no course checkout with {lab} at {root} ({exc}); set COURSE_ROOT "
                             "on the workers") from exc
    if key != payload["key"]:
        raise GraderMismatch(f"worker {here}: the checkout at {root} grades {lab} differently (grader key {key}, "
                             f"the client's {payload['key']}): update it to the client's version")
    env = {} if os.environ.get("COURSE_DATA") or not payload.get("data") else {"COURSE_DATA": payload["data"]}
    if payload.get("unsafe"):
        env[UNSAFE_ENV] = "1"
    else:
        _, gaps = check_here()
        if gaps:       # the client checked every worker; this one may have changed since: refuse, regrade later
            raise SandboxRefused(gaps, where=f"worker {here}")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-dask-") as tmp:
        folder = unpack_folder(payload["files"], Path(tmp) / "submission")
        process = _grading_process(_worker_threads(payload.get("threads") or {}), env)
        result = process.grade(root, lab, folder, student=payload["student"], timeout=float(payload["timeout"]),
                               engine=payload.get("engine"))
    return {"result": result.as_dict(), "worker": here, "pid": os.getpid(), "seconds": time.monotonic() - t0}


def _slots(client) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001
        return 1


def run_on_cluster(client, tasks: list) -> Iterator:
    """Send ``tasks`` (``pools.Task``) to the cluster, a window of them at a time; yield a ``pools.Done`` each.

    Only the submissions in flight are held here (packed), so a class of any size fits in the client's memory.
    """
    from distributed import (
        as_completed,  # an optional dependency (the instructor extra)
    )

    data = str(data_root())
    # Decode the data sets once here: workers sharing this cache (a LocalCluster, a shared file system) would
    # otherwise all decode them at once for their first submission.
    for lab in sorted({t.lab for t in tasks}):
        prepare_datasets(lab, Path(data))
    window = 2 * _slots(client) + 2
    threads = threads_by_host(client)
    queue = list(tasks)
    inflight: dict[Any, tuple[Any, Any, list[str], float]] = {}
    done_iter = as_completed([], loop=client.loop, with_results=False)

    def submit_next() -> None:
        task = queue.pop(0)
        t0 = time.monotonic()
        try:
            with taken_in(task) as (folder, nb, notes):
                payload = {"root": str(task.root), "lab": task.lab, "student": task.student,
                           "timeout": task.timeout, "key": task.grader_key, "files": pack_folder(folder),
                           "engine": engine_spec(task.grade_one), "data": data, "threads": threads,
                           "unsafe": unsafe_requested()}
        except Exception as exc:  # noqa: BLE001 - the submission cannot be taken in: its row says why
            finished.append(Done(task.index, failed_result(task.root, task.lab, task.student, exc)))
            return
        future = client.submit(grade_task, payload, pure=False,
                               key=f"grade-{task.lab}-{task.index}-{os.urandom(4).hex()}")
        inflight[future] = (task, nb, notes, t0)
        done_iter.add(future)

    finished: list = []
    while queue or inflight:
        while queue and len(inflight) < window:
            submit_next()
        yield from finished
        finished.clear()
        if not inflight:
            continue
        future = next(done_iter)
        task, nb, notes, t0 = inflight.pop(future)
        try:
            answer = future.result()
            result = SubmissionResult.from_dict(answer["result"])
            done = Done(task.index, result, nb, notes, where=f"{answer['worker']} (pid {answer['pid']})")
        except Exception as exc:  # noqa: BLE001 - lost workers, a mismatched checkout: the grader's, not theirs
            why = f"not graded on the cluster: {first_line(exc)}; it is graded again on the next run"
            result = zero_result(task.root, task.lab, task.student, f"error: {why}", why)
            result.seconds = time.monotonic() - t0
            done = Done(task.index, result, nb, notes, transient=True)
        future.release()
        yield done
